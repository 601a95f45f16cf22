-- The rows of an entity's history stored by the revisions in a span: an
-- answer as of a past revision is built from the policy held now by undoing
-- the rows stored or removed since (HistoryChanges), so that it costs what
-- changed since, not what the entity holds. idx_history_rows_to finds the
-- rows removed in a span; this finds those stored.
-- +goose Up
CREATE INDEX `idx_history_rows_from` ON `history_rows`(`entity_id`,`valid_from`);
-- idx_history_rows_to keeps only the rows removed (valid_to set): the spans
-- and sweeps read those, and a write then touches it once per row it
-- closes, at its end, instead of once per row it stores and twice per row
-- it closes anywhere among the rows in force. The rows in force are found
-- by idx_history_rows_subject.
DROP INDEX `idx_history_rows_to`;
CREATE INDEX `idx_history_rows_to` ON `history_rows`(`entity_id`,`valid_to`) WHERE `valid_to` IS NOT NULL;

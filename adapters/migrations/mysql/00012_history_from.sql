-- The rows of an entity's history stored by the revisions in a span: an
-- answer as of a past revision is built from the policy held now by undoing
-- the rows stored or removed since (HistoryChanges), so that it costs what
-- changed since, not what the entity holds. idx_history_rows_to finds the
-- rows removed in a span; this finds those stored.
-- +goose Up
CREATE INDEX `idx_history_rows_from` ON `history_rows`(`entity_id`,`valid_from`);

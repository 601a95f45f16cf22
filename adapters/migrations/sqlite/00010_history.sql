-- History (issue 25): every entity's policy over time. history_rows holds
-- each rule (p, g), role name and status (r), user's attributes (a) and
-- hashed subject's name (h) with the revision that stored it (valid_from)
-- and the one that removed it (valid_to, NULL while in force);
-- idx_history_rows_subject finds the rows of given subjects (and those in
-- force: valid_to NULL), idx_history_rows_to the rows in force at a revision
-- and those a sweep removes. history_revisions holds each revision's commit
-- time, actor and audited change. Existing entities get no rows here: the
-- first write after the upgrade rebases the history on what the entity
-- holds (policy.HistoryStore.AppendHistory), so it begins there.
-- +goose Up
CREATE TABLE `history_rows` (`id` integer PRIMARY KEY AUTOINCREMENT,`entity_id` text NOT NULL,`kind` text NOT NULL,`subject` text NOT NULL,`v1` text NOT NULL DEFAULT '',`v2` text NOT NULL DEFAULT '',`v3` text NOT NULL DEFAULT '',`v4` text NOT NULL DEFAULT '',`v5` text NOT NULL DEFAULT '',`data` text NOT NULL DEFAULT '',`valid_from` integer NOT NULL,`valid_to` integer);
CREATE INDEX `idx_history_rows_subject` ON `history_rows`(`entity_id`,`subject`,`valid_to`);
CREATE INDEX `idx_history_rows_to` ON `history_rows`(`entity_id`,`valid_to`);
CREATE TABLE `history_revisions` (`entity_id` text,`revision` integer,`committed_at` datetime NOT NULL,`actor` text NOT NULL DEFAULT '',`audit_event_id` text NOT NULL DEFAULT '',`audit_action` text NOT NULL DEFAULT '',`audit_object_type` text NOT NULL DEFAULT '',`audit_object_id` text NOT NULL DEFAULT '',PRIMARY KEY (`entity_id`,`revision`));
CREATE INDEX `idx_history_revisions_at` ON `history_revisions`(`entity_id`,`committed_at`);

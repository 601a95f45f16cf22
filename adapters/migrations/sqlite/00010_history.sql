-- History (issue 25): every entity's policy over time. history_rows holds
-- each rule (p, g), role name and status (r), user's attributes (a) and
-- hashed subject's name (h) with the revision that stored it (valid_from)
-- and the one that removed it (valid_to, NULL while in force);
-- idx_history_rows_subject finds the rows of given subjects (and those in
-- force: valid_to NULL), idx_history_rows_to the rows in force at a revision
-- and those a sweep removes. history_revisions holds each revision's commit
-- time, actor and audited change. Existing entities' history begins at
-- their revision at the upgrade: their rules, active roles' names and
-- users' attributes are copied here, in force from it (committed at their
-- updated_at). Hashed subjects' names are not (SQL cannot hash them): the
-- store names them from the users and assignments (PolicyAt).
-- On SQLite, history_rows' id is the rowid (no AUTOINCREMENT: no
-- sqlite_sequence row to update on every write; ids only order the rows)
-- and history_revisions is WITHOUT ROWID (its key is the table): fewer
-- pages written by every write.
-- +goose Up
CREATE TABLE `history_rows` (`id` integer PRIMARY KEY,`entity_id` text NOT NULL,`kind` text NOT NULL,`subject` text NOT NULL,`v1` text NOT NULL DEFAULT '',`v2` text NOT NULL DEFAULT '',`v3` text NOT NULL DEFAULT '',`v4` text NOT NULL DEFAULT '',`v5` text NOT NULL DEFAULT '',`data` text NOT NULL DEFAULT '',`valid_from` integer NOT NULL,`valid_to` integer);
CREATE INDEX `idx_history_rows_subject` ON `history_rows`(`entity_id`,`subject`,`valid_to`);
CREATE INDEX `idx_history_rows_to` ON `history_rows`(`entity_id`,`valid_to`);
CREATE TABLE `history_revisions` (`entity_id` text,`revision` integer,`committed_at` datetime NOT NULL,`actor` text NOT NULL DEFAULT '',`audit_event_id` text NOT NULL DEFAULT '',`audit_action` text NOT NULL DEFAULT '',`audit_object_type` text NOT NULL DEFAULT '',`audit_object_id` text NOT NULL DEFAULT '',PRIMARY KEY (`entity_id`,`revision`)) WITHOUT ROWID;
CREATE INDEX `idx_history_revisions_at` ON `history_revisions`(`entity_id`,`committed_at`);
INSERT INTO history_rows (entity_id, kind, subject, v1, v2, v3, v4, v5, data, valid_from)
  SELECT e.id, 'p', COALESCE(c.v0, ''), '', COALESCE(c.v2, ''), COALESCE(c.v3, ''), COALESCE(c.v4, ''), COALESCE(c.v5, ''), '', e.revision
  FROM casbin_rule c JOIN entities e ON c.ptype = 'p' AND c.v1 = e.id ORDER BY c.id;
INSERT INTO history_rows (entity_id, kind, subject, v1, v2, v3, v4, v5, data, valid_from)
  SELECT e.id, 'g', COALESCE(c.v0, ''), COALESCE(c.v1, ''), '', COALESCE(c.v3, ''), '', '', '', e.revision
  FROM casbin_rule c JOIN entities e ON c.ptype = 'g' AND c.v2 = e.id ORDER BY c.id;
INSERT INTO history_rows (entity_id, kind, subject, v1, v2, v3, v4, v5, data, valid_from)
  SELECT r.entity_id, 'r', r.id, '1', '', '', '', '', r.name, e.revision
  FROM roles r JOIN entities e ON r.entity_id = e.id WHERE r.status = 'active';
INSERT INTO history_rows (entity_id, kind, subject, v1, v2, v3, v4, v5, data, valid_from)
  SELECT u.entity_id, 'a', u.id, '', '', '', '', '', u.attributes, e.revision
  FROM users u JOIN entities e ON u.entity_id = e.id WHERE u.attributes <> '{}';
INSERT INTO history_revisions (entity_id, revision, committed_at) SELECT id, revision, updated_at FROM entities;

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
-- store names them from the users and assignments (PolicyAt). The
-- subject index is (64 + 255) characters of 4 bytes and a bigint: within
-- InnoDB's 3072 bytes.
-- +goose Up
CREATE TABLE `history_rows` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `entity_id` varchar(64) NOT NULL,
  `kind` varchar(1) NOT NULL,
  `subject` varchar(255) NOT NULL,
  `v1` varchar(100) NOT NULL DEFAULT '',
  `v2` varchar(100) NOT NULL DEFAULT '',
  `v3` varchar(100) NOT NULL DEFAULT '',
  `v4` varchar(100) NOT NULL DEFAULT '',
  `v5` varchar(100) NOT NULL DEFAULT '',
  `data` text NOT NULL DEFAULT (''),
  `valid_from` bigint NOT NULL,
  `valid_to` bigint NULL,
  PRIMARY KEY (`id`),
  INDEX `idx_history_rows_subject` (`entity_id`,`subject`,`valid_to`),
  INDEX `idx_history_rows_to` (`entity_id`,`valid_to`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `history_revisions` (
  `entity_id` varchar(64) NOT NULL,
  `revision` bigint NOT NULL,
  `committed_at` datetime(3) NOT NULL,
  `actor` varchar(255) NOT NULL DEFAULT '',
  `audit_event_id` varchar(36) NOT NULL DEFAULT '',
  `audit_action` varchar(64) NOT NULL DEFAULT '',
  `audit_object_type` varchar(32) NOT NULL DEFAULT '',
  `audit_object_id` varchar(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`entity_id`,`revision`),
  INDEX `idx_history_revisions_at` (`entity_id`,`committed_at`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
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

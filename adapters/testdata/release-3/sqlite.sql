-- The schema release 3 (schema_migrations versions 1..3) made on a fresh SQLite database,
-- dumped from sqlite_master: frozen testdata, never edit.
CREATE TABLE `assignments` (`entity_id` text,`user_id` text,`role_id` text,`scope` text,`created_at` datetime NOT NULL,PRIMARY KEY (`entity_id`,`user_id`,`role_id`,`scope`));
CREATE TABLE `audit_events` (`id` text,`entity_id` text NOT NULL,`occurred_at` datetime NOT NULL,`actor` text NOT NULL,`action` text NOT NULL,`object_type` text NOT NULL,`object_id` text NOT NULL,`before_json` text,`after_json` text,`request_id` text NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `casbin_rule` (`id` integer PRIMARY KEY AUTOINCREMENT,`ptype` text,`v0` text,`v1` text,`v2` text,`v3` text,`v4` text,`v5` text);
CREATE TABLE `clients` (`id` text,`name` text NOT NULL,`entity_id` text NOT NULL,`scopes` text NOT NULL,`secret_hash` text NOT NULL,`created_at` datetime NOT NULL,`created_by` text NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `entities` (`id` text,`name` text NOT NULL,`revision` integer NOT NULL,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `roles` (`id` text,`entity_id` text NOT NULL,`name` text NOT NULL,`name_key` text,`description` text NOT NULL,`permissions` text NOT NULL,`is_default` numeric NOT NULL,`role_type` text NOT NULL,`scope` text NOT NULL,`status` text NOT NULL,`version` integer NOT NULL,`created_at` datetime NOT NULL,`created_by` text NOT NULL,`updated_at` datetime NOT NULL,`updated_by` text NOT NULL,`deleted_at` datetime,`deleted_by` text NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `schema_migrations` (`version` integer,`applied_at` datetime NOT NULL,PRIMARY KEY (`version`));
CREATE TABLE `settings` (`name` text,`value` text NOT NULL,PRIMARY KEY (`name`));
CREATE TABLE `users` (`entity_id` text,`id` text,`email` text NOT NULL,`name` text NOT NULL,`permissions` text NOT NULL,`created_at` datetime NOT NULL,`created_by` text NOT NULL,`updated_at` datetime NOT NULL,`last_seen_at` datetime,PRIMARY KEY (`entity_id`,`id`));
CREATE INDEX `idx_assignments_role` ON `assignments`(`entity_id`,`role_id`);
CREATE INDEX `idx_audit_events_entity_time` ON `audit_events`(`entity_id`,`occurred_at`,`id`);
CREATE UNIQUE INDEX idx_casbin_rule ON casbin_rule (ptype,v0,v1,v2,v3,v4,v5);
CREATE INDEX idx_casbin_rule_ptype_v0_v1 ON casbin_rule (ptype, v0, v1);
CREATE INDEX idx_casbin_rule_ptype_v1 ON casbin_rule (ptype, v1);
CREATE INDEX idx_casbin_rule_ptype_v2 ON casbin_rule (ptype, v2);
CREATE INDEX `idx_clients_entity` ON `clients`(`entity_id`);
CREATE INDEX `idx_roles_entity_created` ON `roles`(`entity_id`,`created_at`);
CREATE UNIQUE INDEX `idx_roles_entity_name_key` ON `roles`(`entity_id`,`name_key`);
INSERT INTO schema_migrations (version, applied_at) VALUES (1, '2026-11-01 12:00:00.000+00:00');
INSERT INTO schema_migrations (version, applied_at) VALUES (2, '2026-11-01 12:00:00.000+00:00');
INSERT INTO schema_migrations (version, applied_at) VALUES (3, '2026-11-01 12:00:00.000+00:00');

-- Entities, roles, users, assignments, settings, and casbin gorm-adapter's
-- casbin_rule with its unique index; the three casbin_rule indexes serve the
-- load of one entity: (ptype='p' AND v1=E) and (ptype='g' AND v2=E).
-- +goose Up
CREATE TABLE `entities` (`id` text,`name` text NOT NULL,`revision` integer NOT NULL,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE TABLE `roles` (`id` text,`entity_id` text NOT NULL,`name` text NOT NULL,`name_key` text,`description` text NOT NULL,`permissions` text NOT NULL,`is_default` numeric NOT NULL,`role_type` text NOT NULL,`scope` text NOT NULL,`status` text NOT NULL,`version` integer NOT NULL,`created_at` datetime NOT NULL,`created_by` text NOT NULL,`updated_at` datetime NOT NULL,`updated_by` text NOT NULL,`deleted_at` datetime,`deleted_by` text NOT NULL,PRIMARY KEY (`id`));
CREATE INDEX `idx_roles_entity_created` ON `roles`(`entity_id`,`created_at`);
CREATE UNIQUE INDEX `idx_roles_entity_name_key` ON `roles`(`entity_id`,`name_key`);
CREATE TABLE `users` (`entity_id` text,`id` text,`email` text NOT NULL,`name` text NOT NULL,`permissions` text NOT NULL,`created_at` datetime NOT NULL,`created_by` text NOT NULL,`updated_at` datetime NOT NULL,`last_seen_at` datetime,PRIMARY KEY (`entity_id`,`id`));
CREATE TABLE `assignments` (`entity_id` text,`user_id` text,`role_id` text,`scope` text,`created_at` datetime NOT NULL,PRIMARY KEY (`entity_id`,`user_id`,`role_id`,`scope`));
CREATE INDEX `idx_assignments_role` ON `assignments`(`entity_id`,`role_id`);
CREATE TABLE `settings` (`name` text,`value` text NOT NULL,PRIMARY KEY (`name`));
CREATE TABLE `casbin_rule` (`id` integer PRIMARY KEY AUTOINCREMENT,`ptype` text,`v0` text,`v1` text,`v2` text,`v3` text,`v4` text,`v5` text);
CREATE UNIQUE INDEX idx_casbin_rule ON casbin_rule (ptype,v0,v1,v2,v3,v4,v5);
CREATE INDEX idx_casbin_rule_ptype_v1 ON casbin_rule (ptype, v1);
CREATE INDEX idx_casbin_rule_ptype_v2 ON casbin_rule (ptype, v2);
CREATE INDEX idx_casbin_rule_ptype_v0_v1 ON casbin_rule (ptype, v0, v1);

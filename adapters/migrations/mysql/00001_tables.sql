-- Entities, roles, users, assignments, settings, and casbin gorm-adapter's
-- casbin_rule with its unique index; the three casbin_rule indexes serve the
-- load of one entity: (ptype='p' AND v1=E) and (ptype='g' AND v2=E). Tables
-- are case-sensitive (utf8mb4_bin), as ids and names are.
-- +goose Up
CREATE TABLE `entities` (
  `id` varchar(64) NOT NULL,
  `name` varchar(255) NOT NULL,
  `revision` bigint NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `roles` (
  `id` varchar(36) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `name` varchar(255) NOT NULL,
  `name_key` varchar(255) NULL,
  `description` text NOT NULL,
  `permissions` text NOT NULL,
  `is_default` boolean NOT NULL,
  `role_type` varchar(16) NOT NULL,
  `scope` varchar(32) NOT NULL,
  `status` varchar(16) NOT NULL,
  `version` bigint NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `created_by` varchar(255) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  `updated_by` varchar(255) NOT NULL,
  `deleted_at` datetime(3) NULL,
  `deleted_by` varchar(255) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE INDEX `idx_roles_entity_name_key` (`entity_id`,`name_key`),
  INDEX `idx_roles_entity_created` (`entity_id`,`created_at`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `users` (
  `entity_id` varchar(64) NOT NULL,
  `id` varchar(255) NOT NULL,
  `email` varchar(320) NOT NULL,
  `name` varchar(255) NOT NULL,
  `permissions` text NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `created_by` varchar(255) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  `last_seen_at` datetime(3) NULL,
  PRIMARY KEY (`entity_id`,`id`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `assignments` (
  `entity_id` varchar(64) NOT NULL,
  `user_id` varchar(255) NOT NULL,
  `role_id` varchar(36) NOT NULL,
  `scope` varchar(128) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`entity_id`,`user_id`,`role_id`,`scope`),
  INDEX `idx_assignments_role` (`entity_id`,`role_id`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `settings` (
  `name` varchar(191) NOT NULL,
  `value` text NOT NULL,
  PRIMARY KEY (`name`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `casbin_rule` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `ptype` varchar(100) NULL,
  `v0` varchar(100) NULL,
  `v1` varchar(100) NULL,
  `v2` varchar(100) NULL,
  `v3` varchar(100) NULL,
  `v4` varchar(100) NULL,
  `v5` varchar(100) NULL,
  PRIMARY KEY (`id`),
  UNIQUE INDEX `idx_casbin_rule` (`ptype`,`v0`,`v1`,`v2`,`v3`,`v4`,`v5`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX `idx_casbin_rule_ptype_v1` ON `casbin_rule` (`ptype`, `v1`);
CREATE INDEX `idx_casbin_rule_ptype_v2` ON `casbin_rule` (`ptype`, `v2`);
CREATE INDEX `idx_casbin_rule_ptype_v0_v1` ON `casbin_rule` (`ptype`, `v0`, `v1`);

-- The schema release 3 (schema_migrations versions 1..3) made on a fresh MariaDB database,
-- from mysqldump --no-data --compact (SET comments removed): frozen testdata, never edit.
CREATE TABLE `assignments` (
  `entity_id` varchar(64) NOT NULL,
  `user_id` varchar(255) NOT NULL,
  `role_id` varchar(36) NOT NULL,
  `scope` varchar(128) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`entity_id`,`user_id`,`role_id`,`scope`),
  KEY `idx_assignments_role` (`entity_id`,`role_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `audit_events` (
  `id` varchar(36) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `occurred_at` datetime(3) NOT NULL,
  `actor` varchar(255) NOT NULL,
  `action` varchar(32) NOT NULL,
  `object_type` varchar(32) NOT NULL,
  `object_id` varchar(255) NOT NULL,
  `before_json` mediumtext DEFAULT NULL,
  `after_json` mediumtext DEFAULT NULL,
  `request_id` varchar(128) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_audit_events_entity_time` (`entity_id`,`occurred_at`,`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `casbin_rule` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `ptype` varchar(100) DEFAULT NULL,
  `v0` varchar(100) DEFAULT NULL,
  `v1` varchar(100) DEFAULT NULL,
  `v2` varchar(100) DEFAULT NULL,
  `v3` varchar(100) DEFAULT NULL,
  `v4` varchar(100) DEFAULT NULL,
  `v5` varchar(100) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_casbin_rule` (`ptype`,`v0`,`v1`,`v2`,`v3`,`v4`,`v5`),
  KEY `idx_casbin_rule_ptype_v1` (`ptype`,`v1`),
  KEY `idx_casbin_rule_ptype_v2` (`ptype`,`v2`),
  KEY `idx_casbin_rule_ptype_v0_v1` (`ptype`,`v0`,`v1`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `clients` (
  `id` varchar(36) NOT NULL,
  `name` varchar(255) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `scopes` varchar(64) NOT NULL,
  `secret_hash` varchar(100) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `created_by` varchar(255) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_clients_entity` (`entity_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `entities` (
  `id` varchar(64) NOT NULL,
  `name` varchar(255) NOT NULL,
  `revision` bigint(20) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `roles` (
  `id` varchar(36) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `name` varchar(255) NOT NULL,
  `name_key` varchar(255) DEFAULT NULL,
  `description` text NOT NULL,
  `permissions` text NOT NULL,
  `is_default` tinyint(1) NOT NULL,
  `role_type` varchar(16) NOT NULL,
  `scope` varchar(32) NOT NULL,
  `status` varchar(16) NOT NULL,
  `version` bigint(20) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `created_by` varchar(255) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  `updated_by` varchar(255) NOT NULL,
  `deleted_at` datetime(3) DEFAULT NULL,
  `deleted_by` varchar(255) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_roles_entity_name_key` (`entity_id`,`name_key`),
  KEY `idx_roles_entity_created` (`entity_id`,`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `schema_migrations` (
  `version` bigint(20) NOT NULL,
  `applied_at` datetime(3) NOT NULL,
  PRIMARY KEY (`version`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `settings` (
  `name` varchar(191) NOT NULL,
  `value` text NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `users` (
  `entity_id` varchar(64) NOT NULL,
  `id` varchar(255) NOT NULL,
  `email` varchar(320) NOT NULL,
  `name` varchar(255) NOT NULL,
  `permissions` text NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `created_by` varchar(255) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  `last_seen_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`entity_id`,`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO schema_migrations (version, applied_at) VALUES (1, '2026-11-01 12:00:00.000');
INSERT INTO schema_migrations (version, applied_at) VALUES (2, '2026-11-01 12:00:00.000');
INSERT INTO schema_migrations (version, applied_at) VALUES (3, '2026-11-01 12:00:00.000');

-- The policy change log: what the write that took an entity to a revision
-- changed. The primary key serves the reads and the trims. MEDIUMTEXT: TEXT
-- holds 64 KiB, a delta may hold up to 256 KiB.
-- +goose Up
CREATE TABLE `policy_changes` (
  `entity_id` varchar(64) NOT NULL,
  `revision` bigint NOT NULL,
  `kind` varchar(16) NOT NULL,
  `payload` mediumtext NOT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`entity_id`,`revision`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Audit events. Listings read one entity's events ordered by (occurred_at, id)
-- in either direction: the index serves them. MEDIUMTEXT: TEXT holds 64 KiB,
-- a role's document may be larger.
-- +goose Up
CREATE TABLE `audit_events` (
  `id` varchar(36) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `occurred_at` datetime(3) NOT NULL,
  `actor` varchar(255) NOT NULL,
  `action` varchar(32) NOT NULL,
  `object_type` varchar(32) NOT NULL,
  `object_id` varchar(255) NOT NULL,
  `before_json` mediumtext NULL,
  `after_json` mediumtext NULL,
  `request_id` varchar(128) NOT NULL,
  PRIMARY KEY (`id`),
  INDEX `idx_audit_events_entity_time` (`entity_id`,`occurred_at`,`id`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

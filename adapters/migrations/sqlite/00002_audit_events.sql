-- Audit events. Listings read one entity's events ordered by (occurred_at, id)
-- in either direction: the index serves them.
-- +goose Up
CREATE TABLE `audit_events` (`id` text,`entity_id` text NOT NULL,`occurred_at` datetime NOT NULL,`actor` text NOT NULL,`action` text NOT NULL,`object_type` text NOT NULL,`object_id` text NOT NULL,`before_json` text,`after_json` text,`request_id` text NOT NULL,PRIMARY KEY (`id`));
CREATE INDEX `idx_audit_events_entity_time` ON `audit_events`(`entity_id`,`occurred_at`,`id`);

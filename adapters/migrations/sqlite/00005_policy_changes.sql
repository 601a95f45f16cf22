-- The policy change log: what the write that took an entity to a revision
-- changed. The primary key serves the reads and the trims.
-- +goose Up
CREATE TABLE `policy_changes` (`entity_id` text,`revision` integer,`kind` text NOT NULL,`payload` text NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`entity_id`,`revision`));

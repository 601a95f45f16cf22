-- Conditional rights (issue 24): a user's attributes, which conditions read
-- as user (a JSON object, '{}' for none), and the sources of the conditions
-- an entity's rules name by hash (the rule's fifth value: any:<hash>,
-- own:<hash>), kept per entity and removed with it. A TEXT column's default
-- is an expression: MySQL 8.0.13 and MariaDB 10.2 take it in parentheses.
-- MySQL has no partial index (SQLite's and PostgreSQL's find the users with
-- attributes): a load filters the entity's users in the server.
-- +goose Up
ALTER TABLE `users` ADD `attributes` text NOT NULL DEFAULT ('{}');
CREATE TABLE `conditions` (
  `entity_id` varchar(64) NOT NULL,
  `hash` char(64) NOT NULL,
  `source` text NOT NULL,
  PRIMARY KEY (`entity_id`,`hash`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

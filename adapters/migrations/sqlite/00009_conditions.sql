-- Conditional rights (issue 24): a user's attributes, which conditions read
-- as user (a JSON object, '{}' for none), and the sources of the conditions
-- an entity's rules name by hash (the rule's fifth value: any:<hash>,
-- own:<hash>), kept per entity and removed with it.
-- +goose Up
ALTER TABLE `users` ADD `attributes` text NOT NULL DEFAULT '{}';
CREATE TABLE `conditions` (`entity_id` text,`hash` text,`source` text NOT NULL,PRIMARY KEY (`entity_id`,`hash`));

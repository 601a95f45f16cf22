-- Conditional rights (issue 24): a user's attributes, which conditions read
-- as user (a JSON object, '{}' for none), and the sources of the conditions
-- an entity's rules name by hash (the rule's fifth value: any:<hash>,
-- own:<hash>), kept per entity and removed with it. The partial index finds
-- the users with attributes (a load reads those only) without a scan of all.
-- +goose Up
ALTER TABLE `users` ADD `attributes` text NOT NULL DEFAULT '{}';
CREATE INDEX `idx_users_attributes` ON `users`(`entity_id`) WHERE `attributes` <> '{}';
CREATE TABLE `conditions` (`entity_id` text,`hash` text,`source` text NOT NULL,PRIMARY KEY (`entity_id`,`hash`));

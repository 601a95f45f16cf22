-- API clients; the secret is kept as a bcrypt hash only.
-- +goose Up
CREATE TABLE `clients` (`id` text,`name` text NOT NULL,`entity_id` text NOT NULL,`scopes` text NOT NULL,`secret_hash` text NOT NULL,`created_at` datetime NOT NULL,`created_by` text NOT NULL,PRIMARY KEY (`id`));
CREATE INDEX `idx_clients_entity` ON `clients`(`entity_id`);

-- API clients; the secret is kept as a bcrypt hash only.
-- +goose Up
CREATE TABLE `clients` (
  `id` varchar(36) NOT NULL,
  `name` varchar(255) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `scopes` varchar(64) NOT NULL,
  `secret_hash` varchar(100) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `created_by` varchar(255) NOT NULL,
  PRIMARY KEY (`id`),
  INDEX `idx_clients_entity` (`entity_id`)
) CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

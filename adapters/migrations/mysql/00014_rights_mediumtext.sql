-- A role's or user's rights are kept as JSON: up to 1,000 rights, each an
-- object type of up to 100 bytes with a condition of up to 4,096, which a
-- text column (65,535 bytes) cannot hold; MySQL refused such a role or user
-- (Error 1406). mediumtext holds 16 MiB, as the audit events' columns do.
-- +goose Up
ALTER TABLE `roles` MODIFY `permissions` mediumtext NOT NULL;
ALTER TABLE `users` MODIFY `permissions` mediumtext NOT NULL;

-- When an expiring assignment stops counting; the sweep reads them in order.
-- +goose Up
ALTER TABLE `assignments` ADD `expires_at` datetime(3) NULL;
CREATE INDEX `idx_assignments_expires` ON `assignments` (`expires_at`);

-- When an expiring assignment stops counting; the sweep reads them in order.
-- +goose Up
ALTER TABLE assignments ADD COLUMN expires_at timestamptz(3);
CREATE INDEX idx_assignments_expires ON assignments (expires_at);

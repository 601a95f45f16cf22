-- Audit events. Listings read one entity's events ordered by (occurred_at, id)
-- in either direction: the index serves them.
-- +goose Up
CREATE TABLE audit_events (
	id varchar(36) NOT NULL,
	entity_id varchar(64) NOT NULL,
	occurred_at timestamptz(3) NOT NULL,
	actor varchar(255) NOT NULL,
	action varchar(32) NOT NULL,
	object_type varchar(32) NOT NULL,
	object_id varchar(255) NOT NULL,
	before_json text,
	after_json text,
	request_id varchar(128) NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX idx_audit_events_entity_time ON audit_events (entity_id, occurred_at, id);

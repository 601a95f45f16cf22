-- The policy change log: what the write that took an entity to a revision
-- changed. The primary key serves the reads and the trims.
-- +goose Up
CREATE TABLE policy_changes (
	entity_id varchar(64) NOT NULL,
	revision bigint NOT NULL,
	kind varchar(16) NOT NULL,
	payload text NOT NULL,
	created_at timestamptz(3) NOT NULL,
	PRIMARY KEY (entity_id, revision)
);

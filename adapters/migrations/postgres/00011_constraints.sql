-- Separation of duties (issue 26): an entity's constraints, each naming
-- rights (a JSON array of {object_type, action}) of which no user may hold
-- more than one, its mode (enforce or report) and its exceptions (a JSON
-- array of {user_id, reason, expires_at}). A name is unique within its
-- entity; the unique index also finds an entity's constraints, in order of
-- name, which every write to an entity reads. They go with the entity.
-- +goose Up
CREATE TABLE constraints (
	id varchar(36) NOT NULL,
	entity_id varchar(64) NOT NULL,
	name varchar(255) NOT NULL,
	description text NOT NULL,
	rights text NOT NULL,
	mode varchar(16) NOT NULL,
	exceptions text NOT NULL,
	created_at timestamptz(3) NOT NULL,
	created_by varchar(255) NOT NULL,
	updated_at timestamptz(3) NOT NULL,
	updated_by varchar(255) NOT NULL,
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX idx_constraints_entity_name ON constraints (entity_id, name);

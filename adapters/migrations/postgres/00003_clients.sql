-- API clients; the secret is kept as a bcrypt hash only.
-- +goose Up
CREATE TABLE clients (
	id varchar(36) NOT NULL,
	name varchar(255) NOT NULL,
	entity_id varchar(64) NOT NULL,
	scopes varchar(64) NOT NULL,
	secret_hash varchar(100) NOT NULL,
	created_at timestamptz(3) NOT NULL,
	created_by varchar(255) NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX idx_clients_entity ON clients (entity_id);

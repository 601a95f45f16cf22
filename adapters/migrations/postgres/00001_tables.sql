-- Entities, roles, users, assignments, settings, and casbin gorm-adapter's
-- casbin_rule with its unique index; the three casbin_rule indexes serve the
-- load of one entity: (ptype='p' AND v1=E) and (ptype='g' AND v2=E).
-- +goose Up
CREATE TABLE entities (
	id varchar(64) NOT NULL,
	name varchar(255) NOT NULL,
	revision bigint NOT NULL,
	created_at timestamptz(3) NOT NULL,
	updated_at timestamptz(3) NOT NULL,
	PRIMARY KEY (id)
);
CREATE TABLE roles (
	id varchar(36) NOT NULL,
	entity_id varchar(64) NOT NULL,
	name varchar(255) NOT NULL,
	name_key varchar(255),
	description text NOT NULL,
	permissions text NOT NULL,
	is_default boolean NOT NULL,
	role_type varchar(16) NOT NULL,
	scope varchar(32) NOT NULL,
	status varchar(16) NOT NULL,
	version bigint NOT NULL,
	created_at timestamptz(3) NOT NULL,
	created_by varchar(255) NOT NULL,
	updated_at timestamptz(3) NOT NULL,
	updated_by varchar(255) NOT NULL,
	deleted_at timestamptz(3),
	deleted_by varchar(255) NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX idx_roles_entity_created ON roles (entity_id, created_at);
CREATE UNIQUE INDEX idx_roles_entity_name_key ON roles (entity_id, name_key);
CREATE TABLE users (
	entity_id varchar(64) NOT NULL,
	id varchar(255) NOT NULL,
	email varchar(320) NOT NULL,
	name varchar(255) NOT NULL,
	permissions text NOT NULL,
	created_at timestamptz(3) NOT NULL,
	created_by varchar(255) NOT NULL,
	updated_at timestamptz(3) NOT NULL,
	last_seen_at timestamptz(3),
	PRIMARY KEY (entity_id, id)
);
CREATE TABLE assignments (
	entity_id varchar(64) NOT NULL,
	user_id varchar(255) NOT NULL,
	role_id varchar(36) NOT NULL,
	scope varchar(128) NOT NULL,
	created_at timestamptz(3) NOT NULL,
	PRIMARY KEY (entity_id, user_id, role_id, scope)
);
CREATE INDEX idx_assignments_role ON assignments (entity_id, role_id);
CREATE TABLE settings (
	name varchar(191) NOT NULL,
	value text NOT NULL,
	PRIMARY KEY (name)
);
CREATE TABLE casbin_rule (
	id bigserial NOT NULL,
	ptype varchar(100),
	v0 varchar(100),
	v1 varchar(100),
	v2 varchar(100),
	v3 varchar(100),
	v4 varchar(100),
	v5 varchar(100),
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX idx_casbin_rule ON casbin_rule (ptype, v0, v1, v2, v3, v4, v5);
CREATE INDEX idx_casbin_rule_ptype_v1 ON casbin_rule (ptype, v1);
CREATE INDEX idx_casbin_rule_ptype_v2 ON casbin_rule (ptype, v2);
CREATE INDEX idx_casbin_rule_ptype_v0_v1 ON casbin_rule (ptype, v0, v1);

-- The schema release 8 (the previous one; schema_migrations versions 1..8) made on a fresh
-- PostgreSQL schema, from pg_dump --schema-only (schema name, SET lines removed): frozen testdata, never edit.
CREATE TABLE assignments (
    entity_id character varying(64) NOT NULL,
    user_id character varying(255) NOT NULL,
    role_id character varying(36) NOT NULL,
    scope character varying(128) NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    expires_at timestamp(3) with time zone
);
CREATE TABLE audit_events (
    id character varying(36) NOT NULL,
    entity_id character varying(64) NOT NULL,
    occurred_at timestamp(3) with time zone NOT NULL,
    actor character varying(255) NOT NULL,
    action character varying(32) NOT NULL,
    object_type character varying(32) NOT NULL,
    object_id character varying(255) NOT NULL,
    before_json text,
    after_json text,
    request_id character varying(128) NOT NULL
);
CREATE TABLE casbin_rule (
    id bigint NOT NULL,
    ptype character varying(100),
    v0 character varying(100),
    v1 character varying(100),
    v2 character varying(100),
    v3 character varying(100),
    v4 character varying(100),
    v5 character varying(100)
);
CREATE SEQUENCE casbin_rule_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE casbin_rule_id_seq OWNED BY casbin_rule.id;
CREATE TABLE clients (
    id character varying(36) NOT NULL,
    name character varying(255) NOT NULL,
    entity_id character varying(64) NOT NULL,
    scopes character varying(64) NOT NULL,
    secret_hash character varying(100) NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    created_by character varying(255) NOT NULL,
    entity_incarnation character varying(36) DEFAULT ''::character varying NOT NULL
);
CREATE TABLE entities (
    id character varying(64) NOT NULL,
    name character varying(255) NOT NULL,
    revision bigint NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    incarnation character varying(36) DEFAULT ''::character varying NOT NULL,
    role_count bigint DEFAULT 0 NOT NULL,
    user_count bigint DEFAULT 0 NOT NULL,
    rule_count bigint DEFAULT 0 NOT NULL
);
CREATE TABLE policy_changes (
    entity_id character varying(64) NOT NULL,
    revision bigint NOT NULL,
    kind character varying(16) NOT NULL,
    payload text NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    items text
);
CREATE TABLE roles (
    id character varying(36) NOT NULL,
    entity_id character varying(64) NOT NULL,
    name character varying(255) NOT NULL,
    name_key character varying(255),
    description text NOT NULL,
    permissions text NOT NULL,
    is_default boolean NOT NULL,
    role_type character varying(16) NOT NULL,
    scope character varying(32) NOT NULL,
    status character varying(16) NOT NULL,
    version bigint NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    created_by character varying(255) NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    updated_by character varying(255) NOT NULL,
    deleted_at timestamp(3) with time zone,
    deleted_by character varying(255) NOT NULL
);
CREATE TABLE schema_migrations (
    version bigint NOT NULL,
    applied_at timestamp(3) with time zone NOT NULL
);
CREATE TABLE settings (
    name character varying(191) NOT NULL,
    value text NOT NULL
);
CREATE TABLE users (
    entity_id character varying(64) NOT NULL,
    id character varying(255) NOT NULL,
    email character varying(320) NOT NULL,
    name character varying(255) NOT NULL,
    permissions text NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    created_by character varying(255) NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    last_seen_at timestamp(3) with time zone
);
ALTER TABLE ONLY casbin_rule ALTER COLUMN id SET DEFAULT nextval('casbin_rule_id_seq'::regclass);
ALTER TABLE ONLY assignments
    ADD CONSTRAINT assignments_pkey PRIMARY KEY (entity_id, user_id, role_id, scope);
ALTER TABLE ONLY audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id);
ALTER TABLE ONLY casbin_rule
    ADD CONSTRAINT casbin_rule_pkey PRIMARY KEY (id);
ALTER TABLE ONLY clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (id);
ALTER TABLE ONLY entities
    ADD CONSTRAINT entities_pkey PRIMARY KEY (id);
ALTER TABLE ONLY policy_changes
    ADD CONSTRAINT policy_changes_pkey PRIMARY KEY (entity_id, revision);
ALTER TABLE ONLY roles
    ADD CONSTRAINT roles_pkey PRIMARY KEY (id);
ALTER TABLE ONLY schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (name);
ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (entity_id, id);
CREATE INDEX idx_assignments_expires ON assignments USING btree (expires_at);
CREATE INDEX idx_assignments_role ON assignments USING btree (entity_id, role_id);
CREATE INDEX idx_audit_events_entity_time ON audit_events USING btree (entity_id, occurred_at, id);
CREATE UNIQUE INDEX idx_casbin_rule ON casbin_rule USING btree (ptype, v0, v1, v2, v3, v4, v5);
CREATE INDEX idx_casbin_rule_ptype_v0_v1 ON casbin_rule USING btree (ptype, v0, v1);
CREATE INDEX idx_casbin_rule_ptype_v1 ON casbin_rule USING btree (ptype, v1);
CREATE INDEX idx_casbin_rule_ptype_v2 ON casbin_rule USING btree (ptype, v2);
CREATE INDEX idx_clients_entity ON clients USING btree (entity_id);
CREATE INDEX idx_roles_entity_created ON roles USING btree (entity_id, created_at);
CREATE UNIQUE INDEX idx_roles_entity_name_key ON roles USING btree (entity_id, name_key);
INSERT INTO schema_migrations (version, applied_at) VALUES (1, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (2, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (3, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (4, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (5, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (6, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (7, '2026-11-01 12:00:00.000+00');
INSERT INTO schema_migrations (version, applied_at) VALUES (8, '2026-11-01 12:00:00.000+00');

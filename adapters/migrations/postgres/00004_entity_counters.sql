-- What each entity holds, on its row, for the quotas (adapters/quota.go), and
-- filled from what the entities hold (recountSQL, with roles that are active).
-- +goose Up
ALTER TABLE entities ADD COLUMN role_count bigint NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN user_count bigint NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN rule_count bigint NOT NULL DEFAULT 0;
UPDATE entities SET
	role_count = (SELECT COUNT(*) FROM roles WHERE roles.entity_id = entities.id AND roles.status = 'active'),
	user_count = (SELECT COUNT(*) FROM users WHERE users.entity_id = entities.id),
	rule_count = (SELECT COUNT(*) FROM casbin_rule WHERE ptype = 'p' AND v1 = entities.id)
	           + (SELECT COUNT(*) FROM casbin_rule WHERE ptype = 'g' AND v2 = entities.id);

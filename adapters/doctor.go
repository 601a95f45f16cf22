package adapters

import (
	gormadapter "github.com/casbin/gorm-adapter/v3"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// The queries of the consistency check (policy.Doctor): one entity's rules
// inside a transaction, and the rules left behind by entities that do not exist.

// EntityRules returns every rule of an entity, p (v1 = entity) and g
// (v2 = entity), sorted.
func (t *tx) EntityRules(entityID string) ([]rolegate.Rule, error) {
	// As in LoadPolicy: SQLite's planner must be told which index finds one
	// entity's rules.
	pTable, gTable := "casbin_rule", "casbin_rule"
	if t.db.Dialector.Name() == "sqlite" {
		pTable += " INDEXED BY idx_casbin_rule_ptype_v1"
		gTable += " INDEXED BY idx_casbin_rule_ptype_v2"
	}
	var ps, gs []gormadapter.CasbinRule
	if err := t.db.Table(pTable).Where("ptype = ? AND v1 = ?", "p", entityID).Find(&ps).Error; err != nil {
		return nil, translate(err)
	}
	if err := t.db.Table(gTable).Where("ptype = ? AND v2 = ?", "g", entityID).Find(&gs).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]rolegate.Rule, 0, len(ps)+len(gs))
	for _, r := range append(ps, gs...) {
		out = append(out, ruleOf(r))
	}
	engine.SortRules(out)
	return out, nil
}

// StrayRuleEntities returns, in order, up to limit entity ids after afterID
// that rules name (p: v1, g: v2) but no entity row has.
func (t *tx) StrayRuleEntities(afterID string, limit int) ([]string, error) {
	const q = `SELECT id FROM (
	SELECT DISTINCT v1 AS id FROM casbin_rule WHERE ptype = 'p' AND v1 > ?
		AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = casbin_rule.v1)
	UNION
	SELECT DISTINCT v2 AS id FROM casbin_rule WHERE ptype = 'g' AND v2 > ?
		AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = casbin_rule.v2)
) stray ORDER BY id LIMIT ?`
	var ids []string
	if err := t.db.Raw(q, afterID, afterID, limit).Scan(&ids).Error; err != nil {
		return nil, translate(err)
	}
	return ids, nil
}

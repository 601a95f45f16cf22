package adapters

import (
	"sort"

	gormadapter "github.com/casbin/gorm-adapter/v3"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// The queries of the consistency check (policy.Doctor): one entity's rules
// inside a transaction, and the rules left behind by entities that do not
// exist; and the entity's condition sources the rules name.

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

// PutConditions inserts the sources of the entity's conditions not stored
// yet: one read of those stored among the given hashes, then one insert.
func (t *tx) PutConditions(entityID string, conds map[string]string) error {
	if len(conds) == 0 {
		return nil
	}
	hashes := make([]string, 0, len(conds))
	for h := range conds {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	var have []string
	if err := t.db.Model(&conditionRow{}).Where("entity_id = ? AND hash IN ?", entityID, hashes).Pluck("hash", &have).Error; err != nil {
		return translate(err)
	}
	stored := make(map[string]bool, len(have))
	for _, h := range have {
		stored[h] = true
	}
	var rows []conditionRow
	for _, h := range hashes {
		if !stored[h] {
			rows = append(rows, conditionRow{EntityID: entityID, Hash: h, Source: conds[h]})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return translate(t.db.CreateInBatches(rows, chunkRows(t.db, 3)).Error)
}

// EntityConditions returns the entity's condition sources by hash; nil when
// none.
func (t *tx) EntityConditions(entityID string) (map[string]string, error) {
	var rows []conditionRow
	if err := t.db.Where("entity_id = ?", entityID).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Hash] = r.Source
	}
	return out, nil
}

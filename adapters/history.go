package adapters

import (
	"fmt"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// The history of entities' policies (policy.HistoryStore): not kept yet by
// the SQL stores.

var errNoHistory = fmt.Errorf("history not kept: %w", rolegate.ErrNotFound)

func (t *tx) AppendHistory(rev rolegate.Revision, change *rolegate.HistoryChange, d engine.Delta) error {
	return nil
}

func (t *tx) HistoryRevisionAt(entityID string, at time.Time) (rolegate.Revision, error) {
	return rolegate.Revision{}, errNoHistory
}

func (t *tx) HistoryRevisions(entityID string, revs []int64) (map[int64]policy.HistoryEntry, error) {
	return map[int64]policy.HistoryEntry{}, nil
}

func (t *tx) HistoryStart(entityID string) (rolegate.Revision, error) {
	return rolegate.Revision{}, errNoHistory
}

func (t *tx) PolicyAt(entityID string, rev int64) (engine.Policy, error) {
	return engine.Policy{}, errNoHistory
}

func (t *tx) RuleHistory(entityID string, subjects []string, from, to int64) ([]policy.HistoryRule, error) {
	return nil, nil
}

func (t *tx) RoleHistory(entityID string, roleIDs []string, from, to int64) ([]policy.HistoryRole, error) {
	return nil, nil
}

func (t *tx) SweepHistory(before time.Time, limit int) (map[string]int, error) {
	return map[string]int{}, nil
}

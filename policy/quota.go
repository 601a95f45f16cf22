package policy

import (
	"fmt"

	"github.com/rolegate/rolegate"
)

// Quotas bound what one entity may hold, so that one tenant (or a stolen
// token of one) cannot fill the database or grow a policy too large to load:
// a write that would take an entity past a quota fails with 422
// quota_exceeded and writes nothing. A write that does not grow what is over
// a quota (a delete, a rename, an entity already past a lowered quota) is
// never refused. Zero fields take the defaults.
type Quotas struct {
	// MaxRoles bounds the active roles of an entity (system roles included;
	// deleted roles do not count). 0 means DefaultMaxRoles.
	MaxRoles int64
	// MaxUsers bounds the users of an entity. 0 means DefaultMaxUsers.
	MaxUsers int64
	// MaxRules bounds the compiled Casbin rules of an entity: one per right
	// of a role or a user, one per assignment. The entity's policy is held in
	// memory from these, so this bounds what loading one entity costs.
	// 0 means DefaultMaxRules.
	MaxRules int64
}

// The default quotas. 10,000 roles is far more than any role model of the
// reference APIs needs (their roles are edited by hand in admin screens).
// 1,000,000 users covers the largest tenants we expect. 2,000,000 rules lets
// each of those users hold its default role and one more assignment or right;
// at about 0.5 KiB of memory per rule held, that bounds one loaded entity to
// about 1 GiB (DESIGN.md's figure of ~53 KiB per 120 rules).
const (
	DefaultMaxRoles int64 = 10_000
	DefaultMaxUsers int64 = 1_000_000
	DefaultMaxRules int64 = 2_000_000
)

// EntityCounts is what an entity holds, as the quotas count it.
type EntityCounts struct {
	Roles int64 // active roles
	Users int64
	Rules int64 // casbin_rule rows of the entity (p and g)
}

// withDefaults fills zero quotas with the defaults.
func (q Quotas) withDefaults() Quotas {
	if q.MaxRoles <= 0 {
		q.MaxRoles = DefaultMaxRoles
	}
	if q.MaxUsers <= 0 {
		q.MaxUsers = DefaultMaxUsers
	}
	if q.MaxRules <= 0 {
		q.MaxRules = DefaultMaxRules
	}
	return q
}

// guard runs fn, one write's changes inside its transaction, and fails with
// quota_exceeded when fn took the entity past a quota by growing it. The
// transaction then rolls back, so nothing is written. The counts come from the
// entity's row (kept by the store in the same transaction as the rows they
// count), so a guard costs two reads of one row, whatever the entity's size.
func (q Quotas) guard(tx Tx, entityID string, fn func() error) error {
	before, err := tx.EntityCounts(entityID)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	after, err := tx.EntityCounts(entityID)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what          string
		before, after int64
		max           int64
	}{
		{"roles", before.Roles, after.Roles, q.MaxRoles},
		{"users", before.Users, after.Users, q.MaxUsers},
		{"rules", before.Rules, after.Rules, q.MaxRules},
	} {
		if c.after > c.before && c.after > c.max {
			return quotaExceeded(entityID, c.what, c.max)
		}
	}
	return nil
}

// quotaExceeded is the 422 of a write refused by a quota.
func quotaExceeded(entityID, what string, max int64) error {
	if len(entityID) > 80 {
		entityID = entityID[:80] + "..."
	}
	msg := fmt.Sprintf("entity %q may hold at most %d %s; this change would exceed it (remove some first)", entityID, max, what)
	if what == "rules" {
		msg = fmt.Sprintf("entity %q may hold at most %d rules (rights of roles and users, and assignments); this change would exceed it", entityID, max)
	}
	return &rolegate.Error{Kind: rolegate.KindInvalid, Code: "quota_exceeded", Message: msg,
		Details: []rolegate.Detail{{Message: msg, Value: fmt.Sprint(max)}}}
}

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// Rule field values.
const (
	CondAny  = "any"
	CondOwn  = "own"
	EftAllow = "allow"
	EftDeny  = "deny"

	// maxSubjectLen is the width of casbin_rule's columns.
	maxSubjectLen = 100
)

// RoleSubject is the Casbin subject of a role.
func RoleSubject(roleID string) string { return "r:" + roleID }

// UserSubject is the Casbin subject of a user. Ids too long for a casbin_rule
// column are replaced by their SHA-256, so every subject fits.
func UserSubject(userID string) string {
	return fitSubject("u:", userID)
}

// ScopedSubject is the Casbin subject of a user inside a sub-scope:
// s:<scope>|<user>. A valid scope never holds "|" (ValidScope), so the first
// "|" ends the scope and the subject (or, for a long one, its hash) names one
// (scope, user) pair only, whatever the user id holds. A scope holding "|"
// (every entry point refuses one, 422 invalid_scope) has no subject: "" stands
// for none, so that it can never name another user's assignments
// (s:team:42|auth0 + |123 is user auth0|123's subject in team:42).
func ScopedSubject(scope, userID string) string {
	if strings.IndexByte(scope, '|') >= 0 {
		return ""
	}
	return fitSubject("s:", scope+"|"+userID)
}

func fitSubject(prefix, id string) string {
	if len(prefix)+len(id) <= maxSubjectLen {
		return prefix + id
	}
	sum := sha256.Sum256([]byte(id))
	return prefix[:1] + "#" + hex.EncodeToString(sum[:])
}

// Hashed reports whether a subject is the hash of a user id (u#...), or of a
// scope and user id (s#...), too long to store as they are.
func Hashed(subject string) bool {
	return len(subject) > 2 && subject[1] == '#' && (subject[0] == 'u' || subject[0] == 's')
}

// HashedMinLen is the fewest bytes a user id, or a scope and user id
// together, hold when their subject is hashed: loaders need read no shorter
// ones to name the hashed subjects.
const HashedMinLen = maxSubjectLen - 2

// HashedName is whom a hashed subject stands for: the hash cannot be read
// back, so loaders and deltas say it (Policy.Hashed, Delta.Hashed).
type HashedName struct {
	UserID string `json:"user_id"`
	Scope  string `json:"scope,omitempty"` // "" for an entity-wide subject
}

// HashedSubject returns the subject of a user (inside scope unless "") and
// whether it is hashed, so needs a HashedName.
func HashedSubject(userID, scope string) (string, bool) {
	sub := UserSubject(userID)
	if scope != "" {
		sub = ScopedSubject(scope, userID)
	}
	return sub, Hashed(sub)
}

// roleIDOf returns the role id of a role subject, or "" for another subject.
func roleIDOf(subject string) string {
	id, ok := strings.CutPrefix(subject, "r:")
	if !ok {
		return ""
	}
	return id
}

// CompileRights turns rights held by one subject in an entity into p rules,
// sorted. not_allowed compiles to nothing. A right with a condition names it
// in its cond field by hash: any:<hash> or own:<hash> (condition.Hash); the
// source is stored beside the rules (Conditions).
func CompileRights(subject, entityID string, p rolegate.Permissions) []rolegate.Rule {
	var rules []rolegate.Rule
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			var cond, eft string
			switch a.Permission {
			case rolegate.Allowed:
				cond, eft = CondAny, EftAllow
			case rolegate.AllowedForOwn:
				cond, eft = CondOwn, EftAllow
			case rolegate.Denied:
				cond, eft = CondAny, EftDeny
			default:
				continue
			}
			if a.Condition != "" {
				cond += ":" + condition.Hash(a.Condition)
			}
			rules = append(rules, rolegate.Rule{PType: "p", Values: []string{subject, entityID, o.ObjectType, a.ActionName, cond, eft}})
		}
	}
	SortRules(rules)
	return rules
}

// Conditions returns the conditions the rights name, by hash (the sources
// CompileRights' rules refer to): what a write stores with the rules and
// records in its Delta. nil when none.
func Conditions(p rolegate.Permissions) map[string]string {
	var out map[string]string
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Condition == "" || a.Permission == rolegate.NotAllowed {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[condition.Hash(a.Condition)] = a.Condition
		}
	}
	return out
}

// splitCond reads a rule's cond field: whether the rule holds on own objects
// only, and the hash of its condition ("" for none). A value that is none of
// any, own, any:<hash>, own:<hash> is returned whole as a hash no snapshot
// knows, so it never allows and always denies.
func splitCond(v string) (own bool, hash string) {
	switch v {
	case CondAny:
		return false, ""
	case CondOwn:
		return true, ""
	}
	if h, ok := strings.CutPrefix(v, CondAny+":"); ok && h != "" {
		return false, h
	}
	if h, ok := strings.CutPrefix(v, CondOwn+":"); ok && h != "" {
		return true, h
	}
	return false, v
}

// Compile returns the p rules of a role: none for a deleted role.
func Compile(r rolegate.Role) []rolegate.Rule {
	if r.Status == rolegate.StatusDeleted {
		return nil
	}
	return CompileRights(RoleSubject(r.ID), r.EntityID, r.Permissions)
}

// CompileUser returns the p rules of the rights a user holds directly.
func CompileUser(u rolegate.User) []rolegate.Rule {
	return CompileRights(UserSubject(u.ID), u.EntityID, u.Permissions)
}

// CompileAssignment returns the g rule of an assignment.
func CompileAssignment(a rolegate.Assignment) rolegate.Rule {
	sub := UserSubject(a.UserID)
	if a.Scope != "" {
		sub = ScopedSubject(a.Scope, a.UserID)
	}
	if a.ExpiresAt != nil {
		return rolegate.Rule{PType: "g", Values: []string{sub, RoleSubject(a.RoleID), a.EntityID, strconv.FormatInt(a.ExpiresAt.UnixMilli(), 10)}}
	}
	return rolegate.Rule{PType: "g", Values: []string{sub, RoleSubject(a.RoleID), a.EntityID}}
}

// SortRules orders rules by type, then values.
func SortRules(rules []rolegate.Rule) {
	sort.Slice(rules, func(i, j int) bool { return ruleLess(rules[i], rules[j]) })
}

func ruleLess(a, b rolegate.Rule) bool {
	if a.PType != b.PType {
		return a.PType < b.PType
	}
	for k := 0; k < len(a.Values) && k < len(b.Values); k++ {
		if a.Values[k] != b.Values[k] {
			return a.Values[k] < b.Values[k]
		}
	}
	return len(a.Values) < len(b.Values)
}

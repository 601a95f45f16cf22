package engine

import (
	"slices"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// MaxGrantableBy bounds the roles an explained refusal names.
const MaxGrantableBy = 20

// explainRefusal completes an explained refusal: on denied, the rights that
// deny and their roles; on not_allowed, the entity's active roles whose
// assignment (entity-wide) would allow the question, none of which carries a
// deny of it (a deny of the user's own would have made it denied), unless
// the caller may not see them (req.NoGrantable).
func (s *snapshot) explainRefusal(req Request, d *Decision) {
	if !s.exists || d.Allowed {
		return
	}
	if d.Permission == rolegate.Denied {
		d.DeniedBy = []Match{}
		for _, m := range d.Matched {
			if m.Permission == rolegate.Denied && m.applies() {
				d.DeniedBy = append(d.DeniedBy, m)
			}
		}
		return
	}
	if req.NoGrantable {
		return
	}
	d.GrantableBy = []Match{}
	idx := s.grants()
	// A role's conditional rights count as they would in this check.
	ev := s.evaluator(req.Resource, condition.WithinLimits(req.Resource), req.UserID)
	for _, sub := range s.subjectsNaming(idx, req.ObjectType) {
		id := roleIDOf(sub)
		name, active := s.roleNames.get(id)
		if id == "" || !active {
			continue
		}
		v := s.judge([]string{sub}, req.ObjectType, req.Action, ev).applying()
		own := req.OwnerID != "" && req.OwnerID == req.UserID
		if len(v.deny) > 0 || (len(v.allow) == 0 && !(own && len(v.own) > 0)) {
			continue
		}
		m := Match{RoleID: id, RoleName: name, Permission: rolegate.Allowed}
		if len(v.allow) == 0 {
			m.Permission = rolegate.AllowedForOwn
		}
		if !slices.Contains(d.GrantableBy, m) {
			d.GrantableBy = append(d.GrantableBy, m)
		}
	}
	sortMatches(d.GrantableBy)
	if len(d.GrantableBy) > MaxGrantableBy {
		d.GrantableBy = d.GrantableBy[:MaxGrantableBy]
	}
}

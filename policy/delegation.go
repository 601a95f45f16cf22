package policy

import (
	"context"
	"math"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
)

// Nobody gives a right they do not hold. A write by a user of the entity is
// judged by what it gives: every right that some user (today's or, through a
// default role, tomorrow's) may hold after the write and may not before.
// That is more than the allows a write adds:
//
//   - an allow added to a role, to a user's own rights, or by assigning a role
//     or making it default, gives that allow;
//   - a deny lifted (dropped from a role or a user's own rights, a role that
//     carries one taken from a user or deleted while held, a default role
//     that carries one no longer given to new users) gives the right it was
//     masking, counted as allowed: another role of the same user may allow it;
//   - a wildcard (`payable:*`, `*:read`, `*:*`) gives every right it matches.
//
// The caller holds a right when one of its entity-wide rights covers it whole
// (a `payable:*` allow covers `payable:approve`, not the other way round) and
// no deny of the caller touches any part of it (a `payable:approve` deny
// means the caller does not hold `payable:*`). Platform callers and API
// clients hold every right.

// grant is one right a write gives.
type grant struct {
	obj, act string
	perm     rolegate.Permission // Allowed or AllowedForOwn
}

// allowsOf are the rights a set of permissions gives to whoever holds it.
func allowsOf(p rolegate.Permissions) []grant {
	var out []grant
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission == rolegate.Allowed || a.Permission == rolegate.AllowedForOwn {
				out = append(out, grant{o.ObjectType, a.ActionName, a.Permission})
			}
		}
	}
	return out
}

// deniesOf are the rights a set of permissions stops masking when it goes
// away: each deny, counted as the allow it may unmask.
func deniesOf(p rolegate.Permissions) []grant {
	var out []grant
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission == rolegate.Denied {
				out = append(out, grant{o.ObjectType, a.ActionName, rolegate.Allowed})
			}
		}
	}
	return out
}

// gained are the rights that replacing old by new gives: allows that are new
// or wider (allowed_for_own to allowed, a condition dropped or changed), and
// denies lifted (a condition put on a deny, or changed, narrows it: counted
// as lifted).
func gained(old, new rolegate.Permissions) []grant {
	type pair struct{ obj, act string }
	before := map[pair]rolegate.ActionPermission{}
	for _, o := range old.Objects {
		for _, a := range o.Actions {
			before[pair{o.ObjectType, a.ActionName}] = a
		}
	}
	after := map[pair]rolegate.ActionPermission{}
	var out []grant
	for _, o := range new.Objects {
		for _, a := range o.Actions {
			p := pair{o.ObjectType, a.ActionName}
			after[p] = a
			prev := before[p]
			was := prev.Permission
			// An allow under a condition gives no more than the same allow
			// under none; any other change of condition may give more.
			wider := a.Condition != prev.Condition && a.Condition != "" && prev.Condition != "" || a.Condition == "" && prev.Condition != ""
			switch a.Permission {
			case rolegate.Allowed:
				if was != rolegate.Allowed || wider {
					out = append(out, grant{p.obj, p.act, rolegate.Allowed})
				}
			case rolegate.AllowedForOwn:
				if was != rolegate.Allowed && was != rolegate.AllowedForOwn || wider {
					out = append(out, grant{p.obj, p.act, rolegate.AllowedForOwn})
				}
			}
		}
	}
	for _, o := range old.Objects {
		for _, a := range o.Actions {
			p := pair{o.ObjectType, a.ActionName}
			next := after[p]
			narrowed := next.Permission == rolegate.Denied && next.Condition != a.Condition && next.Condition != ""
			if a.Permission == rolegate.Denied && (next.Permission != rolegate.Denied || narrowed) && next.Permission != rolegate.Allowed {
				// Lifted (an allow in its place was counted above).
				out = append(out, grant{p.obj, p.act, rolegate.Allowed})
			}
		}
	}
	return out
}

// rolesGrants are the allows of roles being given.
func rolesGrants(roles ...rolegate.Role) []grant {
	var out []grant
	for _, r := range roles {
		out = append(out, allowsOf(r.Permissions)...)
	}
	return out
}

// mayGive answers 403 privilege_escalation unless the caller holds every
// right in gs (see the top of this file). Callers that are not users of the
// entity hold every right.
func (s *Service) mayGive(ctx context.Context, entityID string, gs []grant) error {
	return s.mayGiveUntil(ctx, entityID, gs, nil)
}

// mayGiveUntil is mayGive for rights given until the instant until (nil: for
// good): the caller must hold them now and still then. A right the caller
// holds through an assignment that expires sooner is not its to give for
// longer (an expiring role cannot be made permanent, or copied into one that
// is, by its holder).
func (s *Service) mayGiveUntil(ctx context.Context, entityID string, gs []grant, until *time.Time) error {
	actor := auth.ActorFrom(ctx)
	if actor.UserID == "" {
		return nil
	}
	if actor.EntityID != entityID {
		return rolegate.Errorf(rolegate.KindForbidden, "forbidden", "the caller is not a user of this entity")
	}
	if len(gs) == 0 {
		return nil
	}
	held, _, err := s.engine.Effective(ctx, entityID, actor.UserID, "")
	if err != nil {
		return unavailable(err)
	}
	at := int64(math.MaxInt64)
	if until != nil {
		at = until.UnixMilli() - 1 // the last instant the given right counts
	}
	later, _, err := s.engine.EffectiveAt(ctx, entityID, actor.UserID, "", at)
	if err != nil {
		return unavailable(err)
	}
	for _, g := range gs {
		if holds(held, g) && !holds(later, g) {
			return rolegate.Errorf(rolegate.KindForbidden, "privilege_escalation",
				"you cannot give %s on %s for longer than you hold it: your own assignment giving it expires sooner", g.act, g.obj)
		}
		if !holds(held, g) {
			return rolegate.Errorf(rolegate.KindForbidden, "privilege_escalation",
				"you cannot give %s on %s: you do not hold that right yourself (lifting a deny or giving a wildcard counts as giving what it unmasks)", g.act, g.obj)
		}
	}
	return nil
}

// holds reports whether effective rights (as Engine.Effective reads them,
// deny applied) hold g whole: one right without a condition covers it with
// enough permission, and no deny (conditional or not) overlaps any part of it.
func holds(held rolegate.Permissions, g grant) bool {
	covered := false
	for _, o := range held.Objects {
		for _, a := range o.Actions {
			if a.Permission == rolegate.Denied {
				if overlaps(o.ObjectType, g.obj) && overlaps(a.ActionName, g.act) {
					return false
				}
				continue
			}
			if a.Condition != "" {
				continue // holds only when its condition does: not the caller's to give
			}
			if covers(o.ObjectType, g.obj) && covers(a.ActionName, g.act) &&
				(a.Permission == rolegate.Allowed || (a.Permission == rolegate.AllowedForOwn && g.perm == rolegate.AllowedForOwn)) {
				covered = true
			}
		}
	}
	return covered
}

// covers reports whether a pattern (a name or *) matches every name that the
// pattern want matches.
func covers(have, want string) bool { return have == rolegate.Wildcard || have == want }

// overlaps reports whether two patterns match some name in common.
func overlaps(a, b string) bool { return a == rolegate.Wildcard || b == rolegate.Wildcard || a == b }

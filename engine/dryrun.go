package engine

import (
	"context"
	"slices"

	"github.com/rolegate/rolegate"
)

// DryRun returns what applying a write's delta (recorded at revision rev, then
// rolled back) would change in the effective rights of every user it touches:
// the users holding a role whose rules change, the users whose own rights or
// assignments change. It applies the delta to a copy of the snapshot held
// (copy-on-write, never installed), so it costs what the write touches. A
// snapshot not at rev-1 is refreshed once; if it still is not, the entity
// changed meanwhile and the dry run fails (503, try again).
func (e *Engine) DryRun(ctx context.Context, entityID string, rev int64, d Delta) (gained, lost []Right, err error) {
	s, next, err := e.dryRunSnapshots(ctx, entityID, rev, d)
	if err != nil {
		return nil, nil, err
	}
	links := touchedLinks(s, next, d)
	// Each user's entity-wide change, then each scope's beyond it.
	wide := func(u string) (before, after map[rightKey]rightValue) {
		sub := UserSubject(u)
		return allowedRights(s.effective(s.subjects(sub, ""))), allowedRights(next.effective(next.subjects(sub, "")))
	}
	for link := range links {
		if u, scope := next.linkUser(link); u != "" && scope == "" {
			before, after := wide(u)
			gained, lost = diffRights(u, "", before, after, gained, lost)
		}
	}
	for link := range links {
		u, scope := next.linkUser(link)
		if u == "" || scope == "" {
			continue
		}
		sub := UserSubject(u)
		before := allowedRights(s.effective(s.subjects(sub, link)))
		after := allowedRights(next.effective(next.subjects(sub, link)))
		g, l := diffRights(u, scope, before, after, nil, nil)
		// A change entity-wide shows in every scope: report it once,
		// without scope.
		wb, wa := wide(u)
		wg, wl := diffRights(u, scope, wb, wa, nil, nil)
		gained = append(gained, without(g, wg)...)
		lost = append(lost, without(l, wl)...)
	}
	SortRights(gained)
	SortRights(lost)
	return gained, lost, nil
}

// without returns the rights of rs that are not in drop.
func without(rs, drop []Right) []Right {
	var out []Right
	for _, r := range rs {
		if !slices.Contains(drop, r) {
			out = append(out, r)
		}
	}
	return out
}

// diffRights appends to gained the rights of after that before lacks (same
// value and condition) and to lost those of before that after lacks: a right
// whose condition changes is lost under the old one and gained under the new.
func diffRights(user, scope string, before, after map[rightKey]rightValue, gained, lost []Right) ([]Right, []Right) {
	for k, v := range after {
		if before[k] != v {
			gained = append(gained, Right{UserID: user, Scope: scope, ObjectType: k.obj, Action: k.act, Permission: v.p, Condition: v.cond})
		}
	}
	for k, v := range before {
		if after[k] != v {
			lost = append(lost, Right{UserID: user, Scope: scope, ObjectType: k.obj, Action: k.act, Permission: v.p, Condition: v.cond})
		}
	}
	return gained, lost
}

// dryRunSnapshots returns the snapshot held (at rev-1) and the one applying d
// to it gives (copy-on-write, never installed): what dry runs and
// separation-of-duties checks compare. A snapshot not at rev-1 is refreshed
// once; if it still is not, the entity changed meanwhile (503, try again).
func (e *Engine) dryRunSnapshots(ctx context.Context, entityID string, rev int64, d Delta) (s, next *snapshot, err error) {
	s, err = e.snapshot(ctx, entityID)
	if err == nil && s.revision != rev-1 {
		if err = e.Refresh(ctx, entityID); err == nil {
			s, err = e.snapshot(ctx, entityID)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if d.Full || !s.exists || s.revision != rev-1 {
		return nil, nil, rolegate.Errorf(rolegate.KindUnavailable, "dry_run_conflict", "the entity changed during the dry run; try again")
	}
	s.grants() // so that next carries the index
	next, err = s.apply(rev, d)
	if err != nil {
		return nil, nil, err
	}
	next.engine = s.engine // its clock, for expiring assignments
	return s, next, nil
}

// touchedLinks returns the link subjects (u:<user>, s:<scope>|<user>, or
// their hashes) whose rights applying d to s (giving next) may change: the
// holders of a role whose rules or assignments change, in either snapshot,
// the users whose own rights or assignments change, and, for a user whose
// entity-wide rights may change, each scope it holds roles in.
func touchedLinks(s, next *snapshot, d Delta) map[string]bool {
	links := map[string]bool{}
	touch := func(sub string) {
		if roleIDOf(sub) == "" {
			links[sub] = true
			return
		}
		for _, snap := range []*snapshot{s, next} {
			set, _ := snap.grants().holders.get(sub)
			set.each(func(link string, _ struct{}) { links[link] = true })
		}
	}
	for _, op := range d.Ops {
		if op.Op == OpAttributes {
			continue // rights read without a resource do not depend on attributes
		}
		if op.Subject != "" {
			touch(op.Subject)
		}
		for _, line := range op.Rules {
			if r, ok := ruleOfLine(line); ok && len(r.Values) > 0 {
				touch(r.Values[0])
			}
		}
	}
	// A user whose entity-wide rights change may see it inside each scope
	// it holds roles in.
	for link := range links {
		if u, scope := next.linkUser(link); u != "" && scope == "" {
			for _, snap := range []*snapshot{s, next} {
				list, _ := snap.grants().scopes.get(u)
				for _, sc := range list {
					links[ScopedSubject(sc, u)] = true
				}
			}
		}
	}
	return links
}

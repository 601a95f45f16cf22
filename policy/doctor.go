package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/changes"

	"github.com/rolegate/rolegate/engine"
)

// The kinds of problem the consistency check finds.
const (
	// ProblemMissingRule: a rule that a role, a user or an assignment calls
	// for is not stored.
	ProblemMissingRule = "missing_rule"
	// ProblemExtraRule: a stored p rule of a role or user that its row does
	// not call for (also any rule of a deleted role).
	ProblemExtraRule = "extra_rule"
	// ProblemOrphanRule: a stored rule whose source (role, user or
	// assignment) does not exist.
	ProblemOrphanRule = "orphan_rule"
	// ProblemDanglingAssignment: an assignment whose user does not exist or
	// whose role is deleted or does not exist. The service never leaves one;
	// --fix removes it with its rule.
	ProblemDanglingAssignment = "dangling_assignment"
	// ProblemStrayRules: rules naming an entity that does not exist; they
	// would come back to life if an entity of that id were created.
	ProblemStrayRules = "stray_rules"
	// ProblemCounters: the counts of roles, users and rules kept on the
	// entity's row for the quotas differ from what it holds (the rows were
	// changed behind the service's back); --fix counts them again.
	ProblemCounters = "quota_counters"
	// ProblemMissingCondition: a rule names a condition (by its hash) whose
	// source is not stored for the entity, or a role's or user's right
	// carries a condition whose source is not stored: the engine cannot
	// evaluate it (an allow under it never counts, a deny under it always
	// applies). --fix stores the sources the rows hold.
	ProblemMissingCondition = "missing_condition"
	// ProblemCheckFailed: the entity could not be checked (for instance a
	// stored row cannot be read); the error says why.
	ProblemCheckFailed = "check_failed"
	// ProblemFixFailed: the repair of the entity failed and was rolled back.
	ProblemFixFailed = "fix_failed"
)

// Problem is one inconsistency between the rows (roles, users, assignments)
// and the compiled rules stored in casbin_rule.
type Problem struct {
	EntityID string
	Kind     string
	// Source says what the problem is about: a role, a user, an assignment.
	Source string
	// Rule is the rule concerned, in policy-file form, when there is one.
	Rule string
	// Fixed is set once the repair is committed.
	Fixed bool
}

func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entity %q: %s", p.EntityID, p.Kind)
	if p.Source != "" {
		b.WriteString(": " + p.Source)
	}
	if p.Rule != "" {
		b.WriteString(": " + p.Rule)
	}
	if p.Fixed {
		b.WriteString(" [fixed]")
	}
	return b.String()
}

// EntityFix is one entity repaired, at its new revision.
type EntityFix struct {
	EntityID string
	Revision int64
}

// Report is what the consistency check found and, with fix, repaired.
type Report struct {
	Entities, Roles, Users, Assignments, Rules int // checked
	Problems                                   []Problem
	Fixed                                      []EntityFix
	// Unchecked are the entities that changed during every read of them
	// (on a store without snapshots): neither consistent nor broken as far
	// as this run knows; run again.
	Unchecked []string
}

// Remaining counts the problems not repaired.
func (r Report) Remaining() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Fixed {
			n++
		}
	}
	return n
}

// Summary is one line for people.
func (r Report) Summary() string {
	s := fmt.Sprintf("checked %d entit%s, %d roles, %d users, %d assignments, %d rules: ",
		r.Entities, plural(r.Entities, "y", "ies"), r.Roles, r.Users, r.Assignments, r.Rules) + r.problemSummary()
	if n := len(r.Unchecked); n > 0 {
		s += fmt.Sprintf("; %d entit%s not checked (kept changing): run again", n, plural(n, "y", "ies"))
	}
	return s
}

func (r Report) problemSummary() string {
	if len(r.Problems) == 0 {
		return "consistent"
	}
	ents, fixedEnts := map[string]bool{}, map[string]bool{}
	for _, p := range r.Problems {
		ents[p.EntityID] = true
		if p.Fixed {
			fixedEnts[p.EntityID] = true
		}
	}
	s := fmt.Sprintf("%d problem(s) in %d entit%s", len(r.Problems), len(ents), plural(len(ents), "y", "ies"))
	if fixed := len(r.Problems) - r.Remaining(); fixed > 0 {
		s += fmt.Sprintf(", %d fixed in %d entit%s", fixed, len(fixedEnts), plural(len(fixedEnts), "y", "ies"))
	}
	if n := r.Remaining(); n > 0 {
		return s + fmt.Sprintf(", %d remain", n)
	}
	return s + ", none remain"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// doctorPage is how many entities are listed at a time.
const doctorPage = 100

// errNothingToFix rolls back a repair transaction that found the entity
// consistent after all, so that its revision is not bumped for nothing.
var errNothingToFix = errors.New("nothing to fix")

// Doctor checks, entity by entity, that the compiled rules in the store are
// exactly those the rows call for: every role's p rules equal Compile(role)
// (none for a deleted role), every user's own rights equal CompileUser(user),
// every assignment has its g rule, every condition a rule names or a right
// carries has its source stored, and no rule exists without its source row,
// nor for an entity that does not exist.
//
// With fix, each entity found inconsistent is repaired from its role, user and
// assignment rows in one transaction that bumps the entity's revision (running
// instances must reload that entity); dangling assignments are removed. An
// entity that cannot be checked or repaired is reported and the check goes on;
// the error is for failures that stop the whole check (storage unreachable,
// ctx done).
func Doctor(ctx context.Context, store Store, fix bool) (Report, error) {
	var rep Report
	after := ""
	for {
		var page []rolegate.Entity
		err := store.View(ctx, func(tx Tx) error {
			var err error
			page, err = tx.ListEntities(after, doctorPage)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("list entities: %w", err)
		}
		for _, e := range page {
			if err := doctorEntity(ctx, store, e.ID, fix, &rep); err != nil {
				return rep, err
			}
		}
		if len(page) < doctorPage {
			break
		}
		after = page[len(page)-1].ID
	}
	if err := doctorStray(ctx, store, fix, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// fatal reports whether an error must stop the whole check.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, rolegate.ErrUnavailable)
}

// doctorEntity checks one entity and, with fix, repairs it.
func doctorEntity(ctx context.Context, store Store, entityID string, fix bool, rep *Report) error {
	d, err := diagnoseStable(ctx, store, entityID)
	if err != nil {
		if fatal(ctx, err) {
			return fmt.Errorf("entity %q: %w", entityID, err)
		}
		if rolegate.IsNotFound(err) {
			return nil // deleted since it was listed
		}
		if errors.Is(err, errKeptChanging) {
			rep.Unchecked = append(rep.Unchecked, entityID)
			return nil
		}
		rep.Problems = append(rep.Problems, Problem{EntityID: entityID, Kind: ProblemCheckFailed, Source: err.Error()})
		return nil
	}
	rep.Entities++
	rep.Roles += d.roles
	rep.Users += d.users
	rep.Assignments += d.assignments
	rep.Rules += d.rules
	if len(d.problems) == 0 {
		return nil
	}
	if !fix {
		rep.Problems = append(rep.Problems, d.problems...)
		return nil
	}
	// Repair under the entity's lock: bump its revision first, as every write
	// does, then diagnose again inside the transaction and repair what is found.
	var fixed diagnosis
	var rev int64
	err = store.Update(ctx, func(tx Tx) error {
		var err error
		now := time.Now().UTC().Truncate(time.Millisecond)
		if rev, err = tx.BumpRevision(entityID, now); err != nil {
			return err
		}
		if fixed, err = diagnose(tx, entityID); err != nil {
			return err
		}
		if len(fixed.problems) == 0 {
			return errNothingToFix
		}
		if err := fixed.repair(tx, entityID); err != nil {
			return err
		}
		// The history is rebased on the repaired rows.
		if err := tx.AppendHistory(rolegate.Revision{EntityID: entityID, Revision: rev, At: now}, nil, engine.Delta{Full: true}); err != nil {
			return err
		}
		// Readers reload the repaired entity in full; the changes feed tells
		// its clients to fetch everything again.
		return tx.AppendPolicyChange(changes.Entry{EntityID: entityID, Revision: rev, Kind: changes.EntryReload, At: now,
			Items: changes.EntityItems()}, changes.Keep)
	})
	switch {
	case errors.Is(err, errNothingToFix):
		return nil // repaired or changed meanwhile: consistent now
	case err != nil:
		if fatal(ctx, err) {
			return fmt.Errorf("entity %q: repair: %w", entityID, err)
		}
		rep.Problems = append(rep.Problems, d.problems...)
		rep.Problems = append(rep.Problems, Problem{EntityID: entityID, Kind: ProblemFixFailed, Source: err.Error()})
		return nil
	}
	for i := range fixed.problems {
		fixed.problems[i].Fixed = true
	}
	rep.Problems = append(rep.Problems, fixed.problems...)
	rep.Fixed = append(rep.Fixed, EntityFix{EntityID: entityID, Revision: rev})
	return nil
}

// errKeptChanging: an entity's revision moved during every diagnosis.
var errKeptChanging = errors.New("the entity kept changing during the check")

// diagnoseStable diagnoses an entity in one snapshot of the store, so that a
// report never mixes the rows of one revision with the rules of another. The
// revision is read before and after: should it move all the same (a store
// whose snapshot is not one), the entity is diagnosed again, and after five
// tries left unchecked (errKeptChanging), never reported from mixed reads.
func diagnoseStable(ctx context.Context, store Store, entityID string) (diagnosis, error) {
	var d diagnosis
	for try := 0; ; try++ {
		moved := false
		err := store.Snapshot(ctx, func(tx Tx) error {
			before, err := tx.GetEntity(entityID)
			if err != nil {
				return err
			}
			if d, err = diagnose(tx, entityID); err != nil {
				return err
			}
			now, err := tx.GetEntity(entityID)
			if err != nil {
				return err
			}
			moved = now.Revision != before.Revision
			return nil
		})
		switch {
		case err != nil || !moved:
			return d, err
		case try == 4:
			return diagnosis{}, errKeptChanging
		}
	}
}

// diagnosis is what is wrong with one entity and how to repair it.
type diagnosis struct {
	roles, users, assignments, rules int
	problems                         []Problem

	// subjects maps each p subject whose rules are wrong to the rules it must
	// have (none for an orphan subject).
	subjects map[string][]rolegate.Rule
	addG     []rolegate.Rule
	removeG  []rolegate.Rule
	dangling []rolegate.Assignment
	recount  bool
	// conds are the condition sources the rows hold and the store lacks.
	conds map[string]string
}

// diagnose compares the entity's rows with its stored rules.
func diagnose(tx Tx, entityID string) (diagnosis, error) {
	d := diagnosis{subjects: map[string][]rolegate.Rule{}}
	roles, err := tx.ListRoles(entityID, RoleFilter{}, Page{Sort: "created_at"})
	if err != nil {
		return d, fmt.Errorf("roles: %w", err)
	}
	users, err := tx.ListUsers(entityID, UserFilter{}, Page{Sort: "id"})
	if err != nil {
		return d, fmt.Errorf("users: %w", err)
	}
	assignments, err := tx.ListAssignments(entityID, AssignmentFilter{})
	if err != nil {
		return d, fmt.Errorf("assignments: %w", err)
	}
	stored, err := tx.EntityRules(entityID)
	if err != nil {
		return d, fmt.Errorf("rules: %w", err)
	}
	d.roles, d.users, d.assignments, d.rules = len(roles), len(users), len(assignments), len(stored)

	// What the rows call for: p rules by subject, and g rules.
	want := map[string][]rolegate.Rule{}
	source := map[string]string{}
	roleByID := map[string]rolegate.Role{}
	for _, r := range roles {
		sub := engine.RoleSubject(r.ID)
		want[sub] = engine.Compile(r)
		source[sub] = describeRole(r)
		roleByID[r.ID] = r
	}
	userExists := map[string]bool{}
	for _, u := range users {
		sub := engine.UserSubject(u.ID)
		want[sub] = engine.CompileUser(u)
		source[sub] = fmt.Sprintf("user %q", u.ID)
		userExists[u.ID] = true
	}
	var wantG []rolegate.Rule
	gSource := map[string]string{}
	for _, a := range assignments {
		r, ok := roleByID[a.RoleID]
		why := ""
		switch {
		case !userExists[a.UserID]:
			why = "the user does not exist"
		case !ok:
			why = "the role does not exist"
		case r.Status != rolegate.StatusActive:
			why = "the role is deleted"
		}
		if why != "" {
			d.dangling = append(d.dangling, a)
			d.problems = append(d.problems, Problem{EntityID: entityID, Kind: ProblemDanglingAssignment,
				Source: describeAssignment(a) + ": " + why})
			continue
		}
		g := engine.CompileAssignment(a)
		wantG = append(wantG, g)
		gSource[ruleKey(g)] = describeAssignment(a)
	}

	// What is stored.
	haveP := map[string][]rolegate.Rule{}
	var haveG []rolegate.Rule
	for _, r := range stored {
		switch {
		case r.PType == "p" && len(r.Values) > 0:
			haveP[r.Values[0]] = append(haveP[r.Values[0]], r)
		case r.PType == "p":
			haveP[""] = append(haveP[""], r)
		default:
			haveG = append(haveG, r)
		}
	}

	subjects := make([]string, 0, len(want)+len(haveP))
	for sub := range want {
		subjects = append(subjects, sub)
	}
	for sub := range haveP {
		if _, ok := want[sub]; !ok {
			subjects = append(subjects, sub)
		}
	}
	sort.Strings(subjects)
	for _, sub := range subjects {
		w, known := want[sub]
		add, remove := diffRules(haveP[sub], w)
		if len(add)+len(remove) == 0 {
			continue
		}
		d.subjects[sub] = w
		for _, r := range add {
			d.problems = append(d.problems, Problem{EntityID: entityID, Kind: ProblemMissingRule, Source: source[sub], Rule: r.String()})
		}
		for _, r := range remove {
			p := Problem{EntityID: entityID, Kind: ProblemExtraRule, Source: source[sub], Rule: r.String()}
			if !known {
				p.Kind, p.Source = ProblemOrphanRule, orphanSource(sub)
			}
			d.problems = append(d.problems, p)
		}
	}

	if err := diagnoseConditions(tx, entityID, roles, users, stored, &d); err != nil {
		return d, err
	}

	d.addG, d.removeG = diffRules(haveG, wantG)
	for _, r := range d.addG {
		d.problems = append(d.problems, Problem{EntityID: entityID, Kind: ProblemMissingRule, Source: gSource[ruleKey(r)], Rule: r.String()})
	}
	for _, r := range d.removeG {
		d.problems = append(d.problems, Problem{EntityID: entityID, Kind: ProblemOrphanRule, Source: "no assignment grants it", Rule: r.String()})
	}
	return d, diagnoseCounts(tx, entityID, roles, len(users), len(stored), &d)
}

// diagnoseConditions finds the conditions whose source is not stored: those
// the stored rules name by hash, and those the rows' rights carry.
func diagnoseConditions(tx Tx, entityID string, roles []rolegate.Role, users []rolegate.User, stored []rolegate.Rule, d *diagnosis) error {
	have, err := tx.EntityConditions(entityID)
	if err != nil {
		return fmt.Errorf("conditions: %w", err)
	}
	want := map[string]string{}
	wantSource := map[string]string{}
	for _, r := range roles {
		if r.Status != rolegate.StatusActive {
			continue
		}
		for h, src := range engine.Conditions(r.Permissions) {
			want[h], wantSource[h] = src, describeRole(r)
		}
	}
	for _, u := range users {
		for h, src := range engine.Conditions(u.Permissions) {
			want[h], wantSource[h] = src, fmt.Sprintf("user %q", u.ID)
		}
	}
	reported := map[string]bool{}
	for _, r := range stored {
		h := ruleConditionHash(r)
		if h == "" || reported[h] {
			continue
		}
		if _, ok := have[h]; ok {
			continue
		}
		reported[h] = true
		p := Problem{EntityID: entityID, Kind: ProblemMissingCondition, Source: "the rule names condition " + h + ", whose source is not stored", Rule: r.String()}
		if src, ok := want[h]; ok {
			p.Source += "; " + wantSource[h] + " holds it"
			if d.conds == nil {
				d.conds = map[string]string{}
			}
			d.conds[h] = src
		}
		d.problems = append(d.problems, p)
	}
	hashes := make([]string, 0, len(want))
	for h := range want {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	for _, h := range hashes {
		if _, ok := have[h]; ok || reported[h] {
			continue
		}
		if d.conds == nil {
			d.conds = map[string]string{}
		}
		d.conds[h] = want[h]
		d.problems = append(d.problems, Problem{EntityID: entityID, Kind: ProblemMissingCondition,
			Source: wantSource[h] + ": the source of condition " + h + " is not stored"})
	}
	return nil
}

// ruleConditionHash is the hash of the condition a p rule names in its fifth
// value (any:<hash>, own:<hash>), or "" for none.
func ruleConditionHash(r rolegate.Rule) string {
	if r.PType != "p" || len(r.Values) < 5 {
		return ""
	}
	_, h, ok := strings.Cut(r.Values[4], ":")
	if !ok {
		return ""
	}
	return h
}

// diagnoseCounts compares the counters the quotas read with the rows.
func diagnoseCounts(tx Tx, entityID string, roles []rolegate.Role, users, rules int, d *diagnosis) error {
	held := EntityCounts{Users: int64(users), Rules: int64(rules)}
	for _, r := range roles {
		if r.Status == rolegate.StatusActive {
			held.Roles++
		}
	}
	counted, err := tx.EntityCounts(entityID)
	if err != nil {
		return fmt.Errorf("counters: %w", err)
	}
	if counted != held {
		d.recount = true
		d.problems = append(d.problems, Problem{EntityID: entityID, Kind: ProblemCounters,
			Source: fmt.Sprintf("counted %d roles, %d users, %d rules; holds %d, %d, %d",
				counted.Roles, counted.Users, counted.Rules, held.Roles, held.Users, held.Rules)})
	}
	return nil
}

// repair makes the stored rules what the rows call for, with the sources of
// the conditions they name.
func (d diagnosis) repair(tx Tx, entityID string) error {
	if err := tx.PutConditions(entityID, d.conds); err != nil {
		return err
	}
	for _, a := range d.dangling {
		if err := tx.DeleteAssignment(a); err != nil && !rolegate.IsNotFound(err) {
			return err
		}
	}
	subjects := make([]string, 0, len(d.subjects))
	for sub := range d.subjects {
		subjects = append(subjects, sub)
	}
	sort.Strings(subjects)
	for _, sub := range subjects {
		if err := tx.ReplaceSubjectRules(entityID, sub, d.subjects[sub]); err != nil {
			return err
		}
	}
	if err := tx.RemoveRules(d.removeG); err != nil {
		return err
	}
	if err := tx.AddRules(d.addG); err != nil {
		return err
	}
	if d.recount {
		return tx.RecountEntity(entityID)
	}
	return nil
}

// doctorStray finds rules of entities that do not exist and, with fix,
// removes them.
func doctorStray(ctx context.Context, store Store, fix bool, rep *Report) error {
	after := ""
	for {
		var ids []string
		err := store.View(ctx, func(tx Tx) error {
			var err error
			ids, err = tx.StrayRuleEntities(after, doctorPage)
			return err
		})
		if err != nil {
			return fmt.Errorf("rules of unknown entities: %w", err)
		}
		for _, id := range ids {
			if err := doctorStrayEntity(ctx, store, id, fix, rep); err != nil {
				return err
			}
		}
		if len(ids) < doctorPage {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

func doctorStrayEntity(ctx context.Context, store Store, entityID string, fix bool, rep *Report) error {
	var n int
	var removed bool
	err := store.Snapshot(ctx, func(tx Tx) error {
		rules, err := tx.EntityRules(entityID)
		n = len(rules)
		return err
	})
	if err == nil && n > 0 && fix {
		err = store.Update(ctx, func(tx Tx) error {
			if _, err := tx.GetEntity(entityID); err == nil {
				return errNothingToFix // created meanwhile: its rules are its own now
			} else if !rolegate.IsNotFound(err) {
				return err
			}
			rules, err := tx.EntityRules(entityID)
			if err != nil {
				return err
			}
			n = len(rules)
			subjects := map[string]bool{}
			var gs []rolegate.Rule
			for _, r := range rules {
				if r.PType == "p" {
					sub := ""
					if len(r.Values) > 0 {
						sub = r.Values[0]
					}
					subjects[sub] = true
				} else {
					gs = append(gs, r)
				}
			}
			for sub := range subjects {
				if err := tx.ReplaceSubjectRules(entityID, sub, nil); err != nil {
					return err
				}
			}
			if err := tx.RemoveRules(gs); err != nil {
				return err
			}
			removed = true
			return nil
		})
	}
	switch {
	case errors.Is(err, errNothingToFix):
		return nil
	case err != nil && fatal(ctx, err):
		return fmt.Errorf("rules of unknown entity %q: %w", entityID, err)
	}
	if n == 0 && err == nil {
		return nil
	}
	rep.Rules += n
	rep.Problems = append(rep.Problems, Problem{EntityID: entityID, Kind: ProblemStrayRules,
		Source: fmt.Sprintf("%d rule(s) of an entity that does not exist", n), Fixed: removed})
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{EntityID: entityID, Kind: ProblemFixFailed, Source: err.Error()})
	}
	return nil
}

func describeRole(r rolegate.Role) string {
	s := fmt.Sprintf("role %q (%s)", r.Name, r.ID)
	if r.Status != rolegate.StatusActive {
		s += " " + r.Status
	}
	return s
}

func describeAssignment(a rolegate.Assignment) string {
	s := fmt.Sprintf("assignment of role %s to user %q", a.RoleID, a.UserID)
	if a.Scope != "" {
		s += fmt.Sprintf(" in scope %q", a.Scope)
	}
	return s
}

// orphanSource says whose rule an orphan p rule claims to be.
func orphanSource(subject string) string {
	switch {
	case strings.HasPrefix(subject, "r:"):
		return fmt.Sprintf("role %s does not exist", strings.TrimPrefix(subject, "r:"))
	case strings.HasPrefix(subject, "u:"):
		return fmt.Sprintf("user %q does not exist", strings.TrimPrefix(subject, "u:"))
	}
	return fmt.Sprintf("unknown subject %q", subject)
}

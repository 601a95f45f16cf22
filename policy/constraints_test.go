package policy_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
)

// sodFixture is an entity "acme" with a maker role (payable.create), a
// checker role (payable.approve), a role denying approve, users, and a clock
// the test moves.
type sodFixture struct {
	t                      *testing.T
	svc                    *policy.Service
	ctx                    context.Context
	maker, checker, denier rolegate.Role
	mu                     sync.Mutex
	now                    time.Time
}

func (f *sodFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *sodFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newSoD(t *testing.T) *sodFixture {
	t.Helper()
	f := &sodFixture{t: t, ctx: auth.Internal(context.Background()), now: time.Now().UTC().Truncate(time.Millisecond)}
	store := memstore.New()
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = policy.NewService(policy.Config{Store: store, Engine: eng, Now: f.clock})
	if _, err := f.svc.CreateEntity(f.ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	f.maker = f.role("maker", obj("payable", "create", "allowed"))
	f.checker = f.role("checker", obj("payable", "approve", "allowed"))
	f.denier = f.role("no approving", obj("payable", "approve", "denied"))
	return f
}

func (f *sodFixture) role(name string, objs ...rolegate.ObjectPermissions) rolegate.Role {
	f.t.Helper()
	r, _, err := f.svc.CreateRole(f.ctx, "acme", policy.RoleInput{Name: &name, Permissions: &rolegate.Permissions{Objects: objs}})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *sodFixture) user(id string, roles ...rolegate.Role) {
	f.t.Helper()
	ids := []string{}
	for _, r := range roles {
		ids = append(ids, r.ID)
	}
	if _, _, err := f.svc.CreateUser(f.ctx, "acme", policy.UserInput{ID: id, RoleIDs: &ids}); err != nil {
		f.t.Fatal(err)
	}
}

// makerChecker is the constraint over payable.create and payable.approve.
func makerChecker(mode string, exceptions ...rolegate.ConstraintException) rolegate.Constraint {
	return rolegate.Constraint{EntityID: "acme", Name: "maker-checker", Description: "no one both creates and approves a payable",
		Rights: []rolegate.ConstraintRight{{ObjectType: "payable", Action: "create"}, {ObjectType: "payable", Action: "approve"}},
		Mode:   mode, Exceptions: exceptions}
}

func (f *sodFixture) constrain(c rolegate.Constraint) rolegate.Constraint {
	f.t.Helper()
	out, _, err := f.svc.CreateConstraint(f.ctx, c)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *sodFixture) revision() int64 {
	f.t.Helper()
	e, err := f.svc.GetEntity(f.ctx, "acme")
	if err != nil {
		f.t.Fatal(err)
	}
	return e.Revision
}

func (f *sodFixture) may(user, action string) bool {
	f.t.Helper()
	d, err := f.svc.Check(f.ctx, policy.CheckRequest{EntityID: "acme", UserID: user, ObjectType: "payable", Action: action})
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Allowed
}

// refused asserts err is the 409 separation_of_duties naming the
// constraint and user (and scope), with the rights held.
func refused(t *testing.T, what string, err error, user, scope string) {
	t.Helper()
	e := rolegate.AsError(err)
	if err == nil || e.Code != "separation_of_duties" || e.Kind != rolegate.KindConflict {
		t.Fatalf("%s: want 409 separation_of_duties, got %v", what, err)
	}
	if len(e.Violations) == 0 || len(e.Violations) > rolegate.MaxViolationsShown {
		t.Fatalf("%s: %d violations", what, len(e.Violations))
	}
	v := e.Violations[0]
	if v.ConstraintName != "maker-checker" || v.UserID != user || v.Scope != scope || len(v.Rights) != 2 {
		t.Fatalf("%s: violation %+v", what, v)
	}
	if !strings.Contains(e.Message, `"maker-checker"`) || !strings.Contains(e.Message, user) {
		t.Fatalf("%s: message %q names neither the constraint nor the user", what, e.Message)
	}
}

// TestConstraintCRUD: a constraint is created with its defaults, read,
// listed, replaced and deleted, each change bumping the revision and
// audited with its before and after; a taken name is 409, an unknown id 404.
func TestConstraintCRUD(t *testing.T) {
	f := newSoD(t)
	rev := f.revision()
	c, crev, err := f.svc.CreateConstraint(f.ctx, makerChecker(""))
	if err != nil {
		t.Fatal(err)
	}
	if crev != rev+1 || c.ID == "" || c.Mode != rolegate.ConstraintEnforce || c.CreatedAt.IsZero() || c.CreatedBy == "" {
		t.Fatalf("created %+v at %d (was %d)", c, crev, rev)
	}
	got, err := f.svc.GetConstraint(f.ctx, "acme", c.ID)
	if err != nil || got.Name != c.Name || len(got.Rights) != 2 || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, _, err := f.svc.CreateConstraint(f.ctx, makerChecker("")); rolegate.AsError(err).Code != "constraint_name_taken" {
		t.Fatalf("taken name: %v", err)
	}
	second := makerChecker(rolegate.ConstraintReport)
	second.Name = "a vendors and payments"
	second.Rights = []rolegate.ConstraintRight{{ObjectType: "vendor", Action: "create"}, {ObjectType: "payment", Action: "execute"}}
	s2 := f.constrain(second)
	list, err := f.svc.ListConstraints(f.ctx, "acme")
	if err != nil || len(list) != 2 || list[0].ID != s2.ID || list[1].ID != c.ID {
		t.Fatalf("list: %+v %v", list, err)
	}

	f.advance(time.Minute)
	repl := c
	repl.Name, repl.Mode, repl.Description = "maker-checker (AP)", rolegate.ConstraintReport, "reporting only"
	repl.Exceptions = []rolegate.ConstraintException{{UserID: "ana", Reason: "two-person office in August", ExpiresAt: f.clock().Add(30 * 24 * time.Hour)}}
	upd, urev, err := f.svc.ReplaceConstraint(f.ctx, repl)
	if err != nil {
		t.Fatal(err)
	}
	if urev != f.revision() || upd.Name != repl.Name || upd.Mode != rolegate.ConstraintReport || len(upd.Exceptions) != 1 ||
		!upd.CreatedAt.Equal(c.CreatedAt) || !upd.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("replaced: %+v", upd)
	}
	if _, _, err := f.svc.ReplaceConstraint(f.ctx, rolegate.Constraint{ID: "nope", EntityID: "acme", Name: "x", Rights: c.Rights}); rolegate.AsError(err).Code != "constraint_not_found" {
		t.Fatalf("replace unknown: %v", err)
	}
	clash := upd
	clash.Name = s2.Name
	if _, _, err := f.svc.ReplaceConstraint(f.ctx, clash); rolegate.AsError(err).Code != "constraint_name_taken" {
		t.Fatalf("replace to a taken name: %v", err)
	}
	drev, err := f.svc.DeleteConstraint(f.ctx, "acme", c.ID)
	if err != nil || drev != f.revision() {
		t.Fatalf("delete: %d %v", drev, err)
	}
	if _, err := f.svc.GetConstraint(f.ctx, "acme", c.ID); rolegate.AsError(err).Code != "constraint_not_found" {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := f.svc.DeleteConstraint(f.ctx, "acme", c.ID); rolegate.AsError(err).Code != "constraint_not_found" {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := f.svc.ListConstraints(f.ctx, "nope"); rolegate.AsError(err).Code != "entity_not_found" {
		t.Fatalf("list of an unknown entity: %v", err)
	}

	// The audit log: create, update (before and after, the exception with
	// its reason), delete, in that order.
	evs, err := f.svc.ListAuditEvents(f.ctx, "acme", policy.AuditFilter{ObjectType: policy.AuditObjectConstraint}, policy.Page{Limit: 10, Sort: "time"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		if e.ObjectID == c.ID {
			actions = append(actions, e.Action)
		}
		if e.Action == policy.AuditConstraintUpdate {
			var before, after map[string]any
			if json.Unmarshal(e.Before, &before) != nil || json.Unmarshal(e.After, &after) != nil ||
				before["mode"] != "enforce" || after["mode"] != "report" || !strings.Contains(string(e.After), "two-person office in August") {
				t.Fatalf("update event: %s -> %s", e.Before, e.After)
			}
		}
		if e.Action == policy.AuditConstraintDelete && (e.Before == nil || e.After != nil) {
			t.Fatalf("delete event: %s -> %s", e.Before, e.After)
		}
	}
	if strings.Join(actions, " ") != "constraint.create constraint.update constraint.delete" {
		t.Fatalf("audited %v", actions)
	}
}

// TestConstraintValidation: every bad input is 422 with its code and field,
// and changes nothing.
func TestConstraintValidation(t *testing.T) {
	f := newSoD(t)
	now := f.clock()
	rev := f.revision()
	right := func(o, a string) rolegate.ConstraintRight { return rolegate.ConstraintRight{ObjectType: o, Action: a} }
	exc := func(user, reason string, at time.Time) []rolegate.ConstraintException {
		return []rolegate.ConstraintException{{UserID: user, Reason: reason, ExpiresAt: at}}
	}
	many := func(n int) []rolegate.ConstraintRight {
		var out []rolegate.ConstraintRight
		for i := range n {
			out = append(out, right("obj_"+strings.Repeat("x", i+1), "act"))
		}
		return out
	}
	manyExc := func(n int) []rolegate.ConstraintException {
		var out []rolegate.ConstraintException
		for i := range n {
			out = append(out, rolegate.ConstraintException{UserID: "u" + strings.Repeat("x", i+1), Reason: "r", ExpiresAt: now.Add(time.Hour)})
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(c *rolegate.Constraint)
		code  string
		field string
	}{
		{"no name", func(c *rolegate.Constraint) { c.Name = "" }, "missing_field", "name"},
		{"blank name", func(c *rolegate.Constraint) { c.Name = "   " }, "invalid_name", "name"},
		{"long name", func(c *rolegate.Constraint) { c.Name = strings.Repeat("ü", 101) }, "invalid_name", "name"},
		{"control in name", func(c *rolegate.Constraint) { c.Name = "a\u202eb" }, "invalid_name", "name"},
		{"long description", func(c *rolegate.Constraint) { c.Description = strings.Repeat("é", 1001) }, "invalid_description", "description"},
		{"control in description", func(c *rolegate.Constraint) { c.Description = "a\x00b" }, "invalid_description", "description"},
		{"one right", func(c *rolegate.Constraint) { c.Rights = c.Rights[:1] }, "invalid_field", "rights"},
		{"no rights", func(c *rolegate.Constraint) { c.Rights = nil }, "invalid_field", "rights"},
		{"21 rights", func(c *rolegate.Constraint) { c.Rights = many(21) }, "too_many_rights", "rights"},
		{"repeated right", func(c *rolegate.Constraint) { c.Rights = []rolegate.ConstraintRight{right("a", "b"), right("a", "b")} }, "duplicate_permission", "rights[1]"},
		{"wildcard object", func(c *rolegate.Constraint) { c.Rights[1] = right("*", "approve") }, "invalid_field", "rights[1]"},
		{"wildcard action", func(c *rolegate.Constraint) { c.Rights[0] = right("payable", "*") }, "invalid_field", "rights[0]"},
		{"bad object type", func(c *rolegate.Constraint) { c.Rights[0] = right("Payable", "create") }, "invalid_field", "rights[0].object_type"},
		{"bad action", func(c *rolegate.Constraint) { c.Rights[1] = right("payable", "Approve!") }, "invalid_field", "rights[1].action"},
		{"bad mode", func(c *rolegate.Constraint) { c.Mode = "warn" }, "invalid_field", "mode"},
		{"101 exceptions", func(c *rolegate.Constraint) { c.Exceptions = manyExc(101) }, "too_many_exceptions", "exceptions"},
		{"exception without user", func(c *rolegate.Constraint) { c.Exceptions = exc("", "r", now.Add(time.Hour)) }, "missing_field", "exceptions[0].user_id"},
		{"exception bad user id", func(c *rolegate.Constraint) { c.Exceptions = exc("a b", "r", now.Add(time.Hour)) }, "invalid_user_id", "exceptions[0].user_id"},
		{"exception twice", func(c *rolegate.Constraint) {
			c.Exceptions = append(exc("ana", "r", now.Add(time.Hour)), exc("ana", "s", now.Add(time.Hour))...)
		}, "invalid_field", "exceptions[1].user_id"},
		{"exception without reason", func(c *rolegate.Constraint) { c.Exceptions = exc("ana", " ", now.Add(time.Hour)) }, "missing_field", "exceptions[0].reason"},
		{"exception long reason", func(c *rolegate.Constraint) { c.Exceptions = exc("ana", strings.Repeat("ü", 501), now.Add(time.Hour)) }, "invalid_field", "exceptions[0].reason"},
		{"exception control in reason", func(c *rolegate.Constraint) { c.Exceptions = exc("ana", "a\x07", now.Add(time.Hour)) }, "invalid_field", "exceptions[0].reason"},
		{"exception without expiry", func(c *rolegate.Constraint) { c.Exceptions = exc("ana", "r", time.Time{}) }, "missing_field", "exceptions[0].expires_at"},
		{"exception expired", func(c *rolegate.Constraint) { c.Exceptions = exc("ana", "r", now.Add(-time.Second)) }, "invalid_expires_at", "exceptions[0].expires_at"},
		{"exception past a year", func(c *rolegate.Constraint) { c.Exceptions = exc("ana", "r", now.Add(367*24*time.Hour)) }, "invalid_expires_at", "exceptions[0].expires_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := makerChecker("")
			tc.edit(&c)
			_, _, err := f.svc.CreateConstraint(f.ctx, c)
			e := rolegate.AsError(err)
			if err == nil || e.Kind != rolegate.KindInvalid || e.Code != tc.code || len(e.Details) == 0 || e.Details[0].Field != tc.field {
				t.Fatalf("want 422 %s on %s, got %v (%+v)", tc.code, tc.field, err, e)
			}
		})
	}
	// Replacing with the same bad inputs is refused alike.
	stored := f.constrain(makerChecker(""))
	rev = f.revision()
	for _, tc := range cases {
		c := stored
		c.Rights = append([]rolegate.ConstraintRight(nil), stored.Rights...)
		tc.edit(&c)
		if _, _, err := f.svc.ReplaceConstraint(f.ctx, c); rolegate.AsError(err).Code != tc.code {
			t.Errorf("replace, %s: want %s, got %v", tc.name, tc.code, err)
		}
	}
	if f.revision() != rev {
		t.Fatalf("refused writes moved the revision from %d to %d", rev, f.revision())
	}
	if list, _ := f.svc.ListConstraints(f.ctx, "acme"); len(list) != 1 || list[0].Name != stored.Name || len(list[0].Exceptions) != 0 {
		t.Fatalf("refused writes stored %+v", list)
	}
	// A catalog, when there is one, bounds the rights.
	cat, err := policy.NewCatalog([]policy.CatalogObject{{ObjectType: "payable", Actions: []string{"create", "approve"}}})
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	eng, _ := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	svc := policy.NewService(policy.Config{Store: store, Engine: eng, Catalog: cat})
	if _, err := svc.CreateEntity(f.ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	c := makerChecker("")
	c.Rights[1] = right("payable", "pay")
	if _, _, err := svc.CreateConstraint(f.ctx, c); rolegate.AsError(err).Code != "unknown_object_type" {
		t.Fatalf("outside the catalog: %v", err)
	}
	if _, _, err := svc.CreateConstraint(f.ctx, makerChecker("")); err != nil {
		t.Fatalf("inside the catalog: %v", err)
	}
}

// TestConstraintAuthorization: a user of another entity finds nothing (404);
// an entity user needs the constraint rights (403 without), and to read
// users and roles for the violations; no caller gives itself an exception.
func TestConstraintAuthorization(t *testing.T) {
	f := newSoD(t)
	c := f.constrain(makerChecker(rolegate.ConstraintReport))
	f.user("ana", f.maker, f.checker)
	keeper := f.role("constraint keeper", obj("constraint", "create", "allowed", "read", "allowed", "update", "allowed", "delete", "allowed"))
	auditor := f.role("auditor", obj("user", "read", "allowed"), obj("role", "read", "allowed"))
	f.user("kim", keeper)
	f.user("bo")
	f.user("aud", keeper, auditor)
	as := func(user, entity string) context.Context {
		return auth.WithActor(f.ctx, auth.Actor{ID: "user:" + user, EntityID: entity, UserID: user, Scopes: []string{auth.ScopeCheck, auth.ScopeManage}})
	}
	code := func(err error) string { return rolegate.AsError(err).Code }

	mallory := as("mallory", "evil")
	if _, err := f.svc.GetConstraint(mallory, "acme", c.ID); code(err) != "entity_not_found" {
		t.Fatalf("another entity's user, get: %v", err)
	}
	if _, _, err := f.svc.CreateConstraint(mallory, makerChecker("")); code(err) != "entity_not_found" {
		t.Fatalf("another entity's user, create: %v", err)
	}
	if _, err := f.svc.DeleteConstraint(mallory, "acme", c.ID); code(err) != "entity_not_found" {
		t.Fatalf("another entity's user, delete: %v", err)
	}
	bo := as("bo", "acme")
	for what, err := range map[string]error{
		"list":   second(f.svc.ListConstraints(bo, "acme")),
		"get":    second(f.svc.GetConstraint(bo, "acme", c.ID)),
		"delete": second(f.svc.DeleteConstraint(bo, "acme", c.ID)),
		"create": third(f.svc.CreateConstraint(bo, rolegate.Constraint{EntityID: "acme", Name: "x", Rights: c.Rights})),
		"update": third(f.svc.ReplaceConstraint(bo, c)),
		"violations": func() error {
			_, _, err := f.svc.ConstraintViolations(bo, "acme", c.ID)
			return err
		}(),
	} {
		if code(err) != "forbidden" {
			t.Errorf("entity user without the right, %s: %v", what, err)
		}
	}
	kim := as("kim", "acme")
	// Kim may keep constraints but not see who holds what.
	if _, _, err := f.svc.ConstraintViolations(kim, "acme", c.ID); code(err) != "forbidden" {
		t.Fatalf("violations without reading users: %v", err)
	}
	if vs, _, err := f.svc.ConstraintViolations(as("aud", "acme"), "acme", c.ID); err != nil || len(vs) != 1 || vs[0].UserID != "ana" {
		t.Fatalf("violations: %+v %v", vs, err)
	}
	mine := c
	mine.Exceptions = []rolegate.ConstraintException{{UserID: "kim", Reason: "I need it", ExpiresAt: f.clock().Add(time.Hour)}}
	if _, _, err := f.svc.ReplaceConstraint(kim, mine); code(err) != "privilege_escalation" {
		t.Fatalf("an exception for oneself: %v", err)
	}
	theirs := c
	theirs.Exceptions = []rolegate.ConstraintException{{UserID: "ana", Reason: "holiday cover", ExpiresAt: f.clock().Add(time.Hour)}}
	upd, _, err := f.svc.ReplaceConstraint(kim, theirs)
	if err != nil {
		t.Fatalf("an exception for another: %v", err)
	}
	if upd.UpdatedBy != "user:kim" {
		t.Fatalf("updated by %q", upd.UpdatedBy)
	}
	// An exception of one's own, given by someone else, may stay as it is
	// on a later replacement by oneself.
	withKim := upd
	withKim.Exceptions = append(withKim.Exceptions, rolegate.ConstraintException{UserID: "kim", Reason: "given by ops", ExpiresAt: f.clock().Add(time.Hour)})
	kept, _, err := f.svc.ReplaceConstraint(f.ctx, withKim)
	if err != nil {
		t.Fatal(err)
	}
	kept.Description = "edited by kim"
	if _, _, err := f.svc.ReplaceConstraint(kim, kept); err != nil {
		t.Fatalf("keeping one's exception as it is: %v", err)
	}
	kept.Exceptions[1].ExpiresAt = kept.Exceptions[1].ExpiresAt.Add(time.Hour)
	if _, _, err := f.svc.ReplaceConstraint(kim, kept); code(err) != "privilege_escalation" {
		t.Fatalf("lengthening one's own exception: %v", err)
	}
	if _, err := f.svc.DeleteConstraint(kim, "acme", c.ID); err != nil {
		t.Fatalf("delete with the right: %v", err)
	}
}

func second[T any](_ T, err error) error         { return err }
func third[T any](_ T, _ int64, err error) error { return err }

// TestConstraintEnforcedOnEveryPath: each write path that can make a user
// hold both rights is refused with 409 separation_of_duties and changes
// nothing; the same writes pass once the constraint is gone or reports only.
func TestConstraintEnforcedOnEveryPath(t *testing.T) {
	type path struct {
		name  string
		setup func(f *sodFixture)
		write func(f *sodFixture) error
		user  string
		scope string
	}
	ids := func(rs ...rolegate.Role) *[]string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return &out
	}
	paths := []path{
		{"create user with both roles", nil, func(f *sodFixture) error {
			_, _, err := f.svc.CreateUser(f.ctx, "acme", policy.UserInput{ID: "ana", RoleIDs: ids(f.maker, f.checker)})
			return err
		}, "ana", ""},
		{"create user with own rights", nil, func(f *sodFixture) error {
			_, _, err := f.svc.CreateUser(f.ctx, "acme", policy.UserInput{ID: "ana", RoleIDs: ids(f.maker),
				Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "approve", "allowed_for_own")}}})
			return err
		}, "ana", ""},
		{"create user with the default roles", func(f *sodFixture) {
			yes := true
			for _, r := range []rolegate.Role{f.maker, f.checker} {
				if _, _, err := f.svc.UpdateRole(f.ctx, "acme", r.ID, policy.RoleInput{Default: &yes}, policy.Patch, 0); err != nil {
					f.t.Fatal(err)
				}
			}
		}, func(f *sodFixture) error {
			_, _, err := f.svc.CreateUser(f.ctx, "acme", policy.UserInput{ID: "ana"})
			return err
		}, "ana", ""},
		{"update user's roles", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			_, _, err := f.svc.UpdateUser(f.ctx, "acme", "ana", policy.UserInput{RoleIDs: ids(f.maker, f.checker)})
			return err
		}, "ana", ""},
		{"update user's own rights", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			_, _, err := f.svc.UpdateUser(f.ctx, "acme", "ana", policy.UserInput{
				Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "approve", "allowed")}}})
			return err
		}, "ana", ""},
		{"assign a role", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			_, _, err := f.svc.AssignRole(f.ctx, "acme", "ana", f.checker.ID, "")
			return err
		}, "ana", ""},
		{"assign a role in a scope", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			_, _, err := f.svc.AssignRole(f.ctx, "acme", "ana", f.checker.ID, "team:7")
			return err
		}, "ana", "team:7"},
		{"assign a role until tomorrow", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			until := f.clock().Add(24 * time.Hour)
			_, _, err := f.svc.AssignRoleUntil(f.ctx, "acme", "ana", f.checker.ID, "", &until)
			return err
		}, "ana", ""},
		{"team roles", func(f *sodFixture) { f.user("ana") }, func(f *sodFixture) error {
			_, _, err := f.svc.SetScopedRoles(f.ctx, "acme", "ana", "team:7", []string{f.maker.ID, f.checker.ID})
			return err
		}, "ana", "team:7"},
		{"a role gains a right", func(f *sodFixture) { f.user("ana", f.maker); f.user("bo", f.maker) }, func(f *sodFixture) error {
			p := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "create", "allowed", "approve", "allowed")}}
			_, _, err := f.svc.UpdateRole(f.ctx, "acme", f.maker.ID, policy.RoleInput{Permissions: &p}, policy.Patch, 0)
			return err
		}, "ana", ""},
		{"a role gains a wildcard", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			p := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "*", "allowed")}}
			_, _, err := f.svc.UpdateRole(f.ctx, "acme", f.maker.ID, policy.RoleInput{Permissions: &p}, policy.Patch, 0)
			return err
		}, "ana", ""},
		{"a masking deny is deleted", func(f *sodFixture) { f.user("ana", f.maker, f.checker, f.denier) }, func(f *sodFixture) error {
			_, _, err := f.svc.DeleteRole(f.ctx, "acme", f.denier.ID, true, 0)
			return err
		}, "ana", ""},
		{"a masking deny is unassigned", func(f *sodFixture) { f.user("ana", f.maker, f.checker, f.denier) }, func(f *sodFixture) error {
			_, err := f.svc.UnassignRole(f.ctx, "acme", "ana", f.denier.ID, "")
			return err
		}, "ana", ""},
		{"import", func(f *sodFixture) { f.user("bo", f.maker) }, func(f *sodFixture) error {
			_, err := f.svc.ImportUsers(f.ctx, "acme", []policy.ImportUser{
				{ID: "zed", RoleIDs: ids(f.maker)},
				{ID: "ana", RoleIDs: ids(f.checker), ScopedRoles: []policy.ScopedRoles{{Scope: "team:7", RoleIDs: []string{f.maker.ID}}}},
			})
			return err
		}, "ana", "team:7"},
		{"import changes an existing user", func(f *sodFixture) { f.user("ana", f.maker) }, func(f *sodFixture) error {
			_, err := f.svc.ImportUsers(f.ctx, "acme", []policy.ImportUser{{ID: "ana", RoleIDs: ids(f.maker, f.checker)}})
			return err
		}, "ana", ""},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			f := newSoD(t)
			if p.setup != nil {
				p.setup(f)
			}
			c := f.constrain(makerChecker(""))
			rev := f.revision()
			err := p.write(f)
			refused(t, p.name, err, p.user, p.scope)
			if f.revision() != rev {
				t.Fatalf("a refused write moved the revision from %d to %d", rev, f.revision())
			}
			if p.scope == "" && f.may("ana", "create") && f.may("ana", "approve") {
				t.Fatal("ana holds both after a refused write")
			}
			// A dry run reports what the write would create, and refuses nothing.
			dry, res := f.svc.DryRun()
			if err := p.write(&sodFixture{t: t, svc: dry, ctx: f.ctx, maker: f.maker, checker: f.checker, denier: f.denier, now: f.clock()}); err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if len(res.Violations) == 0 || res.Violations[0].UserID != p.user || res.Violations[0].ConstraintID != c.ID {
				t.Fatalf("dry run reported %+v", res.Violations)
			}
			if f.revision() != rev {
				t.Fatal("a dry run moved the revision")
			}
			// Reporting only, the write passes, and the violation is listed.
			c.Mode = rolegate.ConstraintReport
			if _, _, err := f.svc.ReplaceConstraint(f.ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := p.write(f); err != nil {
				t.Fatalf("under a reporting constraint: %v", err)
			}
			vs, _, err := f.svc.ConstraintViolations(f.ctx, "acme", c.ID)
			if err != nil || len(vs) == 0 {
				t.Fatalf("violations after the write: %+v %v", vs, err)
			}
			// It cannot switch to enforcing while violated.
			c.Mode = rolegate.ConstraintEnforce
			_, _, err = f.svc.ReplaceConstraint(f.ctx, c)
			refused(t, "switch to enforce", err, vs[0].UserID, vs[0].Scope)
			if got, _ := f.svc.GetConstraint(f.ctx, "acme", c.ID); got.Mode != rolegate.ConstraintReport {
				t.Fatalf("switched to %s while violated", got.Mode)
			}
		})
	}
}

// TestConstraintWritesThatCreateNoViolation: writes that give no one both
// rights pass an enforcing constraint: a new role (no holder yet), a role or
// user holding one right only, both rights in different scopes, a user
// holding what it held before, and a write to another entity.
func TestConstraintWritesThatCreateNoViolation(t *testing.T) {
	f := newSoD(t)
	f.constrain(makerChecker(""))
	both := f.role("both", obj("payable", "create", "allowed", "approve", "allowed"))
	f.user("ana", f.maker)
	f.user("bo", f.checker)
	if _, _, err := f.svc.AssignRole(f.ctx, "acme", "ana", f.maker.ID, "team:1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SetScopedRoles(f.ctx, "acme", "bo", "team:2", []string{f.checker.ID, f.denier.ID}); err != nil {
		t.Fatal(err)
	}
	// A deny that masks approve: ana holds create only.
	if _, _, err := f.svc.UpdateUser(f.ctx, "acme", "ana", policy.UserInput{RoleIDs: &[]string{f.maker.ID, f.checker.ID, f.denier.ID}}); err != nil {
		t.Fatalf("both with approve denied: %v", err)
	}
	if f.may("ana", "approve") {
		t.Fatal("the deny does not mask")
	}
	// Removing a right is always allowed.
	if _, err := f.svc.UnassignRole(f.ctx, "acme", "ana", f.checker.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.AssignRole(f.ctx, "acme", "bo", both.ID, ""); rolegate.AsError(err).Code != "separation_of_duties" {
		t.Fatalf("the role holding both: %v", err)
	}
	if _, err := f.svc.CreateEntity(f.ctx, policy.EntityInput{ID: "other"}); err != nil {
		t.Fatal(err)
	}
	name := "both"
	r, _, err := f.svc.CreateRole(f.ctx, "other", policy.RoleInput{Name: &name, Permissions: &both.Permissions})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreateUser(f.ctx, "other", policy.UserInput{ID: "ana", RoleIDs: &[]string{r.ID}}); err != nil {
		t.Fatalf("another entity's constraints apply here: %v", err)
	}
}

// TestConstraintExceptions: a user with an exception in force may hold both
// rights (and is left out of the violations); once it expires the
// violation counts again: listed, and blocking a switch to enforce.
func TestConstraintExceptions(t *testing.T) {
	f := newSoD(t)
	f.user("ana", f.maker)
	f.user("bo", f.maker)
	c := f.constrain(makerChecker("", rolegate.ConstraintException{UserID: "ana", Reason: "two-person office in August", ExpiresAt: f.clock().Add(time.Hour)}))
	if _, _, err := f.svc.AssignRole(f.ctx, "acme", "ana", f.checker.ID, ""); err != nil {
		t.Fatalf("excepted user: %v", err)
	}
	_, _, err := f.svc.AssignRole(f.ctx, "acme", "bo", f.checker.ID, "")
	refused(t, "user without an exception", err, "bo", "")
	if vs, _, err := f.svc.ConstraintViolations(f.ctx, "acme", c.ID); err != nil || len(vs) != 0 {
		t.Fatalf("violations with the exception in force: %+v %v", vs, err)
	}
	// A constraint created over a violation that an exception covers.
	second := makerChecker("", rolegate.ConstraintException{UserID: "ana", Reason: "same", ExpiresAt: f.clock().Add(time.Hour)})
	second.Name = "maker-checker 2"
	if _, _, err := f.svc.CreateConstraint(f.ctx, second); err != nil {
		t.Fatalf("a violation covered by an exception: %v", err)
	}
	second.Name, second.Exceptions = "maker-checker 3", nil
	_, _, err = f.svc.CreateConstraint(f.ctx, second)
	if e := rolegate.AsError(err); e.Code != "separation_of_duties" || len(e.Violations) != 1 || e.Violations[0].UserID != "ana" {
		t.Fatalf("a constraint over a violation: %v", err)
	}

	f.advance(2 * time.Hour)
	vs, _, err := f.svc.ConstraintViolations(f.ctx, "acme", c.ID)
	if err != nil || len(vs) != 1 || vs[0].UserID != "ana" {
		t.Fatalf("violations once the exception expired: %+v %v", vs, err)
	}
	c.Description = "touched"
	_, _, err = f.svc.ReplaceConstraint(f.ctx, c)
	refused(t, "replace while the expired exception's user violates it", err, "ana", "")
	// The expired exception may stay on a reporting constraint.
	c.Mode = rolegate.ConstraintReport
	if _, _, err := f.svc.ReplaceConstraint(f.ctx, c); err != nil {
		t.Fatalf("keep an expired exception: %v", err)
	}
}

// TestConstraintManyViolations: a refusal names at most
// MaxViolationsShown violations; the listing and the dry run all of them.
func TestConstraintManyViolations(t *testing.T) {
	f := newSoD(t)
	for i := range 25 {
		f.user("u"+strings.Repeat("0", 3-len(itoa(i)))+itoa(i), f.maker)
	}
	c := f.constrain(makerChecker(""))
	p := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "create", "allowed", "approve", "allowed")}}
	_, _, err := f.svc.UpdateRole(f.ctx, "acme", f.maker.ID, policy.RoleInput{Permissions: &p}, policy.Patch, 0)
	e := rolegate.AsError(err)
	if e.Code != "separation_of_duties" || len(e.Violations) != rolegate.MaxViolationsShown || !strings.Contains(e.Message, "25 violations") {
		t.Fatalf("refusal: %v, %d violations", err, len(e.Violations))
	}
	dry, res := f.svc.DryRun()
	if _, _, err := dry.UpdateRole(f.ctx, "acme", f.maker.ID, policy.RoleInput{Permissions: &p}, policy.Patch, 0); err != nil || len(res.Violations) != 25 {
		t.Fatalf("dry run: %v, %d violations", err, len(res.Violations))
	}
	c.Mode = rolegate.ConstraintReport
	if _, _, err := f.svc.ReplaceConstraint(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.UpdateRole(f.ctx, "acme", f.maker.ID, policy.RoleInput{Permissions: &p}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	if vs, _, err := f.svc.ConstraintViolations(f.ctx, "acme", c.ID); err != nil || len(vs) != 25 {
		t.Fatalf("listing: %d %v", len(vs), err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestConstraintAccessReport: the access report marks every row of a user
// in violation of a constraint (of either mode) with its name.
func TestConstraintAccessReport(t *testing.T) {
	f := newSoD(t)
	f.user("ana", f.maker, f.checker)
	f.user("bo", f.maker)
	f.user("cy", f.maker, f.checker)
	f.constrain(makerChecker(rolegate.ConstraintReport, rolegate.ConstraintException{UserID: "cy", Reason: "cover", ExpiresAt: f.clock().Add(time.Hour)}))
	marked := map[string][]string{}
	err := f.svc.AccessReport(f.ctx, "acme", func(int64) error { return nil }, func(r engine.ReportRight) error {
		if r.Violates != nil {
			marked[r.UserID] = r.Violates
		} else if marked[r.UserID] != nil {
			t.Errorf("a row of %s unmarked", r.UserID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != 1 || strings.Join(marked["ana"], ",") != "maker-checker" {
		t.Fatalf("marked %v", marked)
	}
}

// TestConstraintExpiringDeny: a deny assignment that expires unmasks a
// right at its expiry, when no write happens: the violation it leaves is
// listed (and reported), and the sweep that then removes the assignment is
// not refused (it changes nothing checks count), so it never sticks.
func TestConstraintExpiringDeny(t *testing.T) {
	f := newSoD(t)
	f.user("ana", f.maker, f.checker)
	until := f.clock().Add(time.Hour)
	if _, _, err := f.svc.AssignRoleUntil(f.ctx, "acme", "ana", f.denier.ID, "", &until); err != nil {
		t.Fatal(err)
	}
	c := f.constrain(makerChecker(""))
	f.advance(2 * time.Hour)
	if vs, _, err := f.svc.ConstraintViolations(f.ctx, "acme", c.ID); err != nil || len(vs) != 1 || vs[0].UserID != "ana" {
		t.Fatalf("violations once the deny expired: %+v %v", vs, err)
	}
	if n, err := f.svc.SweepExpired(f.ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	// Other writes to the entity go on; one that adds to the violation of
	// the same user is refused.
	f.user("bo", f.maker)
	other := f.role("other approver", obj("payable", "approve", "allowed"))
	_, _, err := f.svc.AssignRole(f.ctx, "acme", "bo", other.ID, "")
	refused(t, "a new violation beside an old one", err, "bo", "")
}

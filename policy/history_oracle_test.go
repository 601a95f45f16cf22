package policy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixedLoader serves one policy for every entity.
type fixedLoader struct{ pol engine.Policy }

func (l fixedLoader) LoadPolicy(context.Context, string) (engine.Policy, error) { return l.pol, nil }

// historyService is a service over store with the given clock, as one
// instance of Rolegate (its own engine).
func historyService(t testing.TB, store policy.Store, clock func() time.Time) *policy.Service {
	t.Helper()
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, MaxPast: 4})
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewService(policy.Config{Store: store, Engine: eng, Now: clock})
}

// historyStores runs fn on each store: in memory, SQLite, and PostgreSQL and
// MySQL when ROLEGATE_TEST_POSTGRES_URL / ROLEGATE_TEST_MYSQL_URL name a
// server (each test in a schema or database of its own, dropped after).
func historyStores(t *testing.T, fn func(t *testing.T, open func() policy.Store)) {
	t.Run("memstore", func(t *testing.T) {
		st := memstore.New()
		fn(t, func() policy.Store { return st })
	})
	t.Run("sqlite", func(t *testing.T) {
		fn(t, sqlOpener(t, "sqlite://"+filepath.Join(t.TempDir(), "rolegate.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("ROLEGATE_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("ROLEGATE_TEST_POSTGRES_URL not set")
		}
		admin := adminSQL(t, "pgx", base)
		schema := "rg_hist_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		fn(t, sqlOpener(t, base+sep+"search_path="+schema))
	})
	t.Run("mysql", func(t *testing.T) {
		base := os.Getenv("ROLEGATE_TEST_MYSQL_URL")
		if base == "" {
			t.Skip("ROLEGATE_TEST_MYSQL_URL not set")
		}
		pu, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		admin := adminSQL(t, "mysql", pu.User.String()+"@tcp("+pu.Host+")/")
		name := "rg_hist_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec("DROP DATABASE " + name) })
		u, q := base, ""
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u, q = u[:i], u[i:]
		}
		fn(t, sqlOpener(t, u[:strings.LastIndexByte(u, '/')+1]+name+q))
	})
}

// adminSQL connects to a test server to make a schema or database, without
// the store's migrations (the shared database may be at another version).
func adminSQL(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQL(t *testing.T, url string) *adapters.Store {
	t.Helper()
	s, err := adapters.Open(auth.Internal(context.Background()), url)
	if err != nil {
		t.Fatalf("open %s: %v", adapters.RedactURL(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sqlOpener opens a new connection to the database at each call (an
// instance, or one restarted).
func sqlOpener(t *testing.T, url string) func() policy.Store {
	return func() policy.Store { return openSQL(t, url) }
}

// keptRevision is one revision of the entity as the oracle keeps it.
type keptRevision struct {
	rev int64
	at  time.Time
	pol engine.Policy
}

// historyRun is the state of one oracle run: the instances, the clock and
// every revision's policy.
type historyRun struct {
	t       *testing.T
	rng     *rand.Rand
	clock   *fakeClock
	svcs    []*policy.Service
	stores  []policy.Store
	kept    []keptRevision // by revision
	users   []string
	roles   []string
	created time.Time
}

const histEntity = "acme"

var histLong = "long-" + strings.Repeat("x", 120) // a subject kept as its hash

// keep records the entity's policy if a write took it to a new revision.
func (h *historyRun) keep() {
	pol, err := h.stores[0].LoadPolicy(context.Background(), histEntity)
	if err != nil {
		h.t.Fatal(err)
	}
	if n := len(h.kept); n > 0 && h.kept[n-1].rev == pol.Revision {
		return
	}
	var at time.Time
	if err := h.stores[0].View(context.Background(), func(tx policy.Tx) error {
		revs, err := tx.HistoryRevisions(histEntity, []int64{pol.Revision})
		at = revs[pol.Revision].At
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	if at.IsZero() {
		h.t.Fatalf("revision %d has no commit time in the history", pol.Revision)
	}
	h.kept = append(h.kept, keptRevision{rev: pol.Revision, at: at, pol: pol})
}

var histConditions = []string{`now > timestamp("2030-01-01T05:00:00Z")`, "user.vip == true", "resource.amount <= 100.0"}

func (h *historyRun) rights() *rolegate.Permissions {
	objs, acts := []string{"payable", "invoice", rolegate.Wildcard}, []string{"approve", "pay", rolegate.Wildcard}
	vals := []rolegate.Permission{rolegate.Allowed, rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied}
	var p rolegate.Permissions
	seen := map[string]bool{}
	for range 1 + h.rng.IntN(3) {
		o, a := objs[h.rng.IntN(len(objs))], acts[h.rng.IntN(len(acts))]
		if seen[o+a] {
			continue
		}
		seen[o+a] = true
		ap := rolegate.ActionPermission{ActionName: a, Permission: vals[h.rng.IntN(len(vals))]}
		if h.rng.IntN(4) == 0 {
			ap.Condition = histConditions[h.rng.IntN(len(histConditions))]
		}
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o, Actions: []rolegate.ActionPermission{ap}})
	}
	return &p
}

// write makes one random write through a random instance.
func (h *historyRun) write() {
	ctx := auth.Internal(context.Background())
	svc := h.svcs[h.rng.IntN(len(h.svcs))]
	pick := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return l[h.rng.IntN(len(l))]
	}
	scope := []string{"", "", "team:1"}[h.rng.IntN(3)]
	switch h.rng.IntN(9) {
	case 0, 1:
		name := fmt.Sprintf("role %d", len(h.kept))
		r, _, err := svc.CreateRole(ctx, histEntity, policy.RoleInput{Name: &name, Permissions: h.rights()})
		if err == nil {
			h.roles = append(h.roles, r.ID)
		}
	case 2:
		_, _, _ = svc.UpdateRole(ctx, histEntity, pick(h.roles), policy.RoleInput{Permissions: h.rights()}, policy.Patch, 0)
	case 3:
		if h.rng.IntN(3) == 0 {
			_, _, _ = svc.DeleteRole(ctx, histEntity, pick(h.roles), true, 0)
		} else {
			name := fmt.Sprintf("renamed %d", len(h.kept))
			_, _, _ = svc.UpdateRole(ctx, histEntity, pick(h.roles), policy.RoleInput{Name: &name}, policy.Patch, 0)
		}
	case 4, 5:
		var until *time.Time
		if h.rng.IntN(2) == 0 {
			at := h.clock.now().Add(time.Duration(1+h.rng.IntN(180)) * time.Minute).Truncate(time.Millisecond)
			until = &at
		}
		_, _, _ = svc.AssignRoleUntil(ctx, histEntity, pick(h.users), pick(h.roles), scope, until)
	case 6:
		_, _ = svc.UnassignRole(ctx, histEntity, pick(h.users), pick(h.roles), scope)
	case 7:
		u := pick([]string{"u0", "u1", "u2", histLong})
		attrs := map[string]any{"vip": h.rng.IntN(2) == 0}
		if _, _, err := svc.CreateUser(ctx, histEntity, policy.UserInput{ID: u, Permissions: h.rights(), Attributes: &attrs}); err == nil {
			if !slices.Contains(h.users, u) {
				h.users = append(h.users, u)
			}
		} else {
			_, _, _ = svc.UpdateUser(ctx, histEntity, u, policy.UserInput{Permissions: h.rights()})
		}
	case 8:
		_, _, _ = svc.DeleteUser(ctx, histEntity, pick(h.users))
	}
	h.keep()
}

// revisionAt is the kept revision in force at t.
func (h *historyRun) revisionAt(t time.Time) keptRevision {
	i := sort.Search(len(h.kept), func(i int) bool { return h.kept[i].at.After(t) })
	return h.kept[i-1]
}

// fresh is an engine holding a kept policy, its clock at t.
func fresh(t *testing.T, pol engine.Policy, at time.Time) *engine.Engine {
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: fixedLoader{pol}, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// randomAsOf picks a past instant (or a revision) of the kept history, and
// the revision and instant it reads.
func (h *historyRun) randomAsOf() (rolegate.AsOf, keptRevision, time.Time) {
	if h.rng.IntN(4) == 0 {
		k := h.kept[h.rng.IntN(len(h.kept))]
		return rolegate.AsOf{Revision: k.rev}, k, k.at
	}
	span := h.clock.now().Sub(h.created)
	at := h.created.Add(time.Duration(h.rng.Int64N(int64(span)))).Truncate(time.Millisecond)
	if h.rng.IntN(5) == 0 { // exactly a commit
		at = h.kept[h.rng.IntN(len(h.kept))].at
	}
	return rolegate.AsOf{Time: at}, h.revisionAt(at), at
}

// compare asks every kind of as-of answer of a random instance at random
// instants and compares each with a fresh engine's.
func (h *historyRun) compare(n int) {
	t := h.t
	ctx := auth.Internal(context.Background())
	users := append([]string{"nobody"}, "u0", "u1", "u2", histLong)
	for range n {
		svc := h.svcs[h.rng.IntN(len(h.svcs))]
		asOf, k, at := h.randomAsOf()
		f := fresh(t, k.pol, at)
		what := fmt.Sprintf("as of %+v (revision %d at %s)", asOf, k.rev, at.Format(time.RFC3339Nano))
		// Checks, single and batched.
		var reqs []policy.CheckRequest
		for range 4 {
			req := policy.CheckRequest{EntityID: histEntity, UserID: users[h.rng.IntN(len(users))],
				ObjectType: []string{"payable", "invoice"}[h.rng.IntN(2)], Action: []string{"approve", "pay"}[h.rng.IntN(2)],
				Scope: []string{"", "team:1"}[h.rng.IntN(2)], Explain: h.rng.IntN(2) == 0, AsOf: asOf}
			if h.rng.IntN(2) == 0 {
				req.OwnerID = req.UserID
			}
			if h.rng.IntN(2) == 0 {
				req.Resource = map[string]any{"amount": float64(h.rng.IntN(200))}
			}
			reqs = append(reqs, req)
			got, err := svc.Check(ctx, req)
			if err != nil {
				t.Fatalf("%s: check %+v: %v", what, req, err)
			}
			want, err := f.Check(ctx, engine.Request{EntityID: histEntity, UserID: req.UserID, ObjectType: req.ObjectType, Action: req.Action,
				OwnerID: req.OwnerID, Scope: req.Scope, Resource: req.Resource, Explain: req.Explain})
			if err != nil {
				t.Fatal(err)
			}
			if got.ValidUntil > time.Now().UnixMilli() {
				t.Fatalf("%s: an as-of answer valid until %d: a client's cache would keep it", what, got.ValidUntil)
			}
			got.ValidUntil, want.ValidUntil = 0, 0
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: check %+v\nas of %+v\nfresh %+v", what, req, got, want)
			}
		}
		// A batch mixing the past and now.
		now := reqs[0]
		now.AsOf = rolegate.AsOf{}
		batch := append(slices.Clone(reqs), now)
		out, err := svc.CheckBatch(ctx, batch)
		if err != nil {
			t.Fatalf("%s: batch: %v", what, err)
		}
		for i, req := range reqs {
			single, _ := svc.Check(ctx, req)
			out[i].ValidUntil, single.ValidUntil = 0, 0
			if !reflect.DeepEqual(out[i], single) {
				t.Fatalf("%s: batch check %d %+v\nbatch  %+v\nsingle %+v", what, i, req, out[i], single)
			}
		}
		if live, _ := svc.Check(ctx, now); out[len(reqs)].Revision != live.Revision || out[len(reqs)].Permission != live.Permission {
			t.Fatalf("%s: the live check of a batch answered %+v, alone %+v", what, out[len(reqs)], live)
		}
		// Who-can.
		obj, act, scope := reqs[0].ObjectType, reqs[0].Action, reqs[0].Scope
		for _, res := range []map[string]any{nil, {"amount": 50.0}} {
			got, rev, err := svc.WhoCanAt(ctx, asOf, histEntity, obj, act, scope, "", 100, res)
			if err != nil {
				t.Fatalf("%s: who-can: %v", what, err)
			}
			want, _, err := f.WhoCanResource(ctx, histEntity, obj, act, scope, "", 100, res)
			if err != nil {
				t.Fatal(err)
			}
			if rev != k.rev || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: who-can %s %s %q (revision %d)\nas of %+v\nfresh %+v", what, obj, act, scope, rev, got, want)
			}
		}
		// Effective rights.
		for _, u := range users[1:] {
			got, rev, err := svc.UserPermissionsAt(ctx, asOf, histEntity, u, scope)
			want, _, ferr := f.Effective(ctx, histEntity, u, scope)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if isCode(err, "user_not_found") && len(want.Objects) == 0 {
				continue
			}
			if err != nil {
				h.stores[0].View(ctx, func(tx policy.Tx) error {
					rows, err := tx.RuleHistory(histEntity, []string{engine.UserSubject(u)}, 0, 0)
					t.Logf("rows %v %v; policy %v", rows, err, k.pol.Rules)
					return nil
				})
				t.Fatalf("%s: permissions of %s: %v", what, u, err)
			}
			if rev != k.rev || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: permissions of %s %q\nas of %+v\nfresh %+v", what, u, scope, got, want)
			}
		}
		// The access report.
		var got []engine.ReportRight
		var rev int64
		if err := svc.AccessReportAt(ctx, asOf, histEntity, func(r int64) error { rev = r; return nil },
			func(r engine.ReportRight) error { got = append(got, r); return nil }); err != nil {
			t.Fatalf("%s: report: %v", what, err)
		}
		rep, err := f.Report(ctx, histEntity)
		if err != nil {
			t.Fatal(err)
		}
		var want []engine.ReportRight
		for _, u := range slices.Sorted(slices.Values(users[1:])) {
			want = append(want, rep.UserRights(u)...)
		}
		if rev != k.rev || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: report (revision %d)\nas of %+v\nfresh %+v", what, rev, got, want)
		}
	}
}

func isCode(err error, code string) bool {
	var e *rolegate.Error
	return errors.As(err, &e) && e.Code == code
}

// oracleIntervals works out a user's access history by judging the right
// with a fresh engine at every kept revision in the window and at every
// expiry of the user's assignments inside it.
func (h *historyRun) oracleIntervals(user string, q policy.HistoryQuery) []rolegate.AccessInterval {
	t := h.t
	ctx := context.Background()
	start, end := h.kept[0].at, h.clock.now()
	if !q.From.IsZero() && q.From.After(start) {
		start = q.From
	}
	if !q.To.IsZero() && q.To.Before(end) {
		end = q.To
	}
	type point struct {
		k  keptRevision
		at time.Time
	}
	var pts []point
	first := h.revisionAt(start)
	pts = append(pts, point{first, start})
	subs := []string{engine.UserSubject(user)}
	if q.Scope != "" {
		subs = append(subs, engine.ScopedSubject(q.Scope, user))
	}
	expiries := map[int64]bool{}
	for _, k := range h.kept {
		if k.rev > first.rev && !k.at.After(end) {
			pts = append(pts, point{k, k.at})
		}
		for _, r := range k.pol.Rules {
			if r.PType == "g" && len(r.Values) == 4 && slices.Contains(subs, r.Values[0]) {
				var ms int64
				fmt.Sscan(r.Values[3], &ms)
				expiries[ms] = true
			}
		}
	}
	for ms := range expiries {
		at := time.UnixMilli(ms).UTC()
		if at.After(start) && !at.After(end) {
			pts = append(pts, point{h.revisionAt(at), at})
		}
	}
	sort.SliceStable(pts, func(i, j int) bool {
		if !pts[i].at.Equal(pts[j].at) {
			return pts[i].at.Before(pts[j].at)
		}
		return pts[i].k.rev < pts[j].k.rev
	})
	var out []rolegate.AccessInterval
	var cur *rolegate.AccessInterval
	for _, p := range pts {
		f := fresh(t, p.k.pol, p.at)
		hs, _, err := f.WhoCan(ctx, histEntity, q.ObjectType, q.Action, q.Scope, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		var next *rolegate.AccessInterval
		for _, hd := range hs {
			if hd.UserID != user {
				continue
			}
			next = &rolegate.AccessInterval{From: rolegate.Revision{Revision: p.k.rev, At: p.at}, Permission: hd.Permission, Condition: hd.Condition}
			for _, m := range hd.Via {
				v := rolegate.HeldVia{RoleID: m.RoleID, RoleName: m.RoleName}
				if m.RoleID != "" && q.Scope != "" && !wideLink(p.k.pol, user, m.RoleID, p.at) {
					v.Scope = q.Scope
				}
				if !slices.ContainsFunc(next.Via, func(o rolegate.HeldVia) bool { return o.RoleID == v.RoleID && o.Scope == v.Scope }) {
					next.Via = append(next.Via, v)
				}
			}
			sort.Slice(next.Via, func(i, j int) bool {
				return next.Via[i].RoleID < next.Via[j].RoleID || (next.Via[i].RoleID == next.Via[j].RoleID && next.Via[i].Scope < next.Via[j].Scope)
			})
		}
		if cur != nil && next != nil && cur.Permission == next.Permission && cur.Condition == next.Condition &&
			slices.EqualFunc(cur.Via, next.Via, func(a, b rolegate.HeldVia) bool { return a.RoleID == b.RoleID && a.Scope == b.Scope }) {
			continue
		}
		if cur != nil {
			to := next
			r := rolegate.Revision{Revision: p.k.rev, At: p.at}
			if to != nil {
				r = to.From
			}
			cur.To = &r
			out = append(out, *cur)
		}
		cur = next
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// wideLink reports whether the policy holds the user's entity-wide
// assignment of the role, unexpired at at.
func wideLink(pol engine.Policy, user, roleID string, at time.Time) bool {
	for _, r := range pol.Rules {
		if r.PType == "g" && r.Values[0] == engine.UserSubject(user) && r.Values[1] == engine.RoleSubject(roleID) {
			if len(r.Values) < 4 {
				return true
			}
			var ms int64
			fmt.Sscan(r.Values[3], &ms)
			if at.Before(time.UnixMilli(ms)) {
				return true
			}
		}
	}
	return false
}

// compareHistory compares AccessHistory with the oracle's intervals for
// random users, rights and windows.
func (h *historyRun) compareHistory(n int) {
	t := h.t
	ctx := auth.Internal(context.Background())
	opened := 0
	for range n {
		svc := h.svcs[h.rng.IntN(len(h.svcs))]
		user := []string{"u0", "u1", "u2", histLong}[h.rng.IntN(4)]
		q := policy.HistoryQuery{ObjectType: []string{"payable", "invoice"}[h.rng.IntN(2)], Action: []string{"approve", "pay"}[h.rng.IntN(2)],
			Scope: []string{"", "team:1"}[h.rng.IntN(2)]}
		if h.rng.IntN(2) == 0 {
			_, _, q.From = h.randomAsOf()
		}
		if h.rng.IntN(2) == 0 {
			_, _, q.To = h.randomAsOf()
			if q.To.Before(q.From) {
				q.From, q.To = q.To, q.From
			}
		}
		got, _, err := svc.AccessHistory(ctx, histEntity, user, q)
		if isCode(err, "user_not_found") {
			continue
		}
		if err != nil {
			t.Fatalf("history of %s %+v: %v", user, q, err)
		}
		want := h.oracleIntervals(user, q)
		// Compare what the oracle knows: the spans, values and roles.
		strip := func(l []rolegate.AccessInterval) []rolegate.AccessInterval {
			out := make([]rolegate.AccessInterval, len(l))
			for i, iv := range l {
				iv.From = rolegate.Revision{Revision: iv.From.Revision, At: iv.From.At.UTC()}
				if iv.To != nil {
					to := rolegate.Revision{Revision: iv.To.Revision, At: iv.To.At.UTC()}
					iv.To = &to
				}
				iv.Opened, iv.Closed = nil, nil
				out[i] = iv
			}
			return out
		}
		for _, iv := range got {
			if iv.Opened != nil && iv.From.Actor == "" && iv.Opened.Action == "" {
				t.Fatalf("interval opened by an empty change: %+v", iv)
			}
			if iv.Opened != nil {
				opened++
			}
		}
		if g, w := strip(got), strip(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("history of %s %+v\nservice %s\noracle  %s", user, q, fmtIntervals(g), fmtIntervals(w))
		}
	}
	if opened == 0 {
		t.Fatal("no interval names the change that opened it")
	}
}

func fmtIntervals(l []rolegate.AccessInterval) string {
	var b strings.Builder
	for _, iv := range l {
		to := "open"
		if iv.To != nil {
			to = fmt.Sprintf("r%d@%s", iv.To.Revision, iv.To.At.Format("15:04:05.000"))
		}
		fmt.Fprintf(&b, "\n  [r%d@%s, %s) %s %q via %+v", iv.From.Revision, iv.From.At.Format("15:04:05.000"), to, iv.Permission, iv.Condition, iv.Via)
	}
	return b.String()
}

// TestHistoryOracle: random writes through the service (roles with allow,
// deny, own and conditional rights, renamed and deleted; assignments with
// expiries, entity-wide and scoped; users with rights and attributes, a long
// id among them), each revision's policy kept in memory; then, at random
// past instants and revisions, every as-of answer (check, batch, who-can,
// effective rights, the access report) equals a fresh engine's over the
// kept policy with its clock at the instant, and access histories equal the
// intervals found by judging every revision. Two instances write and answer
// in turn, and both restart half way.
func TestHistoryOracle(t *testing.T) {
	historyStores(t, func(t *testing.T, open func() policy.Store) {
		seeds := 1
		if _, mem := open().(*memstore.Store); mem && !testing.Short() {
			seeds = 8 // in memory, several runs cost little
		}
		for seed := range seeds {
			st := open
			if seed > 0 {
				fresh := memstore.New()
				st = func() policy.Store { return fresh }
			}
			t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { historyOracleRun(t, st, uint64(seed)) })
		}
	})
}

func historyOracleRun(t *testing.T, open func() policy.Store, seed uint64) {
	{
		clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		h := &historyRun{t: t, rng: rand.New(rand.NewPCG(25, 7+seed)), clock: clock}
		for range 2 {
			st := open()
			h.stores = append(h.stores, st)
			h.svcs = append(h.svcs, historyService(t, st, clock.now))
		}
		ctx := auth.Internal(context.Background())
		if _, err := h.svcs[0].CreateEntity(ctx, policy.EntityInput{ID: histEntity}); err != nil {
			t.Fatal(err)
		}
		h.created = clock.now()
		h.keep()
		writes := 60
		if testing.Short() {
			writes = 30
		}
		for i := range writes {
			clock.add(time.Duration(1+h.rng.IntN(40)) * time.Minute)
			h.write()
			if i == writes/2 {
				h.compare(10)
				// Both instances restart: new engines over the store.
				for j := range h.svcs {
					if _, mem := h.stores[j].(*memstore.Store); !mem {
						h.stores[j] = open()
					}
					h.svcs[j] = historyService(t, h.stores[j], clock.now)
				}
			}
		}
		clock.add(time.Hour)
		if len(h.kept) < writes/3 {
			t.Fatalf("only %d revisions kept of %d writes", len(h.kept), writes)
		}
		h.compare(25)
		h.compareHistory(40)
	}
}

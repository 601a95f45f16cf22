package systemtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// historyStory is what a history test wrote, and when: a role approver
// (payable approve) held by u-1 from revision assigned, the role's approve
// right turned to not_allowed at revision changed, the role taken at
// revision unassigned; before is an instant before the entity existed, held
// one while u-1 could approve, after one once it could not.
type historyStory struct {
	roleID                        string
	assigned, changed, unassigned int64
	before, held, after           time.Time
}

// pause leaves the clock time to move past a commit, so that an instant
// taken between two writes lies strictly between them.
func pause() { time.Sleep(30 * time.Millisecond) }

// writeHistory writes the story through the Go client.
func writeHistory(t *testing.T, c *client.Client) historyStory {
	t.Helper()
	ctx := context.Background()
	var st historyStory
	st.before = time.Now().UTC()
	pause()
	for _, e := range []string{"acme", "beta"} {
		if _, err := c.CreateEntity(ctx, e, ""); err != nil {
			t.Fatal(err)
		}
	}
	name := "approver"
	rights := func(perm string) *client.Permissions {
		return &client.Permissions{Objects: []client.ObjectPermissions{{ObjectType: "payable", Actions: []client.ActionPermission{
			{ActionName: "approve", Permission: perm}}}}}
	}
	r, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: &name, Permissions: rights("allowed")})
	if err != nil {
		t.Fatal(err)
	}
	st.roleID = r.ID
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u-1", RoleIDs: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	a, err := c.AssignRole(ctx, "acme", "u-1", r.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	st.assigned = a.Revision
	pause()
	st.held = time.Now().UTC()
	pause()
	if _, err := c.PatchRole(ctx, "acme", r.ID, client.RoleInput{Permissions: rights("not_allowed")}, 0); err != nil {
		t.Fatal(err)
	}
	e, err := c.GetEntity(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	st.changed = e.Revision
	pause()
	st.after = time.Now().UTC()
	pause() // commit times are kept to the millisecond
	if err := c.UnassignRole(ctx, "acme", "u-1", r.ID, ""); err != nil {
		t.Fatal(err)
	}
	if e, err = c.GetEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	st.unassigned = e.Revision
	return st
}

// The past on the real binary, on each store: written, the server restarted
// (history is the database's, not the instance's), then asked through the Go
// client (HTTP and gRPC), its cache, the CLI, and raw HTTP for the attacks.
func TestHistoryEndToEnd(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(*testing.T) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}, {"mysql", mysqlURL}} {
		t.Run(db.name, func(t *testing.T) {
			url := db.url(t)
			env := map[string]string{"ROLEGATE_DATABASE_URL": url, "ROLEGATE_GRPC_ADDR": "127.0.0.1:0"}
			s := startServer(t, env)
			c, err := client.New(s.base, client.WithToken(testToken))
			if err != nil {
				t.Fatal(err)
			}
			st := writeHistory(t, c)
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			s = startServer(t, env)
			if c, err = client.New(s.base, client.WithToken(testToken)); err != nil {
				t.Fatal(err)
			}
			historyAnswers(t, s, c, st)
		})
	}
}

func historyAnswers(t *testing.T, s *server, c *client.Client, st historyStory) {
	ctx := context.Background()
	q := client.CheckRequest{EntityID: "acme", UserID: "u-1", ObjectType: "payable", Action: "approve"}
	at := func(r client.CheckRequest, asOf *string, rev *int64) client.CheckRequest {
		r.AsOf, r.AtRevision = asOf, rev
		return r
	}
	for _, tc := range []struct {
		what    string
		r       client.CheckRequest
		allowed bool
		rev     int64 // 0: not checked
	}{
		{"now", q, false, 0},
		{"as of held", at(q, client.At(st.held), nil), true, st.assigned},
		{"at the assignment", at(q, nil, client.AtRevision(st.assigned)), true, st.assigned},
		{"at the change", at(q, nil, client.AtRevision(st.changed)), false, st.changed},
		{"as of after", at(q, client.At(st.after), nil), false, st.changed},
	} {
		d, err := c.Check(ctx, tc.r)
		if err != nil || d.Allowed != tc.allowed || (tc.rev != 0 && d.Revision != tc.rev) {
			t.Errorf("check %s: %+v %v, want allowed=%v at %d", tc.what, d, err, tc.allowed, tc.rev)
		}
	}
	ds, err := c.CheckBatch(ctx, []client.CheckRequest{q, at(q, client.At(st.held), nil), at(q, nil, client.AtRevision(st.changed))})
	if err != nil || len(ds) != 3 || ds[0].Allowed || !ds[1].Allowed || ds[2].Allowed {
		t.Errorf("batch: %+v %v", ds, err)
	}
	d, err := c.Check(ctx, func() client.CheckRequest { r := at(q, client.At(st.held), nil); r.Explain = true; return r }())
	if err != nil || len(d.Matched) != 1 || d.Matched[0].RoleID == nil || *d.Matched[0].RoleID != st.roleID {
		t.Errorf("explained as-of check: %+v %v", d, err)
	}

	// The cache answers now from what it holds, and the past from the
	// server, never mixing them.
	cache := client.NewCache(c, client.CacheOptions{Size: 100})
	defer cache.Close()
	for i := 0; i < 3; i++ {
		if d, err := cache.Check(ctx, q); err != nil || d.Allowed {
			t.Fatalf("cached now: %+v %v", d, err)
		}
		if d, err := cache.Check(ctx, at(q, client.At(st.held), nil)); err != nil || !d.Allowed {
			t.Fatalf("cached as of held: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// gRPC.
	conn, err := grpc.NewClient(s.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := c.GRPCChecker(conn)
	if d, err := g.Check(ctx, at(q, client.At(st.held), nil)); err != nil || !d.Allowed || d.Revision != st.assigned {
		t.Errorf("gRPC as of held: %+v %v", d, err)
	}
	if d, err := g.Check(ctx, at(q, nil, client.AtRevision(st.changed))); err != nil || d.Allowed {
		t.Errorf("gRPC at the change: %+v %v", d, err)
	}
	if _, err := g.Check(ctx, at(q, client.At(st.held), client.AtRevision(st.assigned))); !client.IsCode(err, "invalid_as_of") {
		t.Errorf("gRPC with both: %v", err)
	}

	// who-can, effective rights, the report.
	held := client.AsOf{Time: st.held}
	page, rev, err := c.WhoCan(ctx, "acme", "payable", "approve", client.WhoCanOptions{AsOf: held})
	if err != nil || len(page.Data) != 1 || page.Data[0].UserID != "u-1" || rev != st.assigned {
		t.Errorf("who-can as of held: %+v %d %v", page, rev, err)
	}
	if page, _, err := c.WhoCan(ctx, "acme", "payable", "approve", client.WhoCanOptions{}); err != nil || len(page.Data) != 0 {
		t.Errorf("who-can now: %+v %v", page, err)
	}
	p, rev, err := c.UserPermissionsAt(ctx, "acme", "u-1", "", held)
	if err != nil || rev != st.assigned || !strings.Contains(mustJSON(p), `"action_name":"approve","permission":"allowed"`) {
		t.Errorf("permissions as of held: %s %d %v", mustJSON(p), rev, err)
	}
	rep, err := c.AccessReportAt(ctx, "acme", client.AsOf{Revision: st.assigned})
	if err != nil || rep.Revision != st.assigned || !strings.Contains(mustJSON(rep.Data), `"user_id":"u-1","scope":null,"object_type":"payable","action":"approve"`) {
		t.Errorf("report at the assignment: %+v %v", rep, err)
	}

	// The access history: opened by the assignment, closed by the role's
	// change, each by the admin.
	h, err := c.AccessHistory(ctx, "acme", "u-1", client.HistoryQuery{ObjectType: "payable", Action: "approve"})
	if err != nil || len(h.Data) != 1 {
		t.Fatalf("history: %+v %v", h, err)
	}
	iv := h.Data[0]
	if iv.From.Revision != st.assigned || iv.To == nil || iv.To.Revision != st.changed || len(iv.Via) != 1 || iv.Via[0].RoleID != st.roleID ||
		iv.Opened == nil || iv.Opened.Action != "assignment.create" || iv.Closed == nil || iv.Closed.Action != "role.update" ||
		iv.From.Actor == "" || h.Revision != st.unassigned {
		t.Errorf("history: %s", mustJSON(h))
	}
	if h, err := c.AccessHistory(ctx, "acme", "u-1", client.HistoryQuery{ObjectType: "payable", Action: "approve", From: st.after}); err != nil || len(h.Data) != 0 {
		t.Errorf("history after the change: %+v %v", h, err)
	}

	// The CLI of the binary.
	bin := testkit.Binary(t)
	env := map[string]string{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": testToken, "ROLEGATE_ENTITY": "acme"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "u-1", "payable", "approve", "--as-of", st.held.Format(time.RFC3339Nano)}, "allowed (allowed) at revision " + strconv.FormatInt(st.assigned, 10)},
		{[]string{"check", "u-1", "payable", "approve", "--at-revision", strconv.FormatInt(st.changed, 10)}, "denied (not_allowed)"},
		{[]string{"users", "history", "u-1", "--object-type", "payable", "--action", "approve"}, "role.update"},
		{[]string{"users", "permissions", "u-1", "--at-revision", strconv.FormatInt(st.assigned, 10)}, "approve"},
	} {
		r := rolegateCLI(t, bin, env, tc.args...)
		if r.code != 0 || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("rolegate %v: exit %d, want %q\n%s%s", tc.args, r.code, tc.want, r.stdout, r.stderr)
		}
	}

	// Attacks over raw HTTP.
	body := func(extra string) json.RawMessage {
		return json.RawMessage(`{"entity_id":"acme","user_id":"u-1","object_type":"payable","action":"approve",` + extra + `}`)
	}
	for _, tc := range []struct{ extra, code string }{
		{`"as_of":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"`, "invalid_as_of"},
		{`"as_of":"` + st.before.Format(time.RFC3339Nano) + `"`, "before_entity"},
		{`"at_revision":` + strconv.FormatInt(st.unassigned+1, 10), "invalid_revision"},
		{`"at_revision":9223372036854775807`, "invalid_revision"},
		{`"at_revision":0`, "invalid_revision"},
		{`"at_revision":1,"as_of":"` + st.held.Format(time.RFC3339Nano) + `"`, "invalid_as_of"},
		{`"at_revision":1,"min_revision":1`, "invalid_as_of"},
		{`"as_of":"31.03.2026"`, "invalid_as_of"},
	} {
		if code, _, out := s.callBad("POST", "/v1/check", body(tc.extra)); code != 422 || errCode(out) != tc.code {
			t.Errorf("%s: %d %v, want 422 %s", tc.extra, code, out, tc.code)
		}
	}
	// A check-only client asks now, not the past; a client of another
	// entity finds nothing of acme's past.
	checker, err := c.CreateClient(ctx, client.APIClientInput{Name: "checker", EntityID: "acme", Scopes: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := client.New(s.base, client.WithClientCredentials(checker.ClientID, checker.Secret))
	if _, err := cc.Check(ctx, q); err != nil {
		t.Fatalf("check-only client, now: %v", err)
	}
	if _, err := cc.Check(ctx, at(q, client.At(st.held), nil)); !client.IsStatus(err, http.StatusForbidden) {
		t.Errorf("check-only client, as of: %v", err)
	}
	if _, err := cc.AccessHistory(ctx, "acme", "u-1", client.HistoryQuery{ObjectType: "payable", Action: "approve"}); !client.IsStatus(err, http.StatusForbidden) {
		t.Errorf("check-only client, history: %v", err)
	}
	other, err := c.CreateClient(ctx, client.APIClientInput{Name: "beta-admin", EntityID: "beta", Scopes: []string{"check", "manage"}})
	if err != nil {
		t.Fatal(err)
	}
	oc, _ := client.New(s.base, client.WithClientCredentials(other.ClientID, other.Secret))
	if _, err := oc.AccessHistory(ctx, "acme", "u-1", client.HistoryQuery{ObjectType: "payable", Action: "approve"}); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("another entity's client, history: %v", err)
	}
	if _, _, err := oc.WhoCan(ctx, "acme", "payable", "approve", client.WhoCanOptions{AsOf: held}); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("another entity's client, who-can as of: %v", err)
	}
	if d, err := oc.Check(ctx, at(q, client.At(st.held), nil)); err == nil || d.Allowed {
		t.Errorf("another entity's client, check as of: %+v %v", d, err)
	}
	if code, _, _ := s.callToken("", "GET", "/v1/entities/acme/users/u-1/access-history?object_type=payable&action=approve", nil); code != http.StatusUnauthorized {
		t.Errorf("no token, history: %d", code)
	}
}

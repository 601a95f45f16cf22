package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/internal/testkit"
)

// feedItem writes one item of the changes feed as "type:op:user:role:scope"
// (trailing empty parts left out), for comparing.
func feedItem(c api.Change) string {
	return strings.TrimRight(strings.Join([]string{c.Type, c.Op, c.UserID, c.RoleID, c.Scope}, ":"), ":")
}

// changes calls the feed and fails the test unless it answers 200.
func (s *server) changes(entity string, query string) (items []string, revs []int64, rev int64, more bool) {
	s.t.Helper()
	out := mustAs[api.Changes](s, 200, "GET", "/v1/entities/"+entity+"/changes?"+query, nil)
	items, revs = []string{}, []int64{}
	for _, it := range out.Data {
		items = append(items, feedItem(it))
		revs = append(revs, it.Revision)
	}
	return items, revs, out.Revision, out.HasMore
}

// changeWaiters reads rolegate_change_waiters.
func (s *server) changeWaiters() float64 {
	s.t.Helper()
	_, text := s.get(testToken, "/metrics")
	return metric(s.t, text, "rolegate_change_waiters")
}

type polled struct {
	items  []string
	rev    int64
	status int
	took   time.Duration
	err    error
}

// poll long-polls the feed in the background.
func (s *server) poll(token, entity string, since int64, wait int) chan polled {
	ch := make(chan polled, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/entities/%s/changes?since=%d&wait=%d", s.base, entity, since, wait), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- polled{err: err, took: time.Since(start)}
			return
		}
		defer res.Body.Close()
		var out api.Changes
		p := polled{status: res.StatusCode, took: time.Since(start)}
		dec := json.NewDecoder(res.Body)
		dec.DisallowUnknownFields()
		p.err = dec.Decode(&out)
		p.rev = out.Revision
		for _, it := range out.Data {
			p.items = append(p.items, feedItem(it))
		}
		ch <- p
	}()
	return ch
}

// TestChangesFeed: every kind of write shows in the changes feed of the real
// server as the items it touched, under the revision the write answered
// (native roles, users, assignments, scoped ones, the import, and the
// three facades); the whole feed read in pages of any limit is the same, no
// revision cut; a long poll wakes on a write, ends empty after its wait, and
// says "entity delete" when the entity goes (then 404); 422 for a revision
// not reached, 410 once the log is trimmed past it.
func TestChangesFeed(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	const e = "T12345678" // an id Dintero's facade accepts
	var feed []string     // every item written, as "revision|item"
	var last int64
	// write makes a write and checks that the feed after the revision
	// before it lists exactly want (in any order within the revision),
	// "{id}" standing for the id of the object the write answers.
	write := func(status int, method, path, body string, want []string, headers ...string) string {
		t.Helper()
		st, h, out := s.raw(method, path, body, headers...)
		if st != status {
			t.Fatalf("%s %s: %d %v", method, path, st, out)
		}
		id, _ := get(out, "id").(string)
		if id == "" {
			id, _ = get(out, "data", "id").(string)
		}
		rev := revisionOf(t, h)
		items, revs, at, more := s.changes(e, fmt.Sprintf("since=%d", rev-1))
		sorted := append([]string(nil), items...)
		sort.Strings(sorted)
		var expect []string
		for _, w := range want {
			expect = append(expect, strings.ReplaceAll(w, "{id}", id))
		}
		sort.Strings(expect)
		if strings.Join(sorted, " ") != strings.Join(expect, " ") || at != rev || more {
			t.Fatalf("%s %s (revision %d): feed %v at %d (more %v); want %v", method, path, rev, items, at, more, expect)
		}
		for i, r := range revs {
			if r != rev {
				t.Fatalf("%s %s: item %s at revision %d, want %d", method, path, items[i], r, rev)
			}
			feed = append(feed, fmt.Sprintf("%d|%s", r, items[i]))
		}
		last = rev
		return id
	}
	native := "/v1/entities/" + e

	write(201, "POST", "/v1/entities", `{"id":"`+e+`"}`, []string{"entity:put"})
	// Roles: created (also one with no rules), replaced, patched (no rule
	// changes), deleted.
	r1 := write(201, "POST", native+"/roles", `{"name":"reader","permissions":{"objects":[{"object_type":"doc","actions":[{"action_name":"read","permission":"allowed"}]}]}}`, []string{"role:put::{id}"})
	r2 := write(201, "POST", native+"/roles", `{"name":"empty"}`, []string{"role:put::{id}"})
	write(200, "PUT", native+"/roles/"+r2, `{"name":"empty","description":"holds nothing"}`, []string{"role:put::" + r2})
	write(200, "PATCH", native+"/roles/"+r1, `{"description":"reads docs"}`, []string{"role:put::" + r1})
	r3 := write(201, "POST", native+"/roles", `{"name":"short-lived"}`, []string{"role:put::{id}"})
	write(204, "DELETE", native+"/roles/"+r3, "", []string{"role:delete::" + r3})
	// Users: created with a role, renamed (no rule changes), given other
	// roles, deleted with what it holds.
	write(201, "POST", native+"/users", `{"id":"u1","email":"u1@example.com","role_ids":["`+r1+`"]}`, []string{"user:put:u1", "assignment:put:u1:" + r1})
	write(200, "PATCH", native+"/users/u1", `{"name":"Ada"}`, []string{"user:put:u1"})
	write(200, "PATCH", native+"/users/u1", `{"role_ids":["`+r2+`"]}`, []string{"user:put:u1", "assignment:delete:u1:" + r1, "assignment:put:u1:" + r2})
	// Assignments, entity-wide and scoped; one made twice changes nothing.
	write(200, "PUT", native+"/users/u1/roles/"+r1, `{"scope":"team:1"}`, []string{"assignment:put:u1:" + r1 + ":team:1"})
	write(200, "PUT", native+"/users/u1/roles/"+r1, `{"scope":"team:1"}`, nil)
	write(200, "PUT", native+"/users/u1/roles/"+r1, ``, []string{"assignment:put:u1:" + r1})
	write(204, "DELETE", native+"/users/u1/roles/"+r1+"?scope=team:1", "", []string{"assignment:delete:u1:" + r1 + ":team:1"})
	write(204, "DELETE", native+"/roles/"+r2+"?force=true", "", []string{"assignment:delete:u1:" + r2, "role:delete::" + r2})
	write(204, "DELETE", native+"/users/u1", "", []string{"assignment:delete:u1:" + r1, "user:delete:u1"})
	// The import: one revision for every user it writes.
	write(200, "POST", native+"/users/import", `{"users":[{"id":"w1","email":"w1@example.com","role_ids":["`+r1+`"]},`+
		`{"id":"w2","role_ids":[],"scoped_roles":[{"scope":"team:2","role_ids":["`+r1+`"]}]}]}`,
		[]string{"user:put:w1", "assignment:put:w1:" + r1, "user:put:w2", "assignment:put:w2:" + r1 + ":team:2"})
	write(200, "POST", native+"/users/import", `{"users":[{"id":"w1","email":"w1@example.com","role_ids":[]}]}`,
		[]string{"user:put:w1", "assignment:delete:w1:" + r1})
	// Dintero's facade.
	dintero := "/v1/accounts/" + e
	d1 := write(200, "POST", dintero+"/auth/roles", `{"name":"viewer","scope":["read:accounts"]}`, []string{"role:put::{id}"})
	write(200, "PUT", dintero+"/auth/roles/"+d1, `{"name":"viewer","scope":["read:accounts","read:billing"]}`, []string{"role:put::" + d1})
	du := write(200, "POST", dintero+"/management/users", `{"email":"d@example.com","scope":["read:receipts"],"roles":[{"id":"`+d1+`"}]}`,
		[]string{"user:put:{id}", "assignment:put:{id}:" + d1})
	write(200, "PUT", dintero+"/management/users/"+du, `{"scope":["write:receipts"],"roles":[{"id":"`+d1+`"}]}`, []string{"user:put:" + du})
	write(200, "DELETE", dintero+"/auth/roles/"+d1, "", []string{"assignment:delete:" + du + ":" + d1, "role:delete::" + d1})
	write(200, "DELETE", dintero+"/management/users/"+du, "", []string{"user:delete:" + du})
	// Monite's.
	mh := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", e}
	m1 := write(200, "POST", "/v1/roles", `{"name":"monite","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"}]}]}}`,
		[]string{"role:put::{id}"}, mh...)
	write(200, "PATCH", "/v1/roles/"+m1, `{"name":"monite2"}`, []string{"role:put::" + m1}, mh...)
	write(204, "DELETE", "/v1/roles/"+m1, "", []string{"role:delete::" + m1}, mh...)
	// Papershift's.
	ph := []string{"X-Entity-Id", e, "Content-Type", "application/vnd.api+json"}
	p1 := write(201, "POST", "/api/v1/roles", papershiftCreateRoleExample, []string{"role:put::{id}"}, ph...)
	write(200, "PUT", "/api/v1/roles/"+p1, papershiftUpdateRoleExample, []string{"role:put::" + p1}, ph...)
	write(201, "POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"team_id":42,"user_id":"w2","role_ids":["`+p1+`"]}}}`,
		[]string{"assignment:put:w2:" + p1 + ":team:42"}, ph...)
	write(200, "DELETE", "/api/v1/roles/"+p1, "", []string{"assignment:delete:w2:" + p1 + ":team:42", "role:delete::" + p1}, ph...)

	// The whole feed is every write's items in revision order; read in
	// pages of any size it is the same, each page whole revisions.
	all, allRevs, rev, more := s.changes(e, "since=0&limit=1000")
	var whole []string
	for i := range all {
		whole = append(whole, fmt.Sprintf("%d|%s", allRevs[i], all[i]))
	}
	if rev != last || more || len(whole) != len(feed) {
		t.Fatalf("whole feed: %d items to revision %d (more %v); want %d to %d", len(whole), rev, more, len(feed), last)
	}
	for i := 1; i < len(allRevs); i++ {
		if allRevs[i] < allRevs[i-1] {
			t.Fatalf("whole feed out of order at %d: %v", i, allRevs)
		}
	}
	sortedWhole, sortedFeed := append([]string(nil), whole...), append([]string(nil), feed...)
	sort.Strings(sortedWhole)
	sort.Strings(sortedFeed)
	if !reflect.DeepEqual(sortedWhole, sortedFeed) {
		t.Fatalf("whole feed %v\nwant %v", whole, feed)
	}
	for _, limit := range []int{1, 2, 3, 7} {
		var got []string
		since, pages := int64(0), 0
		for {
			items, revs, next, more := s.changes(e, fmt.Sprintf("since=%d&limit=%d", since, limit))
			if len(items) > limit && revs[0] != revs[len(revs)-1] {
				t.Fatalf("limit %d: a page of %d items over several revisions", limit, len(items))
			}
			if more && (len(revs) == 0 || next != revs[len(revs)-1]) {
				t.Fatalf("limit %d: a cut page names revision %d, its last item %v", limit, next, revs)
			}
			for i := range items {
				got = append(got, fmt.Sprintf("%d|%s", revs[i], items[i]))
			}
			since, pages = next, pages+1
			if !more {
				break
			}
		}
		if !reflect.DeepEqual(got, whole) || since != last {
			t.Fatalf("limit %d: %d pages to %d:\n%v\nwant\n%v", limit, pages, since, got, whole)
		}
	}

	// Long polls: woken by a write (wait 20 s: an answer with items is a
	// wake-up); empty at the current revision after a short wait.
	woken := s.poll(testToken, e, last, 20)
	testkit.Eventually(t, 10*time.Second, "the poll waits", func() bool { return s.changeWaiters() == 1 })
	before := last
	write(201, "POST", native+"/users", `{"id":"late","role_ids":[]}`, []string{"user:put:late"})
	if got := <-woken; got.err != nil || got.status != 200 || !reflect.DeepEqual(got.items, []string{"user:put:late"}) || got.rev != before+1 {
		t.Fatalf("poll woken by a write: %+v", got)
	}
	if got := <-s.poll(testToken, e, last, 1); got.err != nil || got.status != 200 || len(got.items) != 0 || got.rev != last || got.took < time.Second {
		t.Fatalf("poll after its wait: %+v", got)
	}
	if s.changeWaiters() != 0 {
		t.Fatal("waiters left behind")
	}

	// 422 past the revision; 410 once more than 1,000 revisions separate
	// since from the entity's (each idempotent assignment is a revision).
	if st, _, out := s.call("GET", native+"/changes?since="+fmt.Sprint(last+1), nil); st != 422 || errCode(out) != "unknown_revision" {
		t.Fatalf("since past the revision: %d %v", st, out)
	}
	s.must(201, "POST", native+"/users", map[string]any{"id": "idle", "role_ids": []string{}})
	for i := 0; i < 1000; i++ {
		s.must(200, "PUT", native+"/users/idle/roles/"+r1, nil)
	}
	now := mustAs[api.Entity](s, 200, "GET", native, nil).Revision
	if st, _, out := s.call("GET", native+"/changes?since="+fmt.Sprint(now-1001), nil); st != 410 || errCode(out) != "changes_expired" {
		t.Fatalf("since past the log: %d %v", st, out)
	}
	// The first assignment was one, the 999 others changed nothing.
	if items, _, at, more := s.changes(e, fmt.Sprintf("since=%d&limit=1000", now-1000)); at != now || more ||
		!reflect.DeepEqual(items, []string{"assignment:put:idle:" + r1}) {
		t.Fatalf("since the oldest revision kept: %v at %d (more %v)", items, at, more)
	}

	// Deleted while a poll waits: one "entity delete", then 404.
	gone := s.poll(testToken, e, now, 20)
	testkit.Eventually(t, 10*time.Second, "the poll waits", func() bool { return s.changeWaiters() == 1 })
	s.must(204, "DELETE", native, nil)
	if got := <-gone; got.err != nil || got.status != 200 || !reflect.DeepEqual(got.items, []string{"entity:delete"}) || got.rev != now+1 {
		t.Fatalf("poll of a deleted entity: %+v", got)
	}
	if st, _, out := s.call("GET", native+"/changes?since=0", nil); st != 404 || errCode(out) != "entity_not_found" {
		t.Fatalf("feed of a deleted entity: %d %v", st, out)
	}
}

// TestChangesFeedShutdown: a server shutting down answers its long polls at
// once (empty, at the current revision) rather than holding the shutdown for
// their wait.
func TestChangesFeedShutdown(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	p := s.poll(testToken, "acme", 1, 25)
	testkit.Eventually(t, 10*time.Second, "the poll waits", func() bool { return s.changeWaiters() == 1 })
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	got := <-p
	if got.err != nil || got.status != 200 || len(got.items) != 0 || got.rev != 1 {
		t.Fatalf("poll during shutdown: %+v", got)
	}
	if stopped := time.Since(start); stopped > 15*time.Second || got.took > 20*time.Second {
		t.Fatalf("shutdown took %v and the poll %v: held by a 25 s wait", stopped, got.took)
	}
}

// TestChangesFeedAcrossInstances: three rolegate processes over one
// PostgreSQL database; a and b hear each other over Redis (their sweep an
// hour away), c has no Redis and sweeps every 200 ms. A long poll on b and
// one on c are both woken by a write on a, and list its items.
func TestChangesFeedAcrossInstances(t *testing.T) {
	db := postgresURL(t)
	redis := os.Getenv("ROLEGATE_TEST_REDIS_URL")
	if redis == "" {
		t.Skip("ROLEGATE_TEST_REDIS_URL not set: skipping the changes feed across instances")
	}
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_REDIS_URL": redis,
		"ROLEGATE_REDIS_CHANNEL": "rolegate-test:" + uuid.NewString(), "ROLEGATE_SWEEP_INTERVAL": "1h"}
	a := startProcess(t, env)
	b := startProcess(t, env)
	c := startProcess(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_SWEEP_INTERVAL": "200ms"})
	testkit.Eventually(t, 10*time.Second, "both subscribed", func() bool { return subscribed(a.server) && subscribed(b.server) })
	a.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	for i, user := range []string{"u1", "u2"} {
		_, _, rev, _ := b.changes("acme", "since=0")
		onB := b.poll(testToken, "acme", rev, 20)
		onC := c.poll(testToken, "acme", rev, 20)
		testkit.Eventually(t, 10*time.Second, "the polls wait", func() bool { return b.changeWaiters() == 1 && c.changeWaiters() == 1 })
		_, h, _ := a.call("POST", "/v1/entities/acme/users", map[string]any{"id": user, "role_ids": []string{}})
		want := revisionOf(t, h)
		for name, ch := range map[string]chan polled{"b (Redis)": onB, "c (sweep)": onC} {
			if got := <-ch; got.err != nil || got.status != 200 || !reflect.DeepEqual(got.items, []string{"user:put:" + user}) || got.rev != want {
				t.Fatalf("write %d: poll on %s: %+v, want user:put:%s at %d", i, name, got, user, want)
			}
		}
	}
}

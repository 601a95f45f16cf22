package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// requireFeed fails unless the entity's changes feed answers.
func requireFeed(t *testing.T, c *client.Client, entity string) {
	t.Helper()
	_, err := c.ListChanges(context.Background(), entity, 0, client.ChangesOptions{})
	if err != nil {
		t.Fatalf("changes feed: %v", err)
	}
}

func TestChangesFeed(t *testing.T) {
	s := testkit.Start(t, nil)
	c := admin(t, s)
	ctx := context.Background()
	e, err := c.CreateEntity(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	requireFeed(t, c, "acme")
	r, err := c.CreateRole(ctx, "acme", approver())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u1", RoleIDs: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	a, err := c.AssignRole(ctx, "acme", "u1", r.ID, "team:1")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.ListChanges(ctx, "acme", e.Revision, client.ChangesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Revision != a.Revision || ch.HasMore {
		t.Fatalf("feed revision %d has_more %v, want %d", ch.Revision, ch.HasMore, a.Revision)
	}
	var sawRole, sawUser, sawAssign bool
	last := e.Revision
	for _, x := range ch.Data {
		if x.Revision <= last-1 || x.Revision <= e.Revision {
			t.Fatalf("change %+v out of order or not after since", x)
		}
		last = x.Revision
		switch {
		case x.Type == "role" && x.Op == "put" && x.RoleID == r.ID:
			sawRole = true
		case x.Type == "user" && x.Op == "put" && x.UserID == "u1":
			sawUser = true
		case x.Type == "assignment" && x.Op == "put" && x.UserID == "u1" && x.RoleID == r.ID && x.Scope == "team:1":
			sawAssign = true
		}
	}
	if !sawRole || !sawUser || !sawAssign {
		t.Fatalf("feed %+v misses role/user/assignment (%v %v %v)", ch.Data, sawRole, sawUser, sawAssign)
	}
	// limit pages
	one, err := c.ListChanges(ctx, "acme", e.Revision, client.ChangesOptions{Limit: 1})
	if err != nil || len(one.Data) != 1 || !one.HasMore || one.Revision != one.Data[0].Revision {
		t.Fatalf("limit 1: %+v %v", one, err)
	}
	// long poll: returns with the next write
	got := make(chan client.Changes, 1)
	go func() {
		x, err := c.ListChanges(ctx, "acme", ch.Revision, client.ChangesOptions{Wait: 10})
		if err != nil {
			t.Error(err)
		}
		got <- x
	}()
	time.Sleep(300 * time.Millisecond)
	if err := c.DeleteUser(ctx, "acme", "u1"); err != nil {
		t.Fatal(err)
	}
	select {
	case x := <-got:
		if len(x.Data) == 0 || x.Data[len(x.Data)-1].Type != "user" || x.Data[len(x.Data)-1].Op != "delete" {
			t.Fatalf("long poll: %+v", x)
		}
	case <-time.After(9 * time.Second):
		t.Fatal("the long poll did not return on a write")
	}
	// since past the entity's revision
	if _, err := c.ListChanges(ctx, "acme", 1<<40, client.ChangesOptions{}); !client.IsCode(err, "unknown_revision") {
		t.Fatalf("since in the future: %v", err)
	}
	// guarded: a check-only client of the entity may not read it
	cl, err := c.CreateClient(ctx, client.APIClientInput{Name: "svc", EntityID: "acme", Scopes: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := client.New(s.URL, client.WithClientCredentials(cl.ClientID, cl.Secret))
	if _, err := cc.ListChanges(ctx, "acme", 0, client.ChangesOptions{}); !client.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("check-only client reading the feed: %v", err)
	}
}

// TestCacheAgainstServer: the cache serves repeated checks, drops them when
// the feed reports a change, and never answers older than MinRevision.
func TestCacheAgainstServer(t *testing.T) {
	s := testkit.Start(t, nil)
	c := admin(t, s)
	ctx := context.Background()
	if _, err := c.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRole(ctx, "acme", approver())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u1", RoleIDs: &[]string{r.ID}}); err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(c, client.CacheOptions{Size: 100, Wait: 2})
	defer cache.Close()
	read := client.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "read"}
	d, err := cache.Check(ctx, read)
	if err != nil || !d.Allowed {
		t.Fatalf("first: %+v %v", d, err)
	}
	// min_revision: a write's revision is honoured at once, whatever the feed
	if err := c.UnassignRole(ctx, "acme", "u1", r.ID, ""); err != nil {
		t.Fatal(err)
	}
	ent, _ := c.GetEntity(ctx, "acme")
	read.MinRevision = ent.Revision
	if d, err := cache.Check(ctx, read); err != nil || d.Allowed || d.Revision < ent.Revision {
		t.Fatalf("with min_revision %d: %+v %v", ent.Revision, d, err)
	}
	read.MinRevision = 0
	requireFeed(t, c, "acme")
	// the feed drops the cached allow: within a few seconds the cache denies
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := cache.Check(ctx, read)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache still allows 10 s after the role was taken")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// the deny is kept once the feed has passed the change (an answer
	// fetched before may be dropped with it)
	for end := time.Now().Add(10 * time.Second); cache.Len() == 0; time.Sleep(20 * time.Millisecond) {
		if d, err := cache.Check(ctx, read); err != nil || d.Allowed {
			t.Fatalf("after the deny: %+v %v", d, err)
		}
		if time.Now().After(end) {
			t.Fatal("nothing cached")
		}
	}
	// given back, then the entity deleted: the allow does not outlive it
	if _, err := c.AssignRole(ctx, "acme", "u1", r.ID, ""); err != nil {
		t.Fatal(err)
	}
	waitAllowed := func(want bool, what string) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			d, err := cache.Check(ctx, read)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed == want {
				return
			}
			if time.Now().After(end) {
				t.Fatal(what)
			}
		}
	}
	waitAllowed(true, "the role given back did not reach the cache")
	if err := c.DeleteEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	waitAllowed(false, "the cache still allows 10 s after the entity was deleted")
}

// fakeFeed is a server with a check endpoint answering from a table and a
// changes feed fed by the test: the cache's logic as a unit.
type fakeFeed struct {
	mu      sync.Mutex
	rev     int64
	allowed map[string]bool
	changes []client.Change
	checks  int
	wake    chan struct{}
}

func (f *fakeFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/check" {
		var req client.CheckRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.checks++
		ok := f.allowed[req.UserID]
		rev := f.rev
		f.mu.Unlock()
		perm := "not_allowed"
		if ok {
			perm = "allowed"
		}
		json.NewEncoder(w).Encode(map[string]any{"allowed": ok, "permission": perm, "revision": rev})
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	for i := 0; i < 20; i++ {
		f.mu.Lock()
		var out []client.Change
		for _, c := range f.changes {
			if c.Revision > since {
				out = append(out, c)
			}
		}
		rev := f.rev
		wake := f.wake
		f.mu.Unlock()
		if len(out) > 0 || i == 19 {
			if out == nil {
				out = []client.Change{}
			}
			json.NewEncoder(w).Encode(map[string]any{"data": out, "revision": rev, "has_more": false})
			return
		}
		select {
		case <-wake:
		case <-time.After(50 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeFeed) change(c client.Change, allowed map[string]bool) {
	f.mu.Lock()
	f.rev++
	c.Revision = f.rev
	f.changes = append(f.changes, c)
	for k, v := range allowed {
		f.allowed[k] = v
	}
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeFeed) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.checks }

func TestCacheUnit(t *testing.T) {
	f := &fakeFeed{rev: 5, allowed: map[string]bool{"u1": true, "u2": true}, wake: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"))
	cache := client.NewCache(c, client.CacheOptions{Size: 3})
	defer cache.Close()
	ctx := context.Background()
	q := func(user string, min int64) client.Decision {
		t.Helper()
		d, err := cache.Check(ctx, client.CheckRequest{EntityID: "e", UserID: user, ObjectType: "o", Action: "a", MinRevision: min})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal(what)
			}
		}
	}
	if !q("u1", 0).Allowed || !q("u2", 0).Allowed {
		t.Fatal("first answers")
	}
	// once the feed answers, repeated checks are served locally
	waitFor(func() bool {
		n := f.count()
		q("u1", 0)
		q("u2", 0)
		return f.count() == n
	}, "repeated checks still go to the server")
	n := f.count()
	// min_revision above what is held: to the server
	if d := q("u1", 6); d.Revision != 5 || f.count() != n+1 {
		t.Fatalf("min_revision 6: %+v, %d calls", d, f.count()-n)
	}
	// a change of u1 drops u1 only
	f.change(client.Change{Type: "assignment", Op: "delete", UserID: "u1", RoleID: "r"}, map[string]bool{"u1": false})
	waitFor(func() bool { return !q("u1", 0).Allowed }, "u1's change did not reach the cache")
	n = f.count()
	if !q("u2", 0).Allowed || f.count() != n {
		t.Fatal("u2's answer was dropped by u1's change")
	}
	// a role change drops everyone
	f.change(client.Change{Type: "role", Op: "put", RoleID: "r"}, map[string]bool{"u2": false})
	waitFor(func() bool { return !q("u2", 0).Allowed }, "a role change did not reach the cache")
	// bounded
	for i := 0; i < 10; i++ {
		q(fmt.Sprintf("x%d", i), 0)
	}
	if cache.Len() > 3 {
		t.Fatalf("%d decisions held, bound 3", cache.Len())
	}
}

// TestCacheWithoutFeed: when the feed cannot be read (here: it does not
// exist), nothing is served from the cache.
func TestCacheWithoutFeed(t *testing.T) {
	var mu sync.Mutex
	checks := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/check" {
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"code":"route_not_found","message":"no"}}`))
			return
		}
		mu.Lock()
		checks++
		mu.Unlock()
		w.Write([]byte(`{"allowed":true,"permission":"allowed","revision":1}`))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"))
	cache := client.NewCache(c, client.CacheOptions{})
	defer cache.Close()
	req := client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "o", Action: "a"}
	cache.Check(context.Background(), req)
	time.Sleep(200 * time.Millisecond) // the feed reader has failed by now
	for i := 0; i < 3; i++ {
		cache.Check(context.Background(), req)
	}
	mu.Lock()
	defer mu.Unlock()
	if checks != 4 {
		t.Fatalf("%d checks reached the server, want 4 (none from a cache without its feed)", checks)
	}
}

// TestCacheExpiredFeed: a 410 drops the entity's decisions and the cache
// follows again from the entity's current revision.
func TestCacheExpiredFeed(t *testing.T) {
	var mu sync.Mutex
	feedCalls, checks := 0, 0
	var sinces []string
	expire := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/entities/e/changes" {
			mu.Lock()
			n := feedCalls + 1
			mu.Unlock()
			if n == 2 {
				<-expire // a long poll, until the test lets the log expire
			}
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/check":
			checks++
			w.Write([]byte(`{"allowed":true,"permission":"allowed","revision":5}`))
		case "/v1/entities/e":
			w.Write([]byte(`{"id":"e","name":"","revision":9}`))
		case "/v1/entities/e/changes":
			feedCalls++
			sinces = append(sinces, r.URL.Query().Get("since"))
			switch {
			case feedCalls == 1:
				w.Write([]byte(`{"data":[],"revision":5,"has_more":false}`))
			case feedCalls == 2:
				w.WriteHeader(410)
				w.Write([]byte(`{"error":{"code":"changes_expired","message":"gone"}}`))
			default:
				time.Sleep(50 * time.Millisecond)
				w.Write([]byte(`{"data":[],"revision":9,"has_more":false}`))
			}
		}
	}))
	defer srv.Close()
	expired := false
	defer func() {
		if !expired {
			close(expire) // a failed test must not leave the handler waiting
		}
	}()
	c, _ := client.New(srv.URL, client.WithToken("t"))
	cache := client.NewCache(c, client.CacheOptions{})
	defer cache.Close()
	req := client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "o", Action: "a"}
	ctx := context.Background()
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return feedCalls, checks }
	for end := time.Now().Add(5 * time.Second); cache.Len() == 0; time.Sleep(10 * time.Millisecond) {
		cache.Check(ctx, req)
		if time.Now().After(end) {
			t.Fatal("nothing cached")
		}
	}
	_, before := count()
	cache.Check(ctx, req)
	if _, after := count(); after != before {
		t.Fatal("a cached decision went to the server")
	}
	close(expire)
	expired = true
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if f, _ := count(); f >= 3 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the feed was not read again after 410")
		}
	}
	if cache.Len() != 0 {
		t.Fatal("decisions kept across a 410")
	}
	// answers from before the refetched revision (5 < 9) are not kept
	_, before = count()
	cache.Check(ctx, req)
	cache.Check(ctx, req)
	if _, after := count(); after != before+2 || cache.Len() != 0 {
		t.Fatalf("an answer older than the refetched revision was served or kept (%d checks, %d held)", after-before, cache.Len())
	}
	mu.Lock()
	defer mu.Unlock()
	if sinces[0] != "5" || sinces[1] != "5" || sinces[2] != "9" {
		t.Fatalf("since values %v, want 5, 5, 9", sinces)
	}
}

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
)

// fakeFeed is a server with a check endpoint answering from a table and a
// changes feed fed by the test: the cache's logic as a unit.
type fakeFeed struct {
	mu      sync.Mutex
	rev     int64
	allowed map[string]bool
	changes []client.Change
	checks  int
	wake    chan struct{}
	// decide, when set, answers the checks instead of allowed.
	decide func(client.CheckRequest) bool
}

func (f *fakeFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/check" {
		var req client.CheckRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.checks++
		ok := f.allowed[req.UserID]
		if f.decide != nil {
			ok = f.decide(req)
		}
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

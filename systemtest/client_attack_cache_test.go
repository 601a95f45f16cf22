package systemtest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// TestClientCacheHungFeed: the cache reads the feed through a proxy that stops
// forwarding (the poll hangs, no error, no close) with an http.Client that
// has no timeout. A role taken meanwhile is denied once MaxStaleness has
// passed (the cache asks the server), the hung poll is abandoned at its
// deadline and the feed followed again; when the server cannot be reached
// at all, checks fail rather than answer from memory.
//
// The bound seen: go test -count=1 -v -run TestClientCacheHungFeed ./systemtest
func TestClientCacheHungFeed(t *testing.T) {
	s := testkit.Start(t, nil)
	c := clientAdmin(t, s)
	ctx := context.Background()
	if _, err := c.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRole(ctx, "acme", clientApprover())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u1", RoleIDs: &[]string{r.ID}}); err != nil {
		t.Fatal(err)
	}

	p := testkit.StartProxy(t, strings.TrimPrefix(s.URL, "http://"))
	via, err := client.New("http://"+p.Addr(), client.WithToken(testkit.AdminToken),
		client.WithHTTPClient(&http.Client{}), client.WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(via, client.CacheOptions{})
	defer cache.Close()
	read := client.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "read"}
	check := func() (client.Decision, error) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return cache.Check(cctx, read)
	}
	waitCached := func(want bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			d, err := check()
			if err == nil && d.Allowed == want && cache.Len() > 0 {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("no answer %v held by the cache: %+v %v", want, d, err)
			}
		}
	}
	waitCached(true)

	// The feed's poll (and every connection open) hangs; the role is taken
	// on the server directly.
	p.HangOpen()
	if err := c.UnassignRole(ctx, "acme", "u1", r.ID, ""); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	lastAllowed := taken
	for end := taken.Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d, err := check()
		if err == nil && !d.Allowed {
			break
		}
		if err == nil && d.Allowed {
			lastAllowed = time.Now()
		}
		if time.Now().After(end) {
			t.Fatalf("the cache still answers %+v %v 30 s after the role was taken, its feed hung", d, err)
		}
	}
	t.Logf("feed hung: a revoked allow was last served %v after the revocation, denied after %v (MaxStaleness 5 s)",
		lastAllowed.Sub(taken).Round(10*time.Millisecond), time.Since(taken).Round(10*time.Millisecond))

	// The hung poll is abandoned at its deadline: the feed is followed
	// again and answers are held again.
	waitCached(false)
	t.Logf("feed followed again %v after the revocation", time.Since(taken).Round(10*time.Millisecond))

	// Nothing reaches the server: once stale, checks fail, never allow.
	if _, err := c.AssignRole(ctx, "acme", "u1", r.ID, ""); err != nil {
		t.Fatal(err)
	}
	waitCached(true)
	p.HangAll()
	hung := time.Now()
	for end := time.Now().Add(30 * time.Second); ; {
		_, err := check()
		if err != nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the cache answered from memory 30 s after the server became unreachable")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("server unreachable: checks fail %v after", time.Since(hung).Round(10*time.Millisecond))
	for i := 0; i < 3; i++ {
		if d, err := check(); err == nil {
			t.Fatalf("an unreachable server, a stale cache: %+v", d)
		}
	}
}

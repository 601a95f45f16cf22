package systemtest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// clientRequireFeed fails unless the entity's changes feed answers.
func clientRequireFeed(t *testing.T, c *client.Client, entity string) {
	t.Helper()
	_, err := c.ListChanges(context.Background(), entity, 0, client.ChangesOptions{})
	if err != nil {
		t.Fatalf("changes feed: %v", err)
	}
}

func TestClientChangesFeed(t *testing.T) {
	s := testkit.Start(t, nil)
	c := clientAdmin(t, s)
	ctx := context.Background()
	e, err := c.CreateEntity(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	clientRequireFeed(t, c, "acme")
	r, err := c.CreateRole(ctx, "acme", clientApprover())
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

// TestClientCacheAgainstServer: the cache serves repeated checks, drops them when
// the feed reports a change, and never answers older than MinRevision.
func TestClientCacheAgainstServer(t *testing.T) {
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
	clientRequireFeed(t, c, "acme")
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

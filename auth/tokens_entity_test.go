package auth_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// instanceTokens runs the token verifier of an instance over its own
// connection to the store, with a clock that moves only when told.
func instanceTokens(t *testing.T, path string, in *testkit.Instance, clock *atomic.Int64) (*auth.Tokens, policy.Store) {
	t.Helper()
	ctx := asAdmin()
	store, err := adapters.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ctx, store, in.Svc, admin, auth.TokenConfig{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	return tokens, store
}

// A token bound to an entity dies with the entity on every instance: the
// other instance, whose memory of the client and the entity is fresh (its
// clock does not move, so no recheck is due), refuses it as soon as it hears
// of the entity's deletion and re-creation; a token issued for the new
// entity works there.
func TestTokenDiesWithEntityOnEveryInstance(t *testing.T) {
	ctx := asAdmin()
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &testkit.Bus{}
	a, o := testkit.NewInstance(t, path, b, time.Hour), testkit.NewInstance(t, path, b, time.Hour)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	ta, _ := instanceTokens(t, path, a, &clock)
	to, _ := instanceTokens(t, path, o, &clock)
	if _, err := a.Svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	c, secret, err := a.Svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeManage}})
	if err != nil {
		t.Fatal(err)
	}
	platform, psecret, err := a.Svc.CreateClient(ctx, auth.ClientInput{Name: "p", Scopes: []string{auth.ScopeManage}})
	if err != nil {
		t.Fatal(err)
	}
	bound, _, err := ta.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	account, _, err := ta.Issue(ctx, platform.ID, psecret, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{bound, account} {
		if act, err := to.Authenticate(tok); err != nil || act.EntityID != "acme" {
			t.Fatalf("before: %+v %v", act, err)
		}
	}

	if _, err := a.Svc.DeleteEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []*auth.Tokens{ta, to} {
		for _, tok := range []string{bound, account} {
			deadline := time.Now().Add(5 * time.Second)
			_, err := tk.Authenticate(tok)
			for err == nil && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
				_, err = tk.Authenticate(tok)
			}
			if !rolegate.IsKind(err, rolegate.KindUnauthenticated) {
				t.Fatalf("a token of the deleted entity: %v", err)
			}
		}
	}
	if _, _, err := ta.Issue(ctx, c.ID, secret, ""); !rolegate.IsKind(err, rolegate.KindUnauthenticated) {
		t.Fatalf("the deleted entity's client gets a token: %v", err)
	}
	fresh, _, err := ta.Issue(ctx, platform.ID, psecret, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := to.Authenticate(fresh); err != nil {
		t.Fatalf("a token of the new acme: %v", err)
	}
}

// Through a database outage a known client's token keeps working, also once
// its memory is due to be checked again (it cannot be); an unknown client's
// is refused.
func TestKnownClientTokenThroughOutage(t *testing.T) {
	ctx := asAdmin()
	svc, store := testkit.Service(t, "acme")
	down := false
	us := testkit.UnavailableStore{Store: store, Down: &down}
	admin, _, _ := auth.BootstrapAdmin(ctx, store, "admin-token")
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	tokens, err := auth.NewTokens(ctx, us, svc, admin, auth.TokenConfig{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	other, osecret, _ := svc.CreateClient(ctx, auth.ClientInput{Name: "o", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	tok, _, err := tokens.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	// A second verifier that has never seen the other client.
	fresh, err := auth.NewTokens(ctx, us, svc, admin, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	otok, _, err := fresh.Issue(ctx, other.ID, osecret, "")
	if err != nil {
		t.Fatal(err)
	}
	down = true
	for i := 0; i < 3; i++ {
		clock.Add(int64(10 * time.Second))
		if _, err := tokens.Authenticate(tok); err != nil {
			t.Fatalf("known client during the outage, %d rechecks due: %v", i+1, err)
		}
		time.Sleep(10 * time.Millisecond) // let the background recheck fail
	}
	if _, err := tokens.Authenticate(otok); err == nil {
		t.Fatal("a client never seen by this instance authenticated during the outage")
	}
	// A client deleted before the outage is not believed through it (fresh,
	// registered last, hears of this service's deletions).
	down = false
	if _, err := fresh.Authenticate(otok); err != nil {
		t.Fatalf("before the deletion: %v", err)
	}
	if err := svc.DeleteClient(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	down = true
	if _, err := fresh.Authenticate(otok); err == nil {
		t.Fatal("a deleted client authenticated during the outage")
	}
}

package auth_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// tokenFixture is a service over a store with a client of acme.
func tokenFixture(t testing.TB, now func() time.Time) (*auth.Tokens, string, string) {
	ctx := auth.Internal(context.Background())
	svc, store := testkit.Service(t)
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	return tokens, c.ID, secret
}

// Tokens expire, and are not valid before they are issued (beyond the
// leeway).
func TestTokenLifetime(t *testing.T) {
	var clock atomic.Int64 // read by background client rechecks too
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	tokens, id, secret := tokenFixture(t, now)
	tok, ttl, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil || ttl != 15*time.Minute {
		t.Fatalf("issue: %v %v", ttl, err)
	}
	a, err := tokens.Authenticate(tok)
	if err != nil || a.ClientID != id || a.EntityID != "acme" || !a.Has(auth.ScopeCheck) || a.Has(auth.ScopeManage) {
		t.Fatalf("fresh token: %+v %v", a, err)
	}
	issued := now() // the clock stood still since the token was issued
	for _, c := range []struct {
		shift time.Duration
		ok    bool
	}{{14 * time.Minute, true}, {15*time.Minute + 20*time.Second, true}, {16 * time.Minute, false}, {-20 * time.Second, true}, {-2 * time.Minute, false}} {
		clock.Store(issued.Add(c.shift).UnixNano())
		if _, err := tokens.Authenticate(tok); (err == nil) != c.ok {
			t.Errorf("clock %+v: err %v, want ok=%v", c.shift, err, c.ok)
		}
	}
	if _, _, err := tokens.Issue(context.Background(), id, "wrong", ""); !rolegate.IsKind(err, rolegate.KindUnauthenticated) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, _, err := tokens.Issue(context.Background(), id, secret, "other"); !rolegate.IsKind(err, rolegate.KindUnauthenticated) {
		t.Fatalf("token for another entity: %v", err)
	}
}

// FuzzAuthenticate feeds arbitrary bearer tokens: nothing panics, and only
// the admin token and the token really issued authenticate.
//
//	go test ./policy -run x -fuzz FuzzAuthenticate -fuzztime 60s
func FuzzAuthenticate(f *testing.F) {
	tokens, id, secret := tokenFixture(f, time.Now)
	valid, _, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	for _, seed := range []string{valid, "admin-token", "", "a.b.c", parts[0] + "." + parts[1] + ".",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".", parts[0] + "." + parts[1] + "." + parts[2] + "x", "..", strings.Repeat("a.", 3000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		a, err := tokens.Authenticate(token)
		if err != nil {
			if !rolegate.IsKind(err, rolegate.KindUnauthenticated) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		if token != valid && token != "admin-token" {
			t.Fatalf("%q authenticated as %+v", token, a)
		}
	})
}

// A token differing from the issued one only in the unused bits of its last
// base64 character is not the issued token: strict decoding refuses it.
func TestTokenStrictEncoding(t *testing.T) {
	tokens, id, secret := tokenFixture(t, time.Now)
	valid, _, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, valid[len(valid)-1])
	for d := 1; d < 4; d++ { // an ES256 signature leaves 2 unused bits in its last character
		other := valid[:len(valid)-1] + string(alphabet[last^d])
		if _, err := tokens.Authenticate(other); err == nil {
			t.Fatalf("%q authenticates", other[len(other)-4:])
		}
	}
}

// The signing key is kept in the store: a token issued before a restart (a
// new Tokens over the same store) is still valid after it.
func TestTokenKeySurvivesRestart(t *testing.T) {
	ctx := auth.Internal(context.Background())
	svc, store := testkit.Service(t, "acme")
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := first.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := second.Authenticate(tok); err != nil || a.ClientID != c.ID {
		t.Fatalf("after a restart: %+v %v", a, err)
	}
	if string(first.JWKS()) != string(second.JWKS()) {
		t.Fatal("the published key changed across a restart")
	}
}

// countingStore counts the read transactions asked of it, and holds them
// back while hold is set (a slow database).
type countingStore struct {
	policy.Store
	views *atomic.Int64
	hold  *atomic.Bool
}

func (s countingStore) View(ctx context.Context, fn func(policy.Tx) error) error {
	s.views.Add(1)
	for s.hold.Load() {
		time.Sleep(time.Millisecond)
	}
	return s.Store.View(ctx, fn)
}

// A request with the token of a client this instance knows reads nothing
// from the store, even once its memory of the client is old: the client is
// asked about again in the background, and a deleted one is then refused.
func TestKnownClientTokenReadsNoStore(t *testing.T) {
	ctx := auth.Internal(context.Background())
	_, store := testkit.Service(t, "acme")
	views := &atomic.Int64{}
	cs := countingStore{store, views, &atomic.Bool{}}
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	svc := policy.NewService(policy.Config{Store: cs, Engine: eng})
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	tokens, err := auth.NewTokens(ctx, cs, svc, admin, auth.TokenConfig{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := tokens.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	before := views.Load()
	for i := 0; i < 100; i++ {
		if _, err := tokens.Authenticate(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := views.Load() - before; n != 0 {
		t.Fatalf("100 requests of a known client read the store %d times", n)
	}
	// Past the recheck interval, with the database slow: still answered at
	// once; the client is asked about again behind.
	cs.hold.Store(true)
	clock.Add(int64(10 * time.Second))
	answered := make(chan error, 1)
	go func() { _, err := tokens.Authenticate(tok); answered <- err }()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a known client's request waited for the database")
	}
	cs.hold.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for views.Load() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if views.Load() == before {
		t.Fatal("the old memory of the client was never checked again")
	}
	// Deleted behind this instance's back (straight in the store): refused
	// once the background recheck has seen it.
	if err := store.Update(ctx, func(tx policy.Tx) error { return tx.DeleteClient(c.ID) }); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(10 * time.Second))
	refused := false
	for time.Now().Before(deadline) && !refused {
		_, err := tokens.Authenticate(tok)
		refused = err != nil
		time.Sleep(5 * time.Millisecond)
	}
	if !refused {
		t.Fatal("a deleted client's token still works")
	}
}

package policy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// tokenFixture is a service over a real SQLite store with a client of acme.
func tokenFixture(t testing.TB, now func() time.Time) (*policy.Tokens, string, string) {
	ctx := context.Background()
	svc, store := testkit.Service(t)
	admin, _, err := policy.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := policy.NewTokens(ctx, store, svc, admin, policy.TokenConfig{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, policy.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{policy.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	return tokens, c.ID, secret
}

// Tokens expire, are not valid before they are issued (beyond the leeway),
// and survive a restart of the issuer (the key is kept in the store).
func TestTokenLifetime(t *testing.T) {
	clock := time.Now()
	now := func() time.Time { return clock }
	tokens, id, secret := tokenFixture(t, now)
	tok, ttl, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil || ttl != 15*time.Minute {
		t.Fatalf("issue: %v %v", ttl, err)
	}
	a, err := tokens.Authenticate(tok)
	if err != nil || a.ClientID != id || a.EntityID != "acme" || !a.Has(policy.ScopeCheck) || a.Has(policy.ScopeManage) {
		t.Fatalf("fresh token: %+v %v", a, err)
	}
	for _, c := range []struct {
		shift time.Duration
		ok    bool
	}{{14 * time.Minute, true}, {15*time.Minute + 20*time.Second, true}, {16 * time.Minute, false}, {-20 * time.Second, true}, {-2 * time.Minute, false}} {
		clock = time.Now().Add(c.shift)
		if _, err := tokens.Authenticate(tok); (err == nil) != c.ok {
			t.Errorf("clock %+v: err %v, want ok=%v", c.shift, err, c.ok)
		}
	}
	if _, _, err := tokens.Issue(context.Background(), id, "wrong", ""); !policy.IsKind(err, policy.KindUnauthenticated) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, _, err := tokens.Issue(context.Background(), id, secret, "other"); !policy.IsKind(err, policy.KindUnauthenticated) {
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
			if !policy.IsKind(err, policy.KindUnauthenticated) {
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

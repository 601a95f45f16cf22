package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
)

// A token is verified once: sent again, it is believed without a signature
// check, and still gets what the client's record gives.
func TestTokenVerifiedOnce(t *testing.T) {
	tokens, id, secret := tokenFixture(t, time.Now)
	tok, _, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	before := tokens.SignatureChecks()
	for i := 0; i < 5; i++ {
		a, err := tokens.Authenticate(tok)
		if err != nil || a.ClientID != id || a.EntityID != "acme" || !a.Has(auth.ScopeCheck) || a.Has(auth.ScopeManage) {
			t.Fatalf("authenticate %d: %+v %v", i, a, err)
		}
	}
	if n := tokens.SignatureChecks() - before; n != 1 {
		t.Fatalf("%d signature checks for one token sent 5 times, want 1", n)
	}
	// A token that differs by one byte is not the one verified.
	b := []byte(tok)
	if i := len(b) - 10; b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	if _, err := tokens.Authenticate(string(b)); err == nil {
		t.Fatal("an altered token was believed")
	}
}

// A deleted client's token, verified and remembered, is refused at once.
func TestVerifiedTokenOfDeletedClient(t *testing.T) {
	ctx := auth.Internal(context.Background())
	svc, store := testkit.Service(t)
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := tokens.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := tokens.Authenticate(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if a, err := tokens.Authenticate(tok); err == nil {
		t.Fatalf("a deleted client's remembered token: %+v", a)
	}
}

// A remembered token dies at its expiry (plus the leeway), and is not
// believed before its issue time (minus the leeway) when the clock goes
// back, exactly as a token verified anew.
func TestVerifiedTokenExpires(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	tokens, id, secret := tokenFixture(t, now)
	tok, ttl, err := tokens.Issue(context.Background(), id, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	issued := clock.Load()
	if _, err := tokens.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	const leeway = 30 * time.Second
	for _, c := range []struct {
		at time.Duration
		ok bool
	}{{ttl + leeway - time.Second, true}, {ttl + leeway, false}, {-leeway + time.Second, true}, {-leeway - time.Second, false}, {time.Minute, true}} {
		clock.Store(issued + int64(c.at))
		if _, err := tokens.Authenticate(tok); (err == nil) != c.ok {
			t.Fatalf("at issue %+v: err %v, want ok %v", c.at, err, c.ok)
		}
	}
}

// A token of a key removed from the store is refused once the instance
// reads the key set again, remembered or not.
func TestVerifiedTokenOfRemovedKey(t *testing.T) {
	ctx := asAdmin()
	svc, store := testkit.Service(t, "acme")
	admin, _, _ := auth.BootstrapAdmin(ctx, store, "admin-token")
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{Now: now, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := tokens.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := tokens.Authenticate(old); err != nil {
			t.Fatal(err)
		}
	}
	// Rotated twice, keeping no retired key: the old key leaves the store.
	if _, _, err := auth.RotateSigningKeys(ctx, store, nil, now(), 0); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(time.Second))
	if _, dropped, err := auth.RotateSigningKeys(ctx, store, nil, now(), 0); err != nil || len(dropped) == 0 {
		t.Fatalf("second rotation: dropped %v, %v", dropped, err)
	}
	clock.Add(int64(auth.KeyReloadInterval)) // read again in the background
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := tokens.Authenticate(old); err != nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal("a token of a key removed from the store is still believed")
		}
	}
	fresh, _, err := tokens.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Authenticate(fresh); err != nil {
		t.Fatalf("a token of the current key: %v", err)
	}
}

// An identity provider's token is verified once too, and refused once the
// provider no longer publishes its key (or publishes another under its kid).
func TestVerifiedExternalToken(t *testing.T) {
	ctx := auth.Internal(context.Background())
	svc, store := testkit.Service(t)
	admin, _, err := auth.BootstrapAdmin(ctx, store, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var mu sync.Mutex
	published := map[string]any{"k1": &key.PublicKey}
	keys := func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		mu.Lock()
		defer mu.Unlock()
		if k, ok := published[kid]; ok {
			return k, nil
		}
		return nil, errors.New("unknown key")
	}
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{External: &auth.ExternalIdP{
		Issuer: "https://idp.example", Audience: "rolegate", Algorithms: []string{"ES256"}, Keys: keys}})
	if err != nil {
		t.Fatal(err)
	}
	sign := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://idp.example", "aud": "rolegate",
			"sub": "u1", "entity_id": "acme", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok := sign()
	before := tokens.SignatureChecks()
	for i := 0; i < 3; i++ {
		a, err := tokens.Authenticate(tok)
		if err != nil || a.UserID != "u1" || a.EntityID != "acme" {
			t.Fatalf("identity provider's token: %+v %v", a, err)
		}
	}
	if n := tokens.SignatureChecks() - before; n != 1 {
		t.Fatalf("%d signature checks, want 1", n)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mu.Lock()
	published["k1"] = &other.PublicKey // another key under the same kid
	mu.Unlock()
	if _, err := tokens.Authenticate(tok); err == nil {
		t.Fatal("a token is believed after its key was replaced")
	}
	mu.Lock()
	published["k1"] = &key.PublicKey
	mu.Unlock()
	tok = sign()
	if _, err := tokens.Authenticate(tok); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	delete(published, "k1")
	mu.Unlock()
	if _, err := tokens.Authenticate(tok); err == nil {
		t.Fatal("a token is believed after its key was withdrawn")
	}
}

package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// asAdmin is the context of a platform administrator's call.
func asAdmin() context.Context {
	return auth.WithActor(context.Background(), auth.Actor{ID: "admin", Scopes: []string{auth.ScopeAdmin}})
}

func kek(t *testing.T, s string) *auth.KeyEncryptionKey {
	t.Helper()
	k, err := auth.ParseKeyEncryptionKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	kekA = "q3Xh3m8o7i5fQJtqgk0cE6gS9Rb1v5Qm2yq0V5Z7a4Y="
	kekB = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="
)

func setting(t *testing.T, store policy.Store) string {
	t.Helper()
	var v string
	err := store.View(context.Background(), func(tx policy.Tx) (err error) {
		v, err = tx.GetSetting("jwt_signing_key")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseKeyEncryptionKey(t *testing.T) {
	for _, bad := range []string{"", "short", "c2VjcmV0", strings.Repeat("A", 64), "not base64 at all!"} {
		if _, err := auth.ParseKeyEncryptionKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	a, b := kek(t, kekA), kek(t, strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(kekA), "="))
	if a.ID() != b.ID() || a.ID() == kek(t, kekB).ID() {
		t.Fatal("the same key in both base64 alphabets has two ids, or two keys one")
	}
}

// A key stored in plain by an earlier version (one PEM key) still signs and
// verifies under the same kid; given a KEK, it is encrypted in place; the
// encrypted set then needs that KEK, and a tampered or moved sealed key does
// not open.
func TestSigningKeysAtRest(t *testing.T) {
	ctx := asAdmin()
	svc, store := testkit.Service(t, "acme")
	legacy, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(legacy)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err := store.Update(ctx, func(tx policy.Tx) error { return tx.PutSetting("jwt_signing_key", pemKey) }); err != nil {
		t.Fatal(err)
	}
	admin, _, _ := auth.BootstrapAdmin(ctx, store, "admin-token")
	c, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "c", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := plain.Issue(ctx, c.ID, secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &legacy.PublicKey, nil }); err != nil {
		t.Fatalf("the earlier version's key does not sign: %v", err)
	}
	if setting(t, store) != pemKey {
		t.Fatal("without a KEK the stored key was rewritten")
	}

	sealed, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{KeyEncryptionKey: kek(t, kekA)})
	if err != nil {
		t.Fatal(err)
	}
	raw := setting(t, store)
	if strings.Contains(raw, "PRIVATE KEY") || !strings.Contains(raw, "rgenc1:"+kek(t, kekA).ID()+":") {
		t.Fatalf("not encrypted in place: %.80q", raw)
	}
	if _, err := sealed.Authenticate(tok); err != nil {
		t.Fatalf("a token of the key before it was encrypted: %v", err)
	}
	if string(sealed.JWKS()) != string(plain.JWKS()) {
		t.Fatal("the published key changed when it was encrypted")
	}

	for name, c := range map[string]struct {
		k    *auth.KeyEncryptionKey
		want error
	}{"no KEK": {nil, auth.ErrKeysSealed}, "another KEK": {kek(t, kekB), auth.ErrWrongSealingKey}} {
		if _, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{KeyEncryptionKey: c.k}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if setting(t, store) != raw {
		t.Fatal("a refused start changed the stored keys")
	}

	// Tampered: one bit of the sealed key flipped; moved: a sealed key under
	// another kid.
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.Unmarshal([]byte(raw), &set)
	k := set.Keys[0]["key"].(string)
	flip := []byte(k)
	flip[len(flip)-5] ^= 1
	if flip[len(flip)-5] == '-' || flip[len(flip)-5] == '_' { // stay inside the alphabet either way
		flip[len(flip)-5] = 'A'
	}
	for name, mutate := range map[string]func(m map[string]any){
		"tampered": func(m map[string]any) { m["key"] = string(flip) },
		"moved":    func(m map[string]any) { m["kid"] = "another-kid" },
	} {
		m := map[string]any{}
		for k, v := range set.Keys[0] {
			m[k] = v
		}
		mutate(m)
		b, _ := json.Marshal(map[string]any{"keys": []any{m}})
		cur := setting(t, store)
		if err := store.Update(ctx, func(tx policy.Tx) error { return tx.ReplaceSetting("jwt_signing_key", cur, string(b)) }); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{KeyEncryptionKey: kek(t, kekA)}); err == nil {
			t.Errorf("%s sealed key accepted", name)
		}
	}
}

// Rotation: the new key signs, the old one verifies the tokens it signed
// until it is retired for longer than they live, and the JWKS publishes
// exactly the keys that verify. A running Tokens picks the rotated key up
// by itself.
func TestSigningKeyRotation(t *testing.T) {
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
	k := kek(t, kekA)
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{KeyEncryptionKey: k, Now: now, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	old, _, _ := tokens.Issue(ctx, c.ID, secret, "")
	kids := func() []string {
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		_ = json.Unmarshal(tokens.JWKS(), &set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	kidOf := func(tok string) string {
		p, _, _ := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		return p.Header["kid"].(string)
	}
	oldKid := kidOf(old)

	info, dropped, err := auth.RotateSigningKeys(ctx, store, k, now(), auth.RetiredKeyLifetime(time.Hour, 0))
	if err != nil || len(dropped) != 0 || info.Kid == oldKid || info.SealedBy != k.ID() {
		t.Fatalf("rotate: %+v %v %v", info, dropped, err)
	}
	// Picked up once the reload interval has passed (in the background).
	clock.Add(int64(auth.KeyReloadInterval))
	deadline := time.Now().Add(10 * time.Second)
	for got := kids(); len(got) != 2 && time.Now().Before(deadline); got = kids() {
		time.Sleep(5 * time.Millisecond)
	}
	if got := kids(); len(got) != 2 || got[0] != info.Kid || got[1] != oldKid {
		t.Fatalf("JWKS after rotation: %v, want [%s %s]", got, info.Kid, oldKid)
	}
	fresh, _, _ := tokens.Issue(ctx, c.ID, secret, "")
	if kidOf(fresh) != info.Kid {
		t.Fatal("new tokens are not signed with the new key")
	}
	for _, tok := range []string{old, fresh} {
		if _, err := tokens.Authenticate(tok); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	list, err := auth.ListSigningKeys(ctx, store)
	if err != nil || len(list) != 2 || !list[1].Current || list[0].RetiredAt.IsZero() || list[0].Kid != oldKid {
		t.Fatalf("list: %+v %v", list, err)
	}

	// Past the old key's lifetime: it verifies nothing and is not published;
	// the next rotation drops it from the store.
	clock.Add(int64(auth.RetiredKeyLifetime(time.Hour, 0)))
	if got := kids(); len(got) != 1 || got[0] != info.Kid {
		t.Fatalf("JWKS once the old key expired: %v", got)
	}
	if _, err := tokens.Authenticate(old); err == nil {
		t.Fatal("a token of an expired key verifies")
	}
	_, dropped, err = auth.RotateSigningKeys(ctx, store, k, now(), auth.RetiredKeyLifetime(time.Hour, 0))
	if err != nil || len(dropped) != 1 || dropped[0] != oldKid {
		t.Fatalf("second rotation: dropped %v, %v", dropped, err)
	}
	if list, _ := auth.ListSigningKeys(ctx, store); len(list) != 2 {
		t.Fatalf("keys after the second rotation: %+v", list)
	}
}

// Changing the KEK: given the previous one too, the keys are sealed anew
// under the new one, which alone opens them afterwards.
func TestKeyEncryptionKeyChange(t *testing.T) {
	ctx := asAdmin()
	_, store := testkit.Service(t)
	a, b := kek(t, kekA), kek(t, kekB)
	first, err := auth.LoadSigningKeys(ctx, store, a, time.Now())
	if err != nil || !first.Generated {
		t.Fatalf("%+v %v", first, err)
	}
	before, _ := auth.ListSigningKeys(ctx, store)
	changed, err := auth.LoadSigningKeys(ctx, store, b.WithPrevious(a), time.Now())
	if err != nil || !changed.Sealed {
		t.Fatalf("with the previous KEK: %+v %v", changed, err)
	}
	after, _ := auth.ListSigningKeys(ctx, store)
	if len(after) != 1 || after[0].Kid != before[0].Kid || after[0].SealedBy != b.ID() || before[0].SealedBy != a.ID() {
		t.Fatalf("keys before %+v, after %+v", before, after)
	}
	if _, err := auth.LoadSigningKeys(ctx, store, a, time.Now()); !errors.Is(err, auth.ErrWrongSealingKey) {
		t.Fatalf("the replaced KEK: %v", err)
	}
	if again, err := auth.LoadSigningKeys(ctx, store, b, time.Now()); err != nil || again.Sealed || again.Generated {
		t.Fatalf("the new KEK alone: %+v %v", again, err)
	}
}

package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"

	"github.com/rolegate/rolegate"
)

// adminTokenSetting holds the SHA-256 of the generated bootstrap token.
const adminTokenSetting = "admin_token_sha256"

// Authenticator knows the bootstrap admin token: the one configured, else the
// one generated on the first start and kept hashed in the store.
type Authenticator struct {
	hash [sha256.Size]byte
}

// BootstrapAdmin prepares the bootstrap admin token. With a configured token
// it uses that one. Without, it uses the token generated on an earlier start,
// or generates one, stores its hash, and returns it (to be shown once).
func BootstrapAdmin[T Tx](ctx context.Context, st Store[T], configured string) (*Authenticator, string, error) {
	store := narrow(st)
	if configured != "" {
		return &Authenticator{hash: sha256.Sum256([]byte(configured))}, "", nil
	}
	var stored string
	err := store.View(ctx, func(tx Tx) error {
		var err error
		stored, err = tx.GetSetting(adminTokenSetting)
		return err
	})
	if err == nil {
		return authFromHex(stored)
	}
	if !rolegate.IsNotFound(err) {
		return nil, "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, "", err
	}
	token := "rg_" + base64.RawURLEncoding.EncodeToString(buf)
	sum := sha256.Sum256([]byte(token))
	err = store.Update(ctx, func(tx Tx) error { return tx.PutSetting(adminTokenSetting, hex.EncodeToString(sum[:])) })
	if errors.Is(err, rolegate.ErrDuplicate) {
		// Another instance generated one first: use theirs.
		return BootstrapAdmin(ctx, store, "")
	}
	if err != nil {
		return nil, "", err
	}
	return &Authenticator{hash: sum}, token, nil
}

func authFromHex(s string) (*Authenticator, string, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, "", errors.New("stored admin token hash is malformed")
	}
	a := &Authenticator{}
	copy(a.hash[:], b)
	return a, "", nil
}

// Authenticate returns the actor a bearer token stands for. The comparison
// takes the same time whatever the token.
func (a *Authenticator) Authenticate(token string) (Actor, error) {
	sum := sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare(sum[:], a.hash[:]) != 1 {
		return Actor{}, rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is missing or not valid")
	}
	return Actor{ID: "admin", Scopes: []string{ScopeAdmin}}, nil
}

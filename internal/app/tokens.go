package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/handlers"
)

// TokenSettings configure the tokens Rolegate issues to API clients and the
// identity provider whose tokens it accepts for users of entities.
type TokenSettings struct {
	TTL         time.Duration
	JWKSURL     string
	Issuer      string
	Audience    string
	UserClaim   string
	EntityClaim string
	Algorithms  []string
	// FailureCPU and FailuresPerAddress ration the secret checks of failing
	// token requests (handlers.TokenLimits).
	FailureCPU, FailuresPerAddress float64
	// KeyEncryptionKey encrypts the signing keys kept in the database; nil:
	// they are kept in plain (a warning at start).
	KeyEncryptionKey *auth.KeyEncryptionKey

	// The key encryption keys as given (value or file): read by check.
	kek, kekFile         string
	prevKEK, prevKEKFile string
}

func tokenFlags(s *settings, t *TokenSettings) {
	typed(s, &t.TTL, "token-ttl", 15*time.Minute, duration(time.Minute, 24*time.Hour, "is not a duration from 1m to 24h"), "lifetime of the tokens issued to API clients")
	typed(s, &t.FailureCPU, "token-failure-cpu", handlers.DefaultTokenFailureCPU, positive, "share of one processor the secret checks (bcrypt) of failing token requests may take, all callers together; past it the token endpoints answer 429")
	typed(s, &t.FailuresPerAddress, "token-failures-per-address", handlers.DefaultTokenFailuresPerAddress, positive, "failing token requests per second per remote address (IPv6: per /64); past it 429")
	typed(s, &t.Algorithms, "jwt-algorithms", []string{"RS256", "ES256"}, algorithms, "signing algorithms accepted from the identity provider")
	s.str(&t.JWKSURL, "jwks-url", "", "JWKS of an identity provider whose tokens users present")
	s.str(&t.Issuer, "jwt-issuer", "", "expected iss of the identity provider's tokens")
	s.str(&t.Audience, "jwt-audience", "", "expected aud of the identity provider's tokens")
	s.str(&t.UserClaim, "jwt-user-claim", "sub", "claim carrying the user id")
	s.str(&t.EntityClaim, "jwt-entity-claim", "entity_id", "claim carrying the entity id")
	s.secret(&t.kek, "key-encryption-key", "base64 of 32 random bytes that encrypt the token signing keys in the database; prefer the variable or the file")
	s.str(&t.kekFile, "key-encryption-key-file", "", "file holding the key encryption key")
	s.secret(&t.prevKEK, "key-encryption-key-previous", "the key encryption key being replaced: keys encrypted with it are encrypted anew with the new one")
	s.str(&t.prevKEKFile, "key-encryption-key-previous-file", "", "file holding the key encryption key being replaced")
}

var acceptedAlgorithms = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true,
	"PS512": true, "ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

// algorithms parses a comma-separated list of the asymmetric algorithms
// accepted; blanks are skipped.
func algorithms(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !acceptedAlgorithms[a] {
			return nil, fmt.Errorf("%q is not an asymmetric algorithm Rolegate accepts (RS*, PS*, ES*, EdDSA)", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// check reads the key encryption keys and checks the settings that go
// together; each typed setting was checked as it was read.
func (t *TokenSettings) check() error {
	if err := t.readKEK(); err != nil {
		return err
	}
	if t.JWKSURL == "" {
		return nil
	}
	u, err := url.Parse(t.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("jwks-url: %q is not an http(s) URL", t.JWKSURL)
	}
	if t.Issuer == "" || t.Audience == "" {
		return fmt.Errorf("jwks-url needs jwt-issuer and jwt-audience (ROLEGATE_JWT_ISSUER, ROLEGATE_JWT_AUDIENCE)")
	}
	if len(t.Algorithms) == 0 {
		return fmt.Errorf("jwt-algorithms: name at least one")
	}
	return nil
}

// readKEK reads the key encryption key, and the one it replaces, each from
// its flag, variable or file (one of them); error messages never show them.
func (t *TokenSettings) readKEK() error {
	t.KeyEncryptionKey = nil
	kek, err := readKey("key-encryption-key", t.kek, t.kekFile)
	if err != nil {
		return err
	}
	prev, err := readKey("key-encryption-key-previous", t.prevKEK, t.prevKEKFile)
	if err != nil {
		return err
	}
	if prev != nil {
		if kek == nil {
			return errors.New("key-encryption-key-previous needs key-encryption-key: the key that replaces it")
		}
		kek = kek.WithPrevious(prev)
	}
	t.KeyEncryptionKey = kek
	return nil
}

func readKey(name, value, file string) (*auth.KeyEncryptionKey, error) {
	raw := value
	switch {
	case value != "" && file != "":
		return nil, fmt.Errorf("%s and %s-file are both set: give one", name, name)
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s-file: %w", name, err)
		}
		if raw = strings.TrimSpace(string(data)); raw == "" {
			return nil, fmt.Errorf("%s-file: %s is empty", name, file)
		}
	case raw == "":
		return nil, nil
	}
	k, err := auth.ParseKeyEncryptionKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

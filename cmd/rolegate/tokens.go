package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/policy"
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
	KeyEncryptionKey *policy.KeyEncryptionKey

	ttl, algorithms, failureCPU, failuresPerAddress string
	kek, kekFile                                    string
	prevKEK, prevKEKFile                            string
}

func tokenFlags(fs *flag.FlagSet, env func(name, def string) string, t *TokenSettings) {
	fs.StringVar(&t.ttl, "token-ttl", env("ROLEGATE_TOKEN_TTL", "15m"), "lifetime of the tokens issued to API clients (ROLEGATE_TOKEN_TTL)")
	fs.StringVar(&t.JWKSURL, "jwks-url", env("ROLEGATE_JWKS_URL", ""), "JWKS of an identity provider whose tokens users present (ROLEGATE_JWKS_URL)")
	fs.StringVar(&t.Issuer, "jwt-issuer", env("ROLEGATE_JWT_ISSUER", ""), "expected iss of the identity provider's tokens (ROLEGATE_JWT_ISSUER)")
	fs.StringVar(&t.Audience, "jwt-audience", env("ROLEGATE_JWT_AUDIENCE", ""), "expected aud of the identity provider's tokens (ROLEGATE_JWT_AUDIENCE)")
	fs.StringVar(&t.UserClaim, "jwt-user-claim", env("ROLEGATE_JWT_USER_CLAIM", "sub"), "claim carrying the user id (ROLEGATE_JWT_USER_CLAIM)")
	fs.StringVar(&t.EntityClaim, "jwt-entity-claim", env("ROLEGATE_JWT_ENTITY_CLAIM", "entity_id"), "claim carrying the entity id (ROLEGATE_JWT_ENTITY_CLAIM)")
	fs.StringVar(&t.failureCPU, "token-failure-cpu", env("ROLEGATE_TOKEN_FAILURE_CPU", strconv.FormatFloat(handlers.DefaultTokenFailureCPU, 'g', -1, 64)), "share of one processor the secret checks (bcrypt) of failing token requests may take, all callers together; past it the token endpoints answer 429 (ROLEGATE_TOKEN_FAILURE_CPU)")
	fs.StringVar(&t.failuresPerAddress, "token-failures-per-address", env("ROLEGATE_TOKEN_FAILURES_PER_ADDRESS", strconv.FormatFloat(handlers.DefaultTokenFailuresPerAddress, 'g', -1, 64)), "failing token requests per second per remote address (IPv6: per /64); past it 429 (ROLEGATE_TOKEN_FAILURES_PER_ADDRESS)")
	fs.StringVar(&t.kek, "key-encryption-key", env("ROLEGATE_KEY_ENCRYPTION_KEY", ""), "base64 of 32 random bytes that encrypt the token signing keys in the database; prefer the variable or the file (ROLEGATE_KEY_ENCRYPTION_KEY)")
	fs.StringVar(&t.kekFile, "key-encryption-key-file", env("ROLEGATE_KEY_ENCRYPTION_KEY_FILE", ""), "file holding the key encryption key (ROLEGATE_KEY_ENCRYPTION_KEY_FILE)")
	fs.StringVar(&t.prevKEK, "key-encryption-key-previous", env("ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS", ""), "the key encryption key being replaced: keys encrypted with it are encrypted anew with the new one (ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS)")
	fs.StringVar(&t.prevKEKFile, "key-encryption-key-previous-file", env("ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS_FILE", ""), "file holding the key encryption key being replaced (ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS_FILE)")
	fs.StringVar(&t.algorithms, "jwt-algorithms", env("ROLEGATE_JWT_ALGORITHMS", "RS256,ES256"), "signing algorithms accepted from the identity provider (ROLEGATE_JWT_ALGORITHMS)")
}

var acceptedAlgorithms = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true,
	"PS512": true, "ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

func (t *TokenSettings) check() error {
	var err error
	if t.TTL, err = time.ParseDuration(t.ttl); err != nil || t.TTL < time.Minute || t.TTL > 24*time.Hour {
		return fmt.Errorf("token-ttl: %q is not a duration from 1m to 24h", t.ttl)
	}
	for _, f := range []struct {
		name, s string
		v       *float64
	}{{"token-failure-cpu", t.failureCPU, &t.FailureCPU}, {"token-failures-per-address", t.failuresPerAddress, &t.FailuresPerAddress}} {
		r, err := strconv.ParseFloat(f.s, 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("%s: %q is not a positive number", f.name, f.s)
		}
		*f.v = r
	}
	if err := t.readKEK(); err != nil {
		return err
	}
	t.Algorithms = nil
	for _, a := range strings.Split(t.algorithms, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !acceptedAlgorithms[a] {
			return fmt.Errorf("jwt-algorithms: %q is not an asymmetric algorithm Rolegate accepts (RS*, PS*, ES*, EdDSA)", a)
		}
		t.Algorithms = append(t.Algorithms, a)
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

func readKey(name, value, file string) (*policy.KeyEncryptionKey, error) {
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
	k, err := policy.ParseKeyEncryptionKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

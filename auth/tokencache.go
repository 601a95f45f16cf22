package auth

import (
	"crypto"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// verifiedTokens remembers the JWTs whose signature and claims were
// verified, keyed by the SHA-256 of the whole token, so that a token sent
// again costs a map lookup instead of a signature check and two decodes.
// Bounded in number and in bytes (least recently used go first); an entry
// serves only between its token's nbf/iat and its exp (with the leeway), and
// only while the key that verified it still verifies. Everything else (the
// client's record, its entity's incarnation, the scopes) is checked on
// every request, as for a token verified anew. Only verified tokens are
// kept: junk costs nothing here.
type verifiedTokens struct {
	mu     sync.Mutex // guards lru and bytes
	lru    *simplelru.LRU[[32]byte, *verifiedToken]
	bytes  int
	checks atomic.Uint64 // signatures verified
}

const (
	maxVerifiedTokens     = 10000
	maxVerifiedTokenBytes = 16 << 20
	verifiedTokenOverhead = 512 // the entry, its key, the claims' headers
)

type verifiedToken struct {
	own *Claims // Rolegate's own token
	ext *Actor  // an identity provider's

	kid    string         // own: the signing key's id
	header map[string]any // ext: the header, for the key function
	key    crypto.PublicKey

	notBefore, expires time.Time // nbf/iat (the later) and exp; zero: none
	size               int
}

func newVerifiedTokens() *verifiedTokens {
	v := &verifiedTokens{}
	v.lru, _ = simplelru.NewLRU[[32]byte, *verifiedToken](maxVerifiedTokens, func(_ [32]byte, e *verifiedToken) { v.bytes -= e.size })
	return v
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func (v *verifiedTokens) get(k [32]byte) *verifiedToken {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, _ := v.lru.Get(k)
	return e
}

func (v *verifiedTokens) put(k [32]byte, token string, e *verifiedToken) {
	e.size = len(token) + verifiedTokenOverhead
	if e.size > maxVerifiedTokenBytes/64 {
		return // a huge token is verified each time rather than crowd out others
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lru.Remove(k)
	for v.bytes+e.size > maxVerifiedTokenBytes {
		if _, _, ok := v.lru.RemoveOldest(); !ok {
			break
		}
	}
	v.lru.Add(k, e)
	v.bytes += e.size
}

func (v *verifiedTokens) remove(k [32]byte) {
	v.mu.Lock()
	v.lru.Remove(k)
	v.mu.Unlock()
}

// times returns the later of nbf and iat, and exp, of verified claims.
func times(c jwt.Claims) (notBefore, expires time.Time) {
	if d, _ := c.GetNotBefore(); d != nil {
		notBefore = d.Time
	}
	if d, _ := c.GetIssuedAt(); d != nil && d.After(notBefore) {
		notBefore = d.Time
	}
	if d, _ := c.GetExpirationTime(); d != nil {
		expires = d.Time
	}
	return notBefore, expires
}

// current reports whether e's time window holds now, as the parser judges
// it: not before notBefore-leeway, before expires+leeway.
func (e *verifiedToken) current(now time.Time, leeway time.Duration) bool {
	return !e.expires.IsZero() && now.Before(e.expires.Add(leeway)) && !now.Add(leeway).Before(e.notBefore)
}

// sameKey reports whether a and b are the same public key.
func sameKey(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	if a == b {
		return true
	}
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// remembered returns who a verified token stands for, when it was verified
// before and nothing that verification relied on has changed since.
func (t *Tokens) remembered(k [32]byte) (Actor, bool, error) {
	e := t.verified.get(k)
	if e == nil {
		return Actor{}, false, nil
	}
	if !e.current(t.cfg.Now(), t.cfg.Leeway) {
		t.verified.remove(k)
		return Actor{}, false, nil
	}
	switch {
	case e.own != nil:
		t.maybeReload()
		sk := t.usable(e.kid)
		if sk == nil || !sameKey(&sk.priv.PublicKey, e.key) {
			t.verified.remove(k) // rotated out or replaced: verify as today
			return Actor{}, false, nil
		}
		a, err := t.clientActor(e.own)
		return a, true, err
	case e.ext != nil:
		x := t.cfg.External
		if x == nil {
			return Actor{}, false, nil
		}
		alg, _ := e.header["alg"].(string)
		key, err := x.Keys(&jwt.Token{Header: e.header, Method: jwt.GetSigningMethod(alg)})
		if err != nil || !sameKey(key, e.key) {
			t.verified.remove(k) // the provider no longer publishes that key
			return Actor{}, false, nil
		}
		return externalActor(e.ext.UserID, e.ext.EntityID), true, nil
	}
	return Actor{}, false, nil
}

// SignatureChecks is the number of token signatures Authenticate has
// verified (a token it verified before, and may still believe, is not
// verified again).
func (t *Tokens) SignatureChecks() uint64 { return t.verified.checks.Load() }

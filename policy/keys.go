package policy

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
)

// The keys Rolegate signs its tokens with are kept in the store, in one
// setting: a key set of one current key and the keys it replaced, each with
// when it stopped being current. Earlier versions kept one PEM key there; it
// reads as a key set of that one key. With a key encryption key (KEK), each
// private key is stored sealed with AES-256-GCM under it, prefixed with the
// KEK's id, so that a database read alone gives no signing key.

// signingKeySetting holds the key set (JSON), or one PEM key as written by
// earlier versions.
const signingKeySetting = "jwt_signing_key"

// sealedPrefix starts a private key sealed with a KEK: sealedPrefix, the KEK's
// id, ":", then base64url of the GCM nonce and ciphertext.
const sealedPrefix = "rgenc1:"

// KeyEncryptionKey seals the stored signing keys (AES-256-GCM).
type KeyEncryptionKey struct {
	id   string
	aead cipher.AEAD
	// previous, when set, opens keys sealed before the KEK was changed;
	// they are sealed anew under this one.
	previous *KeyEncryptionKey
}

// WithPrevious returns k that also opens the keys sealed under previous (the
// KEK being replaced by k).
func (k *KeyEncryptionKey) WithPrevious(previous *KeyEncryptionKey) *KeyEncryptionKey {
	c := *k
	if previous != nil && previous.id != k.id {
		p := *previous
		p.previous = nil
		c.previous = &p
	}
	return &c
}

// sealedBy returns the id of the KEK a stored key is sealed with, "" for a
// plain one.
func sealedBy(stored string) string {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return ""
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(stored, sealedPrefix), ":")
	return id
}

// ParseKeyEncryptionKey reads a KEK: 32 random bytes in base64 (standard or
// URL alphabet, padded or not), e.g. from `openssl rand -base64 32`.
func ParseKeyEncryptionKey(s string) (*KeyEncryptionKey, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return nil, errors.New("key encryption key: not base64 (make one with: openssl rand -base64 32)")
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("key encryption key: %d bytes, want 32 (make one with: openssl rand -base64 32)", len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("rolegate key encryption key id\x00"), raw...))
	return &KeyEncryptionKey{id: base64.RawURLEncoding.EncodeToString(sum[:6]), aead: aead}, nil
}

// ID names the KEK in what it sealed, without revealing it.
func (k *KeyEncryptionKey) ID() string { return k.id }

// aad binds a sealed key to its kid: a sealed value moved to another entry
// does not open.
func aad(kid string) []byte { return []byte("rolegate jwt signing key\x00" + kid) }

func (k *KeyEncryptionKey) seal(kid string, plain []byte) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.aead.Seal(nonce, nonce, plain, aad(kid))
	return sealedPrefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Errors of reading sealed keys.
var (
	ErrKeysSealed        = errors.New("the stored signing keys are encrypted and no key encryption key was given")
	ErrWrongSealingKey   = errors.New("the stored signing keys are encrypted with another key encryption key")
	ErrSealedKeyCorrupt  = errors.New("a stored signing key does not decrypt with the key encryption key")
	errStoredKeyNotValid = errors.New("stored signing key is not valid")
)

func (k *KeyEncryptionKey) open(kid, stored string) ([]byte, error) {
	rest := strings.TrimPrefix(stored, sealedPrefix)
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, errStoredKeyNotValid
	}
	if k == nil {
		return nil, fmt.Errorf("%w (key id %s)", ErrKeysSealed, id)
	}
	if id != k.id {
		if k.previous == nil || id != k.previous.id {
			return nil, fmt.Errorf("%w (stored under key id %s, the one given is %s)", ErrWrongSealingKey, id, k.id)
		}
		k = k.previous
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, errStoredKeyNotValid
	}
	plain, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], aad(kid))
	if err != nil {
		return nil, fmt.Errorf("%w (key %s)", ErrSealedKeyCorrupt, kid)
	}
	return plain, nil
}

// storedKeySet is the setting's JSON.
type storedKeySet struct {
	Keys []storedKey `json:"keys"`
}

type storedKey struct {
	Kid string `json:"kid"`
	// Key is the private key: PKCS #8 PEM, or sealed (sealedPrefix...).
	Key       string     `json:"key"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"` // when it stopped being current; nil: current
}

// signingKey is one usable key.
type signingKey struct {
	kid     string
	priv    *ecdsa.PrivateKey
	created time.Time
	retired time.Time // zero: current
}

// KeyInfo describes one stored signing key, without it.
type KeyInfo struct {
	Kid       string
	CreatedAt time.Time // zero for a key written by an earlier version
	RetiredAt time.Time // zero: the current key
	Current   bool
	// SealedBy is the id of the KEK the key is encrypted with; "" when it is
	// stored in plain.
	SealedBy string
}

func kidOf(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:12]), nil
}

func parsePEMKey(p []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(p)
	if block == nil {
		return nil, errors.New("stored signing key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("stored signing key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("stored signing key is not ECDSA P-256")
	}
	return ek, nil
}

// parseKeySet reads the setting: a key set, or one PEM key of an earlier
// version.
func parseKeySet(raw string) (storedKeySet, error) {
	var set storedKeySet
	if strings.HasPrefix(strings.TrimSpace(raw), "-----BEGIN") {
		k, err := parsePEMKey([]byte(raw))
		if err != nil {
			return set, err
		}
		kid, err := kidOf(&k.PublicKey)
		if err != nil {
			return set, err
		}
		set.Keys = []storedKey{{Kid: kid, Key: raw}}
		return set, nil
	}
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return set, fmt.Errorf("stored signing keys: %w", err)
	}
	current := 0
	for _, k := range set.Keys {
		if k.Kid == "" || k.Key == "" {
			return set, errors.New("stored signing keys: a key without kid or key")
		}
		if k.RetiredAt == nil {
			current++
		}
	}
	if current != 1 {
		return set, fmt.Errorf("stored signing keys: %d current keys, want 1", current)
	}
	return set, nil
}

// open decodes every key of the set; stale tells whether any is stored in
// plain or sealed under a previous KEK.
func (set storedKeySet) open(kek *KeyEncryptionKey) (keys []signingKey, stale bool, err error) {
	for _, sk := range set.Keys {
		var p []byte
		if strings.HasPrefix(sk.Key, sealedPrefix) {
			if p, err = kek.open(sk.Kid, sk.Key); err != nil {
				return nil, false, err
			}
			stale = stale || sealedBy(sk.Key) != kek.id
		} else {
			p, stale = []byte(sk.Key), true
		}
		priv, err := parsePEMKey(p)
		if err != nil {
			return nil, false, err
		}
		if kid, err := kidOf(&priv.PublicKey); err != nil || kid != sk.Kid {
			return nil, false, fmt.Errorf("stored signing key %s: its kid does not match the key", sk.Kid)
		}
		k := signingKey{kid: sk.Kid, priv: priv, created: sk.CreatedAt}
		if sk.RetiredAt != nil {
			k.retired = *sk.RetiredAt
		}
		keys = append(keys, k)
	}
	return keys, stale, nil
}

// encode stores a private key: sealed under kek, or PEM when kek is nil.
func encodeKey(kid string, priv *ecdsa.PrivateKey, kek *KeyEncryptionKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if kek == nil {
		return string(p), nil
	}
	return kek.seal(kid, p)
}

func newStoredKey(now time.Time, kek *KeyEncryptionKey) (storedKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return storedKey{}, err
	}
	kid, err := kidOf(&priv.PublicKey)
	if err != nil {
		return storedKey{}, err
	}
	enc, err := encodeKey(kid, priv, kek)
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{Kid: kid, Key: enc, CreatedAt: now.UTC()}, nil
}

// sealAll returns the set with every key sealed under kek (those in plain
// or under a previous KEK sealed anew).
func (set storedKeySet) sealAll(keys []signingKey, kek *KeyEncryptionKey) (storedKeySet, error) {
	out := storedKeySet{Keys: make([]storedKey, len(set.Keys))}
	for i, sk := range set.Keys {
		if sealedBy(sk.Key) != kek.id {
			enc, err := encodeKey(sk.Kid, keys[i].priv, kek)
			if err != nil {
				return out, err
			}
			sk.Key = enc
		}
		out.Keys[i] = sk
	}
	return out, nil
}

func (set storedKeySet) encode() (string, error) {
	b, err := json.Marshal(set)
	return string(b), err
}

func readKeySetting(ctx context.Context, store Store) (string, error) {
	var raw string
	err := store.View(ctx, func(tx Tx) error {
		var err error
		raw, err = tx.GetSetting(signingKeySetting)
		return err
	})
	return raw, err
}

// storeKeySet writes the set in place of old ("" when there was none):
// false when another process changed the setting first (read it again).
func storeKeySet(ctx context.Context, store Store, old string, set storedKeySet) (bool, error) {
	val, err := set.encode()
	if err != nil {
		return false, err
	}
	err = store.Update(ctx, func(tx Tx) error {
		if old == "" {
			return tx.PutSetting(signingKeySetting, val)
		}
		return tx.ReplaceSetting(signingKeySetting, old, val)
	})
	if errors.Is(err, rolegate.ErrDuplicate) || rolegate.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// KeyLoad is what LoadSigningKeys found and did.
type KeyLoad struct {
	keys      []signingKey
	Generated bool // no key was stored: the first one was made
	Sealed    bool // keys stored in plain or under a previous KEK were encrypted in place
}

// LoadSigningKeys reads the signing keys from the store, making the first on
// the first start. With kek, keys stored in plain (or under the kek's
// previous one) are encrypted in place; keys stored encrypted need the kek
// they were encrypted with (ErrKeysSealed, ErrWrongSealingKey).
func LoadSigningKeys(ctx context.Context, store Store, kek *KeyEncryptionKey, now time.Time) (KeyLoad, error) {
	for attempt := 0; attempt < 5; attempt++ {
		raw, err := readKeySetting(ctx, store)
		if rolegate.IsNotFound(err) {
			sk, err := newStoredKey(now, kek)
			if err != nil {
				return KeyLoad{}, err
			}
			set := storedKeySet{Keys: []storedKey{sk}}
			ok, err := storeKeySet(ctx, store, "", set)
			if err != nil {
				return KeyLoad{}, err
			}
			if !ok {
				continue // another instance made it first
			}
			keys, _, err := set.open(kek)
			return KeyLoad{keys: keys, Generated: true}, err
		}
		if err != nil {
			return KeyLoad{}, err
		}
		set, err := parseKeySet(raw)
		if err != nil {
			return KeyLoad{}, err
		}
		keys, stale, err := set.open(kek)
		if err != nil {
			return KeyLoad{}, err
		}
		if !stale || kek == nil {
			return KeyLoad{keys: keys}, nil
		}
		sealed, err := set.sealAll(keys, kek)
		if err != nil {
			return KeyLoad{}, err
		}
		ok, err := storeKeySet(ctx, store, raw, sealed)
		if err != nil {
			return KeyLoad{}, err
		}
		if ok {
			return KeyLoad{keys: keys, Sealed: true}, nil
		}
	}
	return KeyLoad{}, errors.New("signing keys: the stored key set kept changing while it was read")
}

// RotateSigningKeys makes a new current signing key; the one it replaces is
// kept, retired now, for tokens it signed, and keys retired more than
// keepFor ago are dropped. With kek the new key (and any key stored in
// plain) is stored encrypted.
func RotateSigningKeys(ctx context.Context, store Store, kek *KeyEncryptionKey, now time.Time, keepFor time.Duration) (KeyInfo, []string, error) {
	now = now.UTC()
	for attempt := 0; attempt < 5; attempt++ {
		raw, err := readKeySetting(ctx, store)
		var set storedKeySet
		var keys []signingKey
		switch {
		case rolegate.IsNotFound(err):
			raw = ""
		case err != nil:
			return KeyInfo{}, nil, err
		default:
			if set, err = parseKeySet(raw); err != nil {
				return KeyInfo{}, nil, err
			}
			if keys, _, err = set.open(kek); err != nil {
				return KeyInfo{}, nil, err
			}
			if kek != nil {
				if set, err = set.sealAll(keys, kek); err != nil {
					return KeyInfo{}, nil, err
				}
			}
		}
		sk, err := newStoredKey(now, kek)
		if err != nil {
			return KeyInfo{}, nil, err
		}
		var next storedKeySet
		var dropped []string
		for _, k := range set.Keys {
			if k.RetiredAt == nil {
				k.RetiredAt = &now
			} else if now.Sub(*k.RetiredAt) > keepFor {
				dropped = append(dropped, k.Kid)
				continue
			}
			next.Keys = append(next.Keys, k)
		}
		next.Keys = append(next.Keys, sk)
		ok, err := storeKeySet(ctx, store, raw, next)
		if err != nil {
			return KeyInfo{}, nil, err
		}
		if ok {
			info := KeyInfo{Kid: sk.Kid, CreatedAt: sk.CreatedAt, Current: true}
			if kek != nil {
				info.SealedBy = kek.id
			}
			return info, dropped, nil
		}
	}
	return KeyInfo{}, nil, errors.New("signing keys: the stored key set kept changing while it was rotated")
}

// ListSigningKeys describes the stored signing keys, the current one last;
// it needs no KEK (nothing is decrypted).
func ListSigningKeys(ctx context.Context, store Store) ([]KeyInfo, error) {
	raw, err := readKeySetting(ctx, store)
	if rolegate.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	set, err := parseKeySet(raw)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(set.Keys))
	for _, k := range set.Keys {
		info := KeyInfo{Kid: k.Kid, CreatedAt: k.CreatedAt, Current: k.RetiredAt == nil}
		if k.RetiredAt != nil {
			info.RetiredAt = *k.RetiredAt
		}
		info.SealedBy = sealedBy(k.Key)
		out = append(out, info)
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Current && out[j].Current })
	return out, nil
}

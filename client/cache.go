package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Checker answers checks: a *Client, or a *Cache in front of one.
type Checker interface {
	Check(ctx context.Context, r CheckRequest) (Decision, error)
}

// CacheOptions bound a Cache.
type CacheOptions struct {
	// Size is the most decisions kept (default 10,000).
	Size int
	// MaxEntities is the most entities followed on the changes feed at once
	// (default 100); checks on others go to the server.
	MaxEntities int
	// Wait is the feed's long-poll in seconds (default 25); it is
	// shortened to keep each poll within MaxStaleness.
	Wait int
	// MaxStaleness bounds how old what the cache knows of an entity may be
	// when it answers from memory (default 5 s, at least 2 s): past it since
	// the feed last answered (a poll that hangs, a proxy that stops
	// forwarding), checks go to the server, and fail as the client does
	// when it cannot be reached. A revoked right is served at most this long.
	MaxStaleness time.Duration
}

// pollMargin is how long past its wait a feed poll may take before it is
// abandoned: the http.Client's own timeout may be long or none.
const pollMargin = 5 * time.Second

// Cache keeps decisions locally and drops them as the entity's changes feed
// reports changes. It serves a decision only while it follows that entity's
// feed without error, never one older than a check's MinRevision, and never
// one past its ValidUntil.
//
// Conditional rights: a decision is kept per Resource (its canonical
// encoding is part of the key, see MaxResourceKey), so an answer about an
// object with some attributes is never served for one with others; a change
// of a user's attributes comes through the feed as a change of that user and
// drops their decisions. A condition reading now, however, changes its value
// with no change at all: a decision is kept until a change or its ValidUntil,
// so ask checks of rights whose conditions read now of the Client, not of a
// Cache.
//
// Close stops its feed readers.
type Cache struct {
	c    *Client
	opts CacheOptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards everything below, and every call on entries
	entries  *lru.Cache[cacheKey, Decision]
	entities map[string]*follow
	// index finds an entity's and a user's decisions without a scan:
	// entity -> user -> keys.
	index map[string]map[string]map[cacheKey]struct{}
}

// follow is the feed reader of one entity.
type follow struct {
	seen    int64     // changes up to this revision are applied
	healthy bool      // the last feed call succeeded
	heard   time.Time // when the feed last answered
}

// fresh reports whether f's decisions may be served (k.mu held): its feed's
// last call succeeded, and no longer than MaxStaleness ago.
func (k *Cache) fresh(f *follow) bool {
	return f != nil && f.healthy && time.Since(f.heard) <= k.opts.MaxStaleness
}

// cacheKey is a question as the server reads it. resource is the check's
// Resource in its canonical encoding (resourceKey): two checks that differ
// only in the object's attributes are two questions, kept apart.
type cacheKey struct {
	entity, user, objectType, action, owner, scope, resource string
}

// MaxResourceKey is the longest canonical encoding of a check's Resource a
// Cache keeps decisions for (bytes); a check with a larger resource is asked
// of the server every time.
const MaxResourceKey = 1024

// resourceKey is the canonical encoding of a resource: names sorted, each
// value written with its kind (a number's kind and digits, a string quoted),
// so that two resources with the same key are the same JSON to the server
// (the converse need not hold: a json.Number "1200.0" and the float64 1200
// are two keys for one question, which costs a second call, never a wrong
// answer). Values
// of other Go types are keyed by their JSON. "" for none (nil and empty send
// nothing). ok is false when the resource cannot be keyed (a value does not
// encode, or the key is longer than MaxResourceKey): such a check is not
// cached.
func resourceKey(res map[string]any) (key string, ok bool) {
	if len(res) == 0 {
		return "", true
	}
	b, ok := appendObject(make([]byte, 0, 128), res)
	if !ok || len(b) > MaxResourceKey {
		return "", false
	}
	return string(b), true
}

func appendObject(b []byte, m map[string]any) ([]byte, bool) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		var ok bool
		if b, ok = appendValue(b, m[k]); !ok || len(b) > MaxResourceKey {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendInt keys an integer a float64 holds exactly as that float64 (the
// same JSON number: 1200 and 1200.0 are one question), others by their
// digits.
func appendInt(b []byte, x int64) []byte {
	if x >= -1<<53 && x <= 1<<53 {
		return strconv.AppendFloat(append(b, 'd'), float64(x), 'g', -1, 64)
	}
	return strconv.AppendInt(append(b, 'i'), x, 10)
}

func appendValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, 'n'), true
	case bool:
		if x {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case string:
		return strconv.AppendQuote(b, x), true
	case float64:
		return strconv.AppendFloat(append(b, 'd'), x, 'g', -1, 64), true
	case int:
		return appendInt(b, int64(x)), true
	case int64:
		return appendInt(b, x), true
	case []any:
		b = append(b, '[')
		for i, item := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendValue(b, item); !ok || len(b) > MaxResourceKey {
				return b, false
			}
		}
		return append(b, ']'), true
	case []string:
		b = append(b, '[')
		for i, item := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, item)
		}
		return append(b, ']'), true
	case map[string]any:
		return appendObject(b, x)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(append(b, 'j'), j...), true
}

// NewCache puts a decision cache in front of c.
func NewCache(c *Client, o CacheOptions) *Cache {
	if o.Size <= 0 {
		o.Size = 10000
	}
	if o.MaxEntities <= 0 {
		o.MaxEntities = 100
	}
	if o.Wait <= 0 || o.Wait > 25 {
		o.Wait = 25
	}
	if o.MaxStaleness <= 0 {
		o.MaxStaleness = 5 * time.Second
	}
	if o.MaxStaleness < 2*time.Second {
		o.MaxStaleness = 2 * time.Second
	}
	// A poll answers within its wait when nothing changes: keep it a
	// second under the bound, so that a healthy feed never goes stale.
	if w := int((o.MaxStaleness - time.Second) / time.Second); o.Wait > w {
		o.Wait = w
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Cache{c: c, opts: o, ctx: ctx, cancel: cancel, entities: map[string]*follow{}, index: map[string]map[string]map[cacheKey]struct{}{}}
	// Evictions and removals run under k.mu (every call on entries does).
	k.entries, _ = lru.NewWithEvict[cacheKey, Decision](o.Size, func(key cacheKey, _ Decision) { k.unindex(key) })
	return k
}

func (k *Cache) unindex(key cacheKey) {
	users := k.index[key.entity]
	keys := users[key.user]
	delete(keys, key)
	if len(keys) == 0 {
		delete(users, key.user)
	}
	if len(users) == 0 {
		delete(k.index, key.entity)
	}
}

func (k *Cache) add(key cacheKey, d Decision) {
	k.entries.Add(key, d)
	users := k.index[key.entity]
	if users == nil {
		users = map[string]map[cacheKey]struct{}{}
		k.index[key.entity] = users
	}
	keys := users[key.user]
	if keys == nil {
		keys = map[cacheKey]struct{}{}
		users[key.user] = keys
	}
	keys[key] = struct{}{}
}

// Close stops following the feeds and forgets every decision.
func (k *Cache) Close() {
	k.cancel()
	k.wg.Wait()
	k.mu.Lock()
	k.entries.Purge()
	k.mu.Unlock()
}

// Len is the number of decisions held.
func (k *Cache) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.entries.Len()
}

func keyOf(r CheckRequest) (cacheKey, bool) {
	res, ok := resourceKey(r.Resource)
	return cacheKey{r.EntityID, r.UserID, r.ObjectType, r.Action, r.OwnerID, r.Scope, res}, ok
}

// Check answers from the cache when it may, else asks the server and keeps
// the answer. Explained checks and checks as of the past (AsOf, AtRevision)
// always go to the server, and so do checks
// whose Resource is larger than MaxResourceKey encoded. A decision is kept
// for its Resource: the same question about an object with other attributes
// is another question.
func (k *Cache) Check(ctx context.Context, r CheckRequest) (Decision, error) {
	if r.Explain || r.AsOf != nil || r.AtRevision != nil {
		// An answer as of the past is another question than now's:
		// never served from the cache, never kept in it.
		return k.c.Check(ctx, r)
	}
	key, keyed := keyOf(r)
	if !keyed {
		return k.c.Check(ctx, r)
	}
	k.mu.Lock()
	f := k.entities[r.EntityID]
	if k.fresh(f) {
		if d, ok := k.entries.Get(key); ok && d.Revision >= r.MinRevision && d.Revision >= 0 && current(d) {
			k.mu.Unlock()
			return d, nil
		}
	}
	k.mu.Unlock()

	d, err := k.c.Check(ctx, r)
	if err != nil {
		return d, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	f = k.entities[r.EntityID]
	if f == nil {
		if len(k.entities) >= k.opts.MaxEntities || k.ctx.Err() != nil {
			return d, nil
		}
		// Follow the feed from this answer's revision: every change after
		// it drops what it touches.
		f = &follow{seen: d.Revision}
		k.entities[r.EntityID] = f
		k.wg.Add(1)
		go k.run(r.EntityID, f)
	}
	// Kept only while the feed is read, and never an answer from before a
	// change already applied (it would outlive it).
	if k.fresh(f) && d.Revision >= f.seen && current(d) {
		k.add(key, d)
	}
	return d, nil
}

// current reports whether a decision may still be served: not once an
// assignment it depends on has expired (the server's answer changes at that
// instant, and the feed hears of it only when the expiry sweep runs).
func current(d Decision) bool {
	return d.ValidUntil == nil || time.Now().Before(*d.ValidUntil)
}

// run reads one entity's feed until the cache is closed.
func (k *Cache) run(entity string, f *follow) {
	defer k.wg.Done()
	backoff := 100 * time.Millisecond
	for k.ctx.Err() == nil {
		k.mu.Lock()
		since, wait := f.seen, k.opts.Wait
		if !f.healthy {
			// Until the feed answers, nothing is served: ask without
			// waiting, so that it answers at once.
			wait = 0
		}
		k.mu.Unlock()
		// Its own deadline: a poll that hangs is abandoned and asked again.
		pctx, cancel := context.WithTimeout(k.ctx, time.Duration(wait)*time.Second+pollMargin)
		ch, err := k.c.ListChanges(pctx, entity, since, ChangesOptions{Wait: wait, Limit: 1000})
		cancel()
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			k.mu.Lock()
			f.healthy = false
			k.dropEntity(entity)
			var e *Error
			if errors.As(err, &e) && e.Status == http.StatusNotFound && e.Code != "route_not_found" {
				// The entity is gone (or this token may not see it): stop
				// following it; a later check starts again.
				delete(k.entities, entity)
				k.mu.Unlock()
				return
			}
			if errors.As(err, &e) && (e.Status == http.StatusGone || e.Code == "unknown_revision") {
				// The log no longer reaches back (or the entity was made
				// anew): start again from now, with nothing kept.
				k.mu.Unlock()
				gctx, cancel := context.WithTimeout(k.ctx, pollMargin)
				ent, gerr := k.c.GetEntity(gctx, entity)
				cancel()
				if gerr == nil {
					k.mu.Lock()
					f.seen, f.healthy, f.heard = ent.Revision, true, time.Now()
					k.mu.Unlock()
					continue
				}
			} else {
				k.mu.Unlock()
			}
			if !k.sleep(backoff) {
				return
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 100 * time.Millisecond
		k.mu.Lock()
		for _, c := range ch.Data {
			k.apply(entity, c)
		}
		if ch.Revision > f.seen {
			f.seen = ch.Revision
		}
		// Decisions kept before a failure were dropped then; from here
		// on every change after seen reaches the cache.
		f.healthy, f.heard = true, time.Now()
		k.mu.Unlock()
		if ch.RetryAfter > 0 && len(ch.Data) == 0 {
			// The server holds too many waiting calls: it answered at
			// once and asks for a pause.
			if !k.sleep(ch.RetryAfter) {
				return
			}
		}
	}
}

// apply drops the decisions one change may alter (under k.mu): a user's or
// an assignment's touch that user; a role's or the entity's touch everyone.
func (k *Cache) apply(entity string, c Change) {
	switch c.Type {
	case "user", "assignment":
		if c.UserID != "" {
			for key := range k.index[entity][c.UserID] {
				k.entries.Remove(key) // unindexes it
			}
			return
		}
	}
	k.dropEntity(entity)
}

func (k *Cache) dropEntity(entity string) {
	for _, keys := range k.index[entity] {
		for key := range keys {
			k.entries.Remove(key)
		}
	}
}

// sleep waits d, or until the cache is closed (false).
func (k *Cache) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-k.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package handlers

// Rate limits: token buckets (golang.org/x/time/rate) per client and per
// entity, one set for checks and one for management calls.
//
// A call is a check when it is POST /v1/check or POST /v1/check/batch; every
// other authenticated call (native, facades, /debug/pprof) is a management
// call. Limits count HTTP requests: a batch is one request, charged once to
// its client and once to each distinct entity it names (a batch holds at most
// MaxBatch checks). Unauthenticated calls (health, readiness, metrics, token
// endpoints, and calls answered 401) are not counted here.
//
// Each call is charged to "client:<ClientID, else Actor.ID>" and to
// "entity:<id>" for the entity it acts in. A caller bound to an entity is
// always charged to that entity only, so that it cannot spend another
// tenant's budget by naming it. A platform-wide caller is charged to the
// entities it names: the path's :entity or :oid, Monite's x-monite-entity-id,
// Papershift's X-Entity-Id, or the entity_id of a check body. A call passes
// only when every bucket it is charged to has a token; when one has not,
// none is charged and the answer is 429.
//
// Buckets hold at most the rate's worth of tokens (burst = rate, at least 1)
// and refill continuously. Memory is bounded: a bucket unused for twice its
// refill time is full again and is dropped (a new one is the same) as the set
// is used, and each set keeps at most MaxKeys buckets, dropping the least
// recently used first.

import (
	"bytes"
	"container/list"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
)

// RateLimits bounds the calls of each client and of each entity, in requests
// per second; 0 is unlimited.
type RateLimits struct {
	Check  float64 // POST /v1/check and /v1/check/batch (a batch is one request)
	Manage float64 // every other authenticated call
	// MaxKeys bounds the buckets held for checks and, apart, for management
	// calls; 0 means DefaultRateLimitKeys.
	MaxKeys int

	now func() time.Time // tests: the clock
}

// DefaultRateLimitKeys is the default bound on buckets per set.
const DefaultRateLimitKeys = 1 << 15

const rateLimiterKey = "rolegate_rate_limiter"

// rateLimiter holds the two sets of buckets; a nil set is unlimited.
type rateLimiter struct {
	check, manage *bucketSet
	now           func() time.Time
}

// newRateLimiter returns nil when nothing is limited.
func newRateLimiter(l RateLimits) *rateLimiter {
	if l.Check <= 0 && l.Manage <= 0 {
		return nil
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultRateLimitKeys
	}
	rl := &rateLimiter{now: l.now, check: newBucketSet(l.Check, l.MaxKeys), manage: newBucketSet(l.Manage, l.MaxKeys)}
	if rl.now == nil {
		rl.now = time.Now
	}
	return rl
}

// attach makes the limiter available to authenticate, which applies it once
// the caller is known.
func (rl *rateLimiter) attach(c *gin.Context) {
	c.Set(rateLimiterKey, rl)
	c.Next()
}

// limitRate applies the router's rate limits, if any, to an authenticated
// call. It answers 429 and returns false when the call is over a limit.
func limitRate(c *gin.Context) bool {
	v, ok := c.Get(rateLimiterKey)
	if !ok {
		return true
	}
	return v.(*rateLimiter).limit(c)
}

// RateLimiter is one server's rate limits, shared by its HTTP router and its
// gRPC port, so that a caller has one budget whatever the transport.
type RateLimiter struct{ rl *rateLimiter }

// NewRateLimiter returns the limiter of l; nil (which limits nothing) when
// nothing is limited.
func NewRateLimiter(l RateLimits) *RateLimiter {
	rl := newRateLimiter(l)
	if rl == nil {
		return nil
	}
	return &RateLimiter{rl: rl}
}

// Check charges one check call (one question or one batch) of actor, naming
// entities, to the check limits: the caller's bucket and each entity's (the
// actor's own entity instead when it is bound to one). Over a limit it takes
// nothing and returns false with the wait. A nil limiter allows all.
func (r *RateLimiter) Check(actor auth.Actor, entities []string) (retryAfter time.Duration, ok bool) {
	if r == nil || r.rl.check == nil {
		return 0, true
	}
	if actor.EntityID != "" {
		entities = []string{actor.EntityID}
	}
	t := r.rl.take(r.rl.check, keysOf(actor, entities))
	if t.wait == 0 {
		return 0, true
	}
	return time.Duration(max(1, ceilSeconds(t.wait))) * time.Second, false
}

// keysOf names the buckets a call of actor naming entities is charged to.
func keysOf(actor auth.Actor, entities []string) []string {
	client := actor.ClientID
	if client == "" {
		client = actor.ID
	}
	keys := []string{"client:" + client}
	for _, e := range entities {
		keys = append(keys, "entity:"+e)
	}
	return keys
}

func (rl *rateLimiter) limit(c *gin.Context) bool {
	check := isCheckRoute(c.Request.Method, c.FullPath()) // metrics.go
	set := rl.manage
	if check {
		set = rl.check
	}
	if set == nil {
		return true
	}
	actor := auth.ActorFrom(c.Request.Context())
	t := rl.take(set, keysOf(actor, entitiesOf(c, actor, check)))
	h := c.Writer.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(set.burst))
	if t.wait == 0 {
		h.Set("RateLimit-Remaining", strconv.Itoa(t.remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(t.reset))
		return true
	}
	retry := max(1, ceilSeconds(t.wait))
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", strconv.Itoa(max(retry, t.reset)))
	h.Set("Retry-After", strconv.Itoa(retry))
	writeRateLimited(c, fmt.Sprintf("too many requests; retry in %d s", retry))
	return false
}

// taken is what charging a call found: the wait before it may go (0: it
// went, and took a token from each bucket), the tokens left in the bucket
// closest to empty, and the seconds until that bucket is full.
type taken struct {
	wait             time.Duration
	remaining, reset int
}

// take charges one call to the buckets of keys in set, all or none.
func (rl *rateLimiter) take(set *bucketSet, keys []string) taken {
	now := rl.now()
	lims := make([]*bucket, len(keys))
	var wait time.Duration
	// First look: a refused call takes no token, so that a flood of refused
	// calls does not push the buckets below empty.
	for i, k := range keys {
		lims[i] = set.get(k, now)
		if t := lims[i].TokensAt(now); t < 1 {
			wait = max(wait, time.Duration((1-t)/float64(set.limit)*float64(time.Second)))
		}
	}
	if wait == 0 {
		// Then take one token from each, all or none (another call may have
		// taken the last one meanwhile).
		res := make([]*rate.Reservation, len(keys))
		for i, l := range lims {
			res[i] = l.ReserveN(now, 1) // burst >= 1: always OK
			wait = max(wait, res[i].DelayFrom(now))
		}
		if wait > 0 {
			for _, r := range res {
				r.CancelAt(now)
			}
		}
	}
	// Report the bucket closest to empty.
	tokens := math.Inf(1)
	for _, l := range lims {
		tokens = min(tokens, l.TokensAt(now))
	}
	return taken{wait: wait, remaining: max(0, int(math.Floor(tokens))),
		reset: ceilSeconds(time.Duration((float64(set.burst) - tokens) / float64(set.limit) * float64(time.Second)))}
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// entitiesOf names the entities a call is charged to (see the top of the
// file); ids that are not entity ids are skipped (the call fails anyway).
func entitiesOf(c *gin.Context, actor auth.Actor, check bool) []string {
	if actor.EntityID != "" {
		return []string{actor.EntityID}
	}
	var out []string
	add := func(id string) {
		if rolegate.ValidEntityID(id) {
			for _, o := range out {
				if o == id {
					return
				}
			}
			out = append(out, id)
		}
	}
	add(c.Param("entity"))
	add(c.Param("oid"))
	switch apiOf(c.FullPath()) {
	case kindMonite:
		add(c.GetHeader("x-monite-entity-id"))
	case kindPapershift:
		add(c.GetHeader("X-Entity-Id"))
	}
	if check {
		out = append(out, checkEntities(c)...)
	}
	return out
}

// checkEntities reads the entity ids of a check or batch body, distinct, and
// puts the body back for the handler, read error included (so that a body
// over the limit is still 413). A body that does not parse names none: the
// handler answers it.
func checkEntities(c *gin.Context) []string {
	orig := c.Request.Body
	if orig == nil || orig == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(orig)
	var r io.Reader = bytes.NewReader(body)
	if err != nil {
		r = io.MultiReader(r, errReader{err})
	}
	c.Request.Body = replayBody{Reader: r, Closer: orig}
	if err != nil {
		return nil
	}
	var doc struct {
		EntityID string `json:"entity_id"`
		Checks   []struct {
			EntityID string `json:"entity_id"`
		} `json:"checks"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	if !strings.HasSuffix(c.FullPath(), "/batch") {
		if !rolegate.ValidEntityID(doc.EntityID) {
			return nil
		}
		return []string{doc.EntityID}
	}
	if len(doc.Checks) > MaxBatch {
		return nil // refused by the handler
	}
	seen := make(map[string]bool, len(doc.Checks))
	var out []string
	for _, ch := range doc.Checks {
		if !seen[ch.EntityID] && rolegate.ValidEntityID(ch.EntityID) {
			if len(out) == MaxBatchEntities {
				return nil // refused by the handler
			}
			seen[ch.EntityID] = true
			out = append(out, ch.EntityID)
		}
	}
	return out
}

type replayBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// writeRateLimited answers 429 in the body of the API the path belongs to
// (apiOf), with code rate_limited where the API
// has codes.
func writeRateLimited(c *gin.Context, msg string) {
	const status, code = http.StatusTooManyRequests, "rate_limited"
	switch apiOf(c.Request.URL.Path) {
	case kindDintero:
		c.AbortWithStatusJSON(status, gin.H{"error": dinteroErrorInfo{Code: code, Message: msg}})
	case kindMonite:
		c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"message": msg}})
	case kindPapershift: // JSON:API
		writeJSONAPI(c, status, gin.H{"errors": []jsonAPIError{{Status: strconv.Itoa(status), Code: code,
			Title: http.StatusText(status), Detail: msg}}})
		c.Abort()
	default:
		c.AbortWithStatusJSON(status, errorBody{Error: errorInfo{Code: code, Message: msg}})
	}
}

// ---- buckets ----

// bucketSet is the one registry of token buckets by key, for every limit:
// the rate limits here (a set for checks, one for management calls) and the
// token guard's failure budgets per address (auth.go). It is bounded and
// sharded to keep lock contention low on the check path. A bucket unused for
// idle is full again: it is dropped as the set is used (a new one is the
// same), and each shard keeps at most its share of maxKeys, dropping the
// least recently used first.
type bucketSet struct {
	limit  rate.Limit
	burst  int
	idle   time.Duration // unused this long, a bucket is full: dropping it changes nothing
	seed   maphash.Seed
	calls  atomic.Uint64 // every sweepEvery calls, one shard is swept of idle buckets
	shards [limiterShards]limiterShard
}

// bucket is a token bucket; pending counts the attempts in flight against it
// where its user keeps them (the token guard, under its own mutex).
type bucket struct {
	*rate.Limiter
	pending int
}

const (
	limiterShards = 32
	sweepEvery    = 256
)

type limiterShard struct {
	mu    sync.Mutex
	max   int
	byKey map[string]*list.Element
	lru   list.List // of *limiterEntry, most recently used first
}

type limiterEntry struct {
	key  string
	b    *bucket
	used time.Time
}

// newBucketSet returns the set of the rate limits: burst = rate (at least 1),
// idle twice the time to refill from empty (at least a second); nil for rate
// 0 (unlimited).
func newBucketSet(perSecond float64, maxKeys int) *bucketSet {
	if perSecond <= 0 {
		return nil
	}
	burst := max(1, int(math.Min(perSecond, math.MaxInt32)))
	return newBuckets(rate.Limit(perSecond), burst,
		max(time.Second, time.Duration(2*float64(burst)/perSecond*float64(time.Second))), maxKeys)
}

// newBuckets returns a set of buckets of limit and burst, dropped once
// unused for idle, at most about maxKeys.
func newBuckets(limit rate.Limit, burst int, idle time.Duration, maxKeys int) *bucketSet {
	s := &bucketSet{limit: limit, burst: burst, idle: idle, seed: maphash.MakeSeed()}
	per := max(1, maxKeys/limiterShards)
	for i := range s.shards {
		s.shards[i].max = per
		s.shards[i].byKey = make(map[string]*list.Element)
	}
	return s
}

// newBucket returns a full bucket of the set's rate, not yet held (see put).
func (s *bucketSet) newBucket() *bucket { return &bucket{Limiter: rate.NewLimiter(s.limit, s.burst)} }

// get returns the bucket of key, making it when needed.
func (s *bucketSet) get(key string, now time.Time) *bucket {
	sh := s.shard(key, now)
	defer sh.mu.Unlock()
	if el, ok := sh.byKey[key]; ok {
		e := el.Value.(*limiterEntry)
		e.used = now
		sh.lru.MoveToFront(el)
		sh.dropIdle(now, s.idle, 2)
		return e.b
	}
	b := s.newBucket()
	sh.add(key, b, now, s.idle)
	return b
}

// peek returns the bucket of key if one is held and not idle, without
// making one or counting as a use.
func (s *bucketSet) peek(key string, now time.Time) *bucket {
	sh := s.shard(key, now)
	defer sh.mu.Unlock()
	if el, ok := sh.byKey[key]; ok {
		if e := el.Value.(*limiterEntry); now.Sub(e.used) < s.idle {
			return e.b
		}
	}
	return nil
}

// put holds b as the bucket of key, used now (it is kept idle from now).
func (s *bucketSet) put(key string, b *bucket, now time.Time) {
	sh := s.shard(key, now)
	defer sh.mu.Unlock()
	if el, ok := sh.byKey[key]; ok {
		e := el.Value.(*limiterEntry)
		e.b, e.used = b, now
		sh.lru.MoveToFront(el)
		return
	}
	sh.add(key, b, now, s.idle)
}

// shard returns key's shard, locked, after sweeping one shard of idle
// buckets every sweepEvery calls.
func (s *bucketSet) shard(key string, now time.Time) *limiterShard {
	if n := s.calls.Add(1); n%sweepEvery == 0 {
		sh := &s.shards[(n/sweepEvery)%limiterShards]
		sh.mu.Lock()
		sh.dropIdle(now, s.idle, math.MaxInt)
		sh.mu.Unlock()
	}
	sh := &s.shards[maphash.String(s.seed, key)%limiterShards]
	sh.mu.Lock()
	return sh
}

// sweep drops every idle bucket.
func (s *bucketSet) sweep(now time.Time) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.dropIdle(now, s.idle, math.MaxInt)
		sh.mu.Unlock()
	}
}

// add holds a new key (sh.mu held), making room first.
func (sh *limiterShard) add(key string, b *bucket, now time.Time, idle time.Duration) {
	sh.dropIdle(now, idle, 2)
	for sh.lru.Len() >= sh.max {
		sh.remove(sh.lru.Back())
	}
	sh.byKey[key] = sh.lru.PushFront(&limiterEntry{key: key, b: b, used: now})
}

// dropIdle drops up to n of the least recently used buckets that are idle.
func (sh *limiterShard) dropIdle(now time.Time, idle time.Duration, n int) {
	for ; n > 0; n-- {
		el := sh.lru.Back()
		if el == nil || now.Sub(el.Value.(*limiterEntry).used) < idle {
			return
		}
		sh.remove(el)
	}
}

func (sh *limiterShard) remove(el *list.Element) {
	delete(sh.byKey, el.Value.(*limiterEntry).key)
	sh.lru.Remove(el)
}

// len is the number of buckets held.
func (s *bucketSet) len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += s.shards[i].lru.Len()
		s.shards[i].mu.Unlock()
	}
	return n
}

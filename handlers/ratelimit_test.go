package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// tokenActors authenticates the tokens it knows as the actors it maps them to.
type tokenActors map[string]auth.Actor

func (t tokenActors) Authenticate(token string) (auth.Actor, error) {
	if a, ok := t[token]; ok && token != "" {
		return a, nil
	}
	return auth.Actor{}, rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is missing or not valid")
}

var testActors = tokenActors{
	"admin":   {ID: "admin", Scopes: []string{auth.ScopeAdmin}},
	"a":       {ID: "client:a", ClientID: "a", Scopes: []string{auth.ScopeAdmin}},
	"b":       {ID: "client:b", ClientID: "b", Scopes: []string{auth.ScopeAdmin}},
	"c":       {ID: "client:c", ClientID: "c", Scopes: []string{auth.ScopeAdmin}},
	"d":       {ID: "client:d", ClientID: "d", Scopes: []string{auth.ScopeAdmin}},
	"bound-2": {ID: "client:bound", ClientID: "bound", EntityID: "T002", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}},
}

// testService is a service over a fresh SQLite file holding the entities.
func testService(t testing.TB, entities ...string) *policy.Service {
	t.Helper()
	svc, _ := testkit.Service(t, entities...)
	return svc
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

type testRouter struct {
	t     *testing.T
	h     http.Handler
	clock *fakeClock
}

func newLimitedRouter(t *testing.T, svc *policy.Service, limits RateLimits) *testRouter {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	limits.now = clock.now
	h := NewRouter(Deps{Service: svc, Auth: testActors, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimits: limits})
	return &testRouter{t: t, h: h, clock: clock}
}

// do sends one request; headers are name, value pairs.
func (r *testRouter) do(token, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

// expect fails unless the status is want; with remaining >= 0 it also wants
// the rate-limit headers with that remaining count.
func (r *testRouter) expect(want, remaining int, token, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	r.t.Helper()
	w := r.do(token, method, path, body, headers...)
	if w.Code != want {
		r.t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, token, w.Code, want, w.Body)
	}
	if remaining >= 0 {
		if got := w.Header().Get("RateLimit-Remaining"); got != fmt.Sprint(remaining) {
			r.t.Fatalf("%s %s as %s: RateLimit-Remaining %q, want %d", method, path, token, got, remaining)
		}
	}
	return w
}

func checkBody(entity string) string {
	return `{"entity_id":"` + entity + `","user_id":"u-1","object_type":"payable","action":"read"}`
}

// TestRateLimitManagePerClientAndEntity: a client over its limit gets 429;
// another client is not affected, except in an entity that is itself over
// its limit; a refused call spends nothing; time refills the buckets.
func TestRateLimitManagePerClientAndEntity(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001", "T002"), RateLimits{Manage: 2})
	e1, e2 := "/v1/entities/T001/roles", "/v1/entities/T002/roles"

	w := r.expect(200, 1, "a", "GET", e1, "")
	if w.Header().Get("RateLimit-Limit") != "2" || w.Header().Get("RateLimit-Reset") != "1" {
		t.Fatalf("headers: %v", w.Header())
	}
	r.expect(200, 0, "a", "GET", e1, "")
	w = r.expect(429, 0, "a", "GET", e1, "")
	if w.Header().Get("Retry-After") != "1" || w.Header().Get("RateLimit-Reset") != "1" || w.Header().Get("RateLimit-Limit") != "2" {
		t.Fatalf("429 headers: %v", w.Header())
	}
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != "rate_limited" || body.Error.Message == "" {
		t.Fatalf("429 body: %s", w.Body)
	}
	r.expect(429, 0, "a", "GET", e2, "") // a itself is over its limit, whatever the entity

	r.expect(200, 1, "b", "GET", e2, "")              // another client, another entity
	r.expect(429, 0, "b", "GET", e1, "")              // entity T001 is over its limit
	r.expect(200, 0, "b", "GET", e2, "")              // the refused call spent nothing of b's
	r.expect(429, 0, "b", "GET", e2, "")              // now b is over
	r.expect(200, -1, "c", "GET", "/v1/entities", "") // no entity named: the client's bucket only

	r.clock.advance(500 * time.Millisecond)
	r.expect(200, 0, "a", "GET", e1, "") // one token back after half a second
	r.expect(429, 0, "a", "GET", e1, "")
	r.clock.advance(time.Second)
	r.expect(200, 1, "a", "GET", e1, "")

	// Checks have their own buckets: unlimited here, so no headers.
	w = r.expect(200, -1, "a", "POST", "/v1/check", checkBody("T001"))
	if w.Header().Get("RateLimit-Limit") != "" {
		t.Fatalf("unlimited check carries rate-limit headers: %v", w.Header())
	}
	// Unauthenticated calls are not counted, and get 401, not 429.
	r.expect(401, -1, "", "GET", e1, "")
	r.expect(401, -1, "nope", "GET", e1, "")
	r.expect(200, -1, "", "GET", "/healthz", "")
}

// TestRateLimitChecks: checks are limited apart from management calls, per
// client and per entity named in the body; a batch counts as one request,
// charged to every entity it names.
func TestRateLimitChecks(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001", "T002", "T003"), RateLimits{Check: 3, Manage: 1})
	r.expect(200, 0, "a", "GET", "/v1/entities/T001", "")
	r.expect(429, 0, "a", "GET", "/v1/entities/T001", "")

	for i := 2; i >= 0; i-- {
		w := r.expect(200, i, "a", "POST", "/v1/check", checkBody("T001"))
		var res wire.Decision
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Permission != "not_allowed" {
			t.Fatalf("check answer after the body was read for the limit: %s", w.Body)
		}
	}
	w := r.expect(429, 0, "a", "POST", "/v1/check", checkBody("T002"))
	if w.Header().Get("RateLimit-Limit") != "3" {
		t.Fatalf("check limit header: %v", w.Header())
	}

	// b: a batch naming T001 (spent) and T002 is refused and spends nothing.
	batch := func(entities ...string) string {
		var cs []string
		for _, e := range entities {
			cs = append(cs, checkBody(e))
		}
		return `{"checks":[` + strings.Join(cs, ",") + `]}`
	}
	r.expect(429, 0, "b", "POST", "/v1/check/batch", batch("T002", "T001"))
	r.expect(200, 2, "b", "POST", "/v1/check/batch", batch("T002", "T002", "T003", "T002"))
	r.expect(200, 1, "b", "POST", "/v1/check", checkBody("T003"))
	// T002 has two tokens left, T003 one.
	r.expect(200, 0, "c", "POST", "/v1/check", checkBody("T003"))
	r.expect(429, 0, "d", "POST", "/v1/check", checkBody("T003"))
	r.expect(200, 1, "d", "POST", "/v1/check", checkBody("T002"))

	// Bodies the handler refuses still count, and are still answered by it.
	r.clock.advance(time.Second)
	r.expect(400, 2, "a", "POST", "/v1/check", `{"entity_id":`)
	r.expect(422, 1, "a", "POST", "/v1/check", `{"entity_id":"T001","colour":"red"}`)
	r.expect(422, 0, "a", "POST", "/v1/check/batch", `{"checks":[]}`)
}

// TestRateLimitBoundClient: a client bound to an entity is charged to its
// own entity, whatever it names, so it cannot spend another tenant's budget.
func TestRateLimitBoundClient(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001", "T002"), RateLimits{Check: 2})
	for i := 0; i < 2; i++ {
		if w := r.do("bound-2", "POST", "/v1/check", checkBody("T001")); w.Code == 429 {
			t.Fatalf("bound client limited too early: %s", w.Body)
		}
	}
	r.expect(429, 0, "bound-2", "POST", "/v1/check", checkBody("T002"))
	r.expect(200, 1, "a", "POST", "/v1/check", checkBody("T001")) // T001 untouched
	r.expect(429, 0, "a", "POST", "/v1/check", checkBody("T002")) // T002 spent by the bound client
}

// TestRateLimitFacades: the facades are management calls, charged to the
// entity they name, and answer 429 in their own error bodies.
func TestRateLimitFacades(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001", "T002", "T003"), RateLimits{Manage: 1})
	monite := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T002"}
	paper := []string{"X-Entity-Id", "T003"}

	r.expect(200, 0, "a", "GET", "/v1/accounts/T001/auth/roles", "")
	w := r.expect(429, 0, "a", "GET", "/v1/accounts/T001/auth/roles", "")
	var dintero struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &dintero); err != nil || dintero.Error.Code != "rate_limited" || dintero.Error.Message == "" {
		t.Fatalf("Dintero 429 body: %s", w.Body)
	}

	r.expect(200, 0, "b", "GET", "/v1/roles", "", monite...)
	r.expect(429, 0, "c", "GET", "/v1/roles", "", monite...) // entity T002 spent by b
	w = r.expect(429, 0, "b", "GET", "/v1/roles", "", "x-monite-version", "2024-05-25", "x-monite-entity-id", "T003")
	var mon struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &mon); err != nil || mon.Error.Message == "" {
		t.Fatalf("Monite 429 body: %s", w.Body)
	}

	r.expect(200, 0, "c", "GET", "/api/v1/roles", "", paper...)
	w = r.expect(429, 0, "d", "GET", "/api/v1/roles", "", paper...)
	if ct := w.Header().Get("Content-Type"); ct != jsonAPIType {
		t.Fatalf("Papershift 429 Content-Type %q", ct)
	}
	var ps struct {
		Errors []jsonAPIError `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &ps); err != nil || len(ps.Errors) != 1 || ps.Errors[0].Status != "429" || ps.Errors[0].Code != "rate_limited" {
		t.Fatalf("Papershift 429 body: %s", w.Body)
	}
}

// TestRateLimitBodyShapes: for every route, the 429 body has the shape of
// the error body errorWriterFor picks for the route's path.
func TestRateLimitBodyShapes(t *testing.T) {
	h := NewRouter(Deps{Service: testService(t), Auth: testActors, Pprof: true})
	for _, rt := range h.(*gin.Engine).Routes() {
		path := samplePath(rt.Path)
		want := recordError(path, func(c *gin.Context) {
			errorWriterFor(path)(c, rolegate.Errorf(rolegate.KindForbidden, "rate_limited", "x"))
		})
		got := recordError(path, func(c *gin.Context) { writeRateLimited(c, "x") })
		if got.Code != 429 {
			t.Fatalf("%s: status %d", path, got.Code)
		}
		if want.Header().Get("Content-Type") != got.Header().Get("Content-Type") || shape(t, want.Body.Bytes()) != shape(t, got.Body.Bytes()) {
			t.Errorf("%s %s: 429 body %s %s, the API's error body is %s %s", rt.Method, rt.Path,
				got.Header().Get("Content-Type"), got.Body, want.Header().Get("Content-Type"), want.Body)
		}
	}
}

func recordError(path string, write func(*gin.Context)) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", path, nil)
	write(c)
	return w
}

// samplePath fills a route's parameters with plausible values.
func samplePath(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		switch {
		case p == ":oid":
			parts[i] = "T12345678"
		case strings.HasPrefix(p, ":"):
			parts[i] = "x1"
		case strings.HasPrefix(p, "*"):
			parts[i] = "heap"
		}
	}
	return strings.Join(parts, "/")
}

// shape is the skeleton of a JSON value: its object keys, recursively, and
// the shape of an array's first item.
func shape(t *testing.T, data []byte) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %q", data)
	}
	var walk func(v any) string
	walk = func(v any) string {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k, vv := range x {
				keys = append(keys, k+":"+walk(vv))
			}
			sort.Strings(keys)
			return "{" + strings.Join(keys, ",") + "}"
		case []any:
			if len(x) == 0 {
				return "[]"
			}
			return "[" + walk(x[0]) + "]"
		}
		return fmt.Sprintf("%T", v)
	}
	return walk(v)
}

// TestRateLimitOff: without limits there are no rate-limit headers.
func TestRateLimitOff(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001"), RateLimits{})
	for i := 0; i < 20; i++ {
		w := r.expect(200, -1, "a", "GET", "/v1/entities/T001", "")
		if w.Header().Get("RateLimit-Limit") != "" {
			t.Fatalf("headers without limits: %v", w.Header())
		}
	}
}

// TestRateLimitHeadersOnErrors: every answer of a limited route carries the
// headers, errors included.
func TestRateLimitHeadersOnErrors(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001"), RateLimits{Manage: 5})
	r.expect(404, 4, "a", "GET", "/v1/entities/T001/roles/nope", "")
	r.expect(422, 3, "a", "POST", "/v1/entities/T001/roles", `{"name":""}`)
}

// TestRateLimitBodyStillLimited: reading a check body for its entity keeps
// the body limit: a stream over 1 MiB is still 413.
func TestRateLimitBodyStillLimited(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001"), RateLimits{Check: 100})
	big := `{"entity_id":"T001","user_id":"` + strings.Repeat("x", 1<<20) + `"}`
	req := httptest.NewRequest("POST", "/v1/check", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1 // streamed: the limit is hit while reading
	req.Header.Set("Authorization", "Bearer a")
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	if w.Code != 413 || !strings.Contains(w.Body.String(), "payload_too_large") {
		t.Fatalf("streamed oversized check: %d %s", w.Code, w.Body)
	}
}

// TestRateLimitConcurrent: with the clock stopped, exactly the burst passes,
// however many callers race for it.
func TestRateLimitConcurrent(t *testing.T) {
	r := newLimitedRouter(t, testService(t, "T001", "T002"), RateLimits{Check: 10, Manage: 10})
	var mu sync.Mutex
	passed := map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			token := []string{"a", "b"}[g%2]
			for i := 0; i < 5; i++ {
				req := httptest.NewRequest("POST", "/v1/check", strings.NewReader(checkBody("T00"+fmt.Sprint(1+g%2))))
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				r.h.ServeHTTP(w, req)
				mu.Lock()
				passed[fmt.Sprint(w.Code)]++
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if passed["200"] != 20 || passed["429"] != 80 {
		t.Fatalf("answers: %v, want 20 of 200 (10 per client) and 80 of 429", passed)
	}
}

// TestBucketSetBounded: the buckets held stay under the bound, and idle
// ones are dropped.
func TestBucketSetBounded(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newBucketSet(10, 64)
	for i := 0; i < 10000; i++ {
		s.get(fmt.Sprintf("entity:e%d", i), now)
	}
	if n := s.len(); n > 64 || n < 32 {
		t.Fatalf("%d buckets held, want at most 64", n)
	}
	// A bucket used a moment ago keeps its state.
	hot := s.get("client:hot", now)
	for hot.AllowN(now, 1) {
	}
	if s.get("client:hot", now) != hot {
		t.Fatal("a bucket in use was replaced")
	}
	// After its refill time twice over, every bucket is full again: the
	// idle ones go as the set is used.
	later := now.Add(3 * time.Second)
	for i := 0; i < 2*sweepEvery*limiterShards; i++ {
		s.get(fmt.Sprintf("client:new%d", i%4), later)
	}
	if n := s.len(); n > 4 {
		t.Fatalf("%d buckets held after the others went idle, want the 4 in use", n)
	}
	if newBucketSet(0, 10) != nil || newRateLimiter(RateLimits{}) != nil {
		t.Fatal("a zero rate is limited")
	}
	if s := newBucketSet(0.5, 10); s.burst != 1 || s.idle != 4*time.Second {
		t.Fatalf("rate 0.5: burst %d, idle %v", s.burst, s.idle)
	}
}

// FuzzCheckEntities: reading a check body for its entities names only
// valid, distinct entity ids, and hands the handler the very same body (or
// the same read error, for a body over the limit).
//
//	go test ./handlers -run x -fuzz FuzzCheckEntities -fuzztime 60s
func FuzzCheckEntities(f *testing.F) {
	for _, seed := range []string{checkBody("T001"), `{"checks":[` + checkBody("a") + `,` + checkBody("a") + `,` + checkBody("b c") + `]}`,
		`{"entity_id":5}`, `{"checks":{}}`, `{"entity_id":"` + strings.Repeat("e", 65) + `"}`, ``, `{`, "\xff"} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	const limit = 256
	r := gin.New()
	var got []string
	var replayed []byte
	var readErr error
	h := func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		got = checkEntities(c)
		replayed, readErr = io.ReadAll(c.Request.Body)
	}
	r.POST("/v1/check", h)
	r.POST("/v1/check/batch", h)
	f.Fuzz(func(t *testing.T, body []byte, batch bool) {
		path := "/v1/check"
		if batch {
			path = "/v1/check/batch"
		}
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", path, bytes.NewReader(body)))
		seen := map[string]bool{}
		for _, id := range got {
			if !rolegate.ValidEntityID(id) || seen[id] {
				t.Fatalf("entities %q from %q", got, body)
			}
			seen[id] = true
		}
		if len(body) > limit {
			var tooBig *http.MaxBytesError
			if !errors.As(readErr, &tooBig) || len(got) != 0 || !bytes.Equal(replayed, body[:limit]) {
				t.Fatalf("over the limit: read %d bytes, error %v, entities %q", len(replayed), readErr, got)
			}
			return
		}
		if readErr != nil || !bytes.Equal(replayed, body) {
			t.Fatalf("body replayed as %q (%v), want %q", replayed, readErr, body)
		}
	})
}

// BenchmarkRateLimitedCheck measures the check path with limits off and on.
//
//	go test ./handlers -run x -bench RateLimitedCheck
func BenchmarkRateLimitedCheck(b *testing.B) {
	svc := testService(b, "T001")
	body := []byte(checkBody("T001"))
	for _, l := range []RateLimits{{}, {Check: 1e9}} {
		h := NewRouter(Deps{Service: svc, Auth: testActors, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimits: l})
		b.Run(fmt.Sprintf("limit=%g", l.Check), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/check", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer a")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}

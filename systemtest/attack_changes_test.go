package systemtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Attacks on the changes feed (GET /v1/entities/{e}/changes): who may read
// it, what its parameters accept, and how many long polls one caller can
// make the server hold.

// clientOf makes an API client with the scopes (bound to entity, "" for
// none) and returns a token of it.
func (s *server) clientOf(entity string, scopes ...string) string {
	s.t.Helper()
	body := map[string]any{"name": "feed reader", "scopes": scopes}
	if entity != "" {
		body["entity_id"] = entity
	}
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", body)
	st, tok := s.clientToken("/v1/auth/token", cl.ClientID, cl.Secret)
	if st != 200 {
		s.t.Fatalf("token: %d", st)
	}
	return tok
}

// Hole: the feed tells who changed what in a tenant. No token is 401;
// another tenant's client finds nothing (404, the same answer as for an
// entity that does not exist, nothing of the feed in it); a client that may
// only check is 403; a user of the entity needs the audit log's right.
func TestAttackChangesFeedWhoMayRead(t *testing.T) {
	p := newIdP(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_JWKS_URL": p.srv.URL,
		"ROLEGATE_JWT_ISSUER": "https://idp.example", "ROLEGATE_JWT_AUDIENCE": "rolegate-api", "ROLEGATE_JWT_ENTITY_CLAIM": "tenant",
		"ROLEGATE_JWT_ALGORITHMS": "ES256", "ROLEGATE_TOKEN_FAILURE_CPU": "1000"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T100"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	auditor := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "auditor", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "audit_event", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	manager := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "manager", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "role", "actions": []any{map[string]any{"action_name": "*", "permission": "allowed"}}},
		map[string]any{"object_type": "user", "actions": []any{map[string]any{"action_name": "*", "permission": "allowed"}}}}}})
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "alice", "email": "secret@t100.example", "role_ids": []string{auditor.ID}})
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "bob", "role_ids": []string{manager.ID}})

	feed := "/v1/entities/T100/changes?since=0"
	if st, h, out := s.callToken("", "GET", feed, nil); st != 401 || h.Get("WWW-Authenticate") == "" || errCode(out) != "unauthenticated" {
		t.Fatalf("no token: %d %v", st, out)
	}
	if st, _, out := s.callToken("not-a-token", "GET", feed, nil); st != 401 {
		t.Fatalf("a junk token: %d %v", st, out)
	}
	// Another tenant's client, even one with every scope it can hold.
	other := s.clientOf("other", "check", "manage")
	st, h, out := s.callToken(other, "GET", feed+"&wait=5", nil)
	_, _, unknown := s.callToken(other, "GET", "/v1/entities/nowhere/changes?since=0", nil)
	if st != 404 || errCode(out) != "entity_not_found" || errCode(unknown) != "entity_not_found" || out["data"] != nil || h.Get("Retry-After") != "" {
		t.Fatalf("another tenant's client: %d %v", st, out)
	}
	for _, q := range []string{"since=99999", "since=-1", "since=x", "limit=0"} {
		// Nothing about the entity leaks through the validation either:
		// the 404 comes before the parameters are read.
		if st, _, out := s.callToken(other, "GET", "/v1/entities/T100/changes?"+q, nil); st != 404 || errCode(out) != "entity_not_found" {
			t.Fatalf("another tenant's client, %s: %d %v", q, st, out)
		}
	}
	if st, _, out := s.callToken(other, "GET", "/v1/entities/other/changes?since=0", nil); st != 200 {
		t.Fatalf("its own entity's feed: %d %v", st, out)
	}
	// A client that may only check.
	checker := s.clientOf("T100", "check")
	if st, _, out := s.callToken(checker, "GET", feed, nil); st != 403 || errCode(out) != "insufficient_scope" {
		t.Fatalf("check-only client: %d %v", st, out)
	}
	// Users of the entity: bob manages roles and users but may not read the
	// audit log, so not the feed; alice may.
	bob := p.token(t, jwt.MapClaims{"sub": "bob"})
	if st, _, out := s.callToken(bob, "GET", feed, nil); st != 403 || errCode(out) != "forbidden" {
		t.Fatalf("a user without the audit log's right: %d %v", st, out)
	}
	if st, _, out := s.callToken(bob, "GET", "/v1/entities/T100/audit-events", nil); st != 403 {
		t.Fatalf("the audit log, the same user: %d %v", st, out)
	}
	alice := p.token(t, nil)
	if st, _, out := s.callToken(alice, "GET", feed, nil); st != 200 || len(out["data"].([]any)) == 0 {
		t.Fatalf("a user with the audit log's right: %d %v", st, out)
	}
	// A user of T100 is bound to it.
	if st, _, out := s.callToken(alice, "GET", "/v1/entities/other/changes?since=0", nil); st != 404 || errCode(out) != "entity_not_found" {
		t.Fatalf("a user of T100 on another entity: %d %v", st, out)
	}
	// Items name objects only: no email, name or right travels in the feed.
	_, _, out = s.call("GET", feed+"&limit=1000", nil)
	raw := fmt.Sprint(out)
	if strings.Contains(raw, "secret@t100.example") || strings.Contains(raw, "audit_event") {
		t.Fatalf("the feed carries object contents: %s", raw)
	}
}

// Hole: parameters at their largest and strangest. Each bad one is 422 with
// the native body naming it, and nothing waits; the largest good ones work.
func TestAttackChangesFeedParameters(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	base := "/v1/entities/acme/changes?"
	huge := strings.Repeat("9", 4000)
	for _, c := range []struct{ query, field string }{
		{"", "since"},
		{"since=", "since"},
		{"since=-1", "since"},
		{"since=+1", "since"},
		{"since=%201", "since"},
		{"since=1.0", "since"},
		{"since=1e3", "since"},
		{"since=0x10", "since"},
		{"since=abc", "since"},
		{"since=9223372036854775808", "since"},
		{"since=" + huge, "since"},
		{"since=0&since=1", "since"},
		{"since=0&wait=26", "wait"},
		{"since=0&wait=-1", "wait"},
		{"since=0&wait=1s", "wait"},
		{"since=0&wait=" + huge, "wait"},
		{"since=0&wait=1&wait=2", "wait"},
		{"since=0&limit=0", "limit"},
		{"since=0&limit=1001", "limit"},
		{"since=0&limit=-5", "limit"},
		{"since=0&limit=", "limit"},
		{"since=0&limit=1&limit=1", "limit"},
		{"since=0&limit=" + huge, "limit"},
	} {
		st, _, out := s.call("GET", base+c.query, nil)
		details, _ := get(out, "error", "details").([]any)
		if st != 422 || errCode(out) != "invalid_"+c.field || len(details) != 1 || get(details[0], "field") != c.field {
			t.Errorf("%.60s: %d %v; want 422 invalid_%s", c.query, st, out, c.field)
		}
		if strings.Contains(fmt.Sprint(out), huge) {
			t.Errorf("%.60s: the huge value is echoed", c.query)
		}
	}
	// The largest good values: a revision past the entity's is 422
	// unknown_revision (never a wait); wait=25 with a change answers at
	// once; limit=1000.
	start := time.Now()
	if st, _, out := s.call("GET", base+"since=9223372036854775807&wait=25", nil); st != 422 || errCode(out) != "unknown_revision" {
		t.Fatalf("largest since: %d %v", st, out)
	}
	if st, _, out := s.call("GET", base+"since=0&wait=25&limit=1000&unknown=1", nil); st != 200 || out["revision"] != 1.0 {
		t.Fatalf("largest wait and limit: %d %v", st, out)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("answers with something to say waited %v", waited)
	}
	// Leading zeros are still a number.
	if st, _, out := s.call("GET", base+"since=0000&limit=0010", nil); st != 200 {
		t.Fatalf("leading zeros: %d %v", st, out)
	}
}

// Hole: long polls hold a goroutine and a connection each for up to 25 s.
// Past the bounds (here 6 on one entity, 10 in all) a poll answers at once,
// empty, with Retry-After, rather than holding more; while they wait, the
// server answers /healthz and checks; a write wakes them; when they are
// done nothing is left waiting, and goroutines come back down.
func TestAttackChangesFeedManyLongPolls(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_MAX_CHANGE_WAITERS": "10", "ROLEGATE_MAX_CHANGE_WAITERS_PER_ENTITY": "6"})
	for _, e := range []string{"a", "b", "c"} {
		s.must(201, "POST", "/v1/entities", map[string]any{"id": e})
	}
	goroutines := func() float64 {
		_, text := s.get(testToken, "/metrics")
		return metric(t, text, "go_goroutines")
	}
	before := goroutines()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	type answer struct {
		entity string
		status int
		body   string
		busy   bool
		took   time.Duration
	}
	answers := make(chan answer, 100)
	var wg sync.WaitGroup
	poll := func(entity string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			req, _ := http.NewRequest("GET", s.base+"/v1/entities/"+entity+"/changes?since=1&wait=25", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			res, err := client.Do(req)
			if err != nil {
				answers <- answer{entity: entity, status: -1, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			answers <- answer{entity, res.StatusCode, string(b), res.Header.Get("Retry-After") == "1", time.Since(start)}
		}()
	}
	// 20 polls on a: 6 wait, 14 answer at once.
	for range 20 {
		poll("a")
	}
	for range 14 {
		if got := <-answers; got.status != 200 || !got.busy || !strings.Contains(got.body, `"data":[]`) {
			t.Fatalf("a poll past the entity's bound: %+v", got)
		}
	}
	testkit.Eventually(t, 10*time.Second, "6 polls wait on a", func() bool { return s.changeWaiters() == 6 })
	// 10 on b: 4 more fit in the overall bound.
	for range 10 {
		poll("b")
	}
	for range 6 {
		if got := <-answers; got.status != 200 || !got.busy || got.entity != "b" {
			t.Fatalf("a poll past the overall bound: %+v", got)
		}
	}
	testkit.Eventually(t, 10*time.Second, "10 polls wait", func() bool { return s.changeWaiters() == 10 })
	// Full: c answers at once; the server answers everything else.
	poll("c")
	if got := <-answers; got.status != 200 || !got.busy || got.entity != "c" {
		t.Fatalf("a poll with every bound full: %+v", got)
	}
	if st, _ := s.get("", "/healthz"); st != 200 {
		t.Fatalf("/healthz while polls wait: %d", st)
	}
	s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "a", "user_id": "u", "object_type": "doc", "action": "read"})
	// A write on a wakes its 6 with the change; a write on b its 4.
	s.must(201, "POST", "/v1/entities/a/users", map[string]any{"id": "u"})
	s.must(201, "POST", "/v1/entities/b/users", map[string]any{"id": "u"})
	for range 10 {
		got := <-answers
		if got.status != 200 || got.busy || !strings.Contains(got.body, `"user_id":"u"`) || got.took > 20*time.Second {
			t.Fatalf("a waiting poll after a write: %+v", got)
		}
	}
	wg.Wait()
	if n := s.changeWaiters(); n != 0 {
		t.Fatalf("%v polls still waiting", n)
	}
	testkit.Eventually(t, 10*time.Second, "goroutines back down", func() bool { return goroutines() <= before+5 })
}

// Hole: callers that go away. A long poll whose client disconnects stops
// waiting at once (nothing is left holding a waiter's place).
func TestAttackChangesFeedClientGoesAway(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/entities/acme/changes?since=1&wait=25", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		done := make(chan error, 1)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
			}
			done <- err
		}()
		testkit.Eventually(t, 10*time.Second, "the poll waits", func() bool { return s.changeWaiters() == 1 })
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the cancelled poll was answered")
		}
		testkit.Eventually(t, 10*time.Second, "the server lets the poll go", func() bool { return s.changeWaiters() == 0 })
	}
}

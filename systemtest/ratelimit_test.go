package systemtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// rlCheck is a check on an entity.
func rlCheck(entity string) map[string]any {
	return map[string]any{"entity_id": entity, "user_id": "u1", "object_type": "payable", "action": "read"}
}

// rlHeaders returns the rate-limit headers of an answer.
func rlHeaders(h http.Header) (limit, remaining, reset, retry string) {
	return h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), h.Get("Retry-After")
}

// rlUntil429 calls until a 429, at most max times, and returns the answer.
func rlUntil429(t *testing.T, s *server, max int, token, method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	t.Helper()
	for i := 0; i < max; i++ {
		st, h, out := s.callToken(token, method, path, body, headers...)
		if st == 429 {
			return st, h, out
		}
		if st >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, st, out)
		}
	}
	t.Fatalf("%s %s: no 429 after %d calls", method, path, max)
	return 0, nil, nil
}

// TestRateLimitsHTTP runs the real server with low limits: a client over
// its limit gets 429 with Retry-After and the RateLimit headers, in each
// API's error body; checks and management calls are limited apart; public
// and unauthenticated calls are not counted; other clients and entities are
// not affected, except that an entity over its limit refuses everyone.
func TestRateLimitsHTTP(t *testing.T) {
	db := sqliteURL(t)
	seed := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})
	seed.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	seed.must(201, "POST", "/v1/entities", map[string]any{"id": "T87654321"})
	// API clients, when this build has them.
	var clients []api.APIClient
	if st, _, _ := seed.call("GET", "/v1/clients", nil); st != 404 {
		clients = append(clients,
			mustAs[api.APIClient](seed, 201, "POST", "/v1/clients", map[string]any{"name": "other", "scopes": []string{"admin"}}),
			mustAs[api.APIClient](seed, 201, "POST", "/v1/clients", map[string]any{"name": "bound", "entity_id": "T87654321", "scopes": []string{"check", "manage"}}))
	}
	if err := seed.stop(); err != nil {
		t.Fatal(err)
	}

	// Management: 0.5/s, so a burst of 1 and a token every 2 s.
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_RATE_LIMIT_CHECK": "3", "ROLEGATE_RATE_LIMIT_MANAGE": "0.5"})
	start := time.Now()
	st, h, out := s.call("GET", "/v1/entities/T12345678", nil)
	if l, rem, reset, _ := rlHeaders(h); st != 200 || l != "1" || rem != "0" || reset != "2" {
		t.Fatalf("first call: %d, RateLimit-Limit %q, -Remaining %q, -Reset %q: %v", st, l, rem, reset, out)
	}
	st, h, out = s.call("GET", "/v1/entities/T12345678", nil)
	l, rem, reset, retry := rlHeaders(h)
	ra, _ := strconv.Atoi(retry)
	rs, _ := strconv.Atoi(reset)
	if st != 429 || errCode(out) != "rate_limited" || l != "1" || rem != "0" || ra < 1 || ra > 2 || rs < ra {
		t.Fatalf("over the limit: %d %v, RateLimit-Limit %q, -Remaining %q, -Reset %q, Retry-After %q", st, out, l, rem, reset, retry)
	}

	// Each API answers 429 in its own body.
	monite := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T12345678"}
	for _, c := range []struct {
		path    string
		headers []string
		check   func(any) bool
	}{
		{"/v1/accounts/T12345678/auth/roles", nil, func(v any) bool { return get(v, "error", "code") == "rate_limited" }},
		{"/v1/roles", monite, func(v any) bool { m, _ := get(v, "error", "message").(string); return m != "" }},
		{"/api/v1/roles", []string{"X-Entity-Id", "T12345678"}, func(v any) bool {
			return get(v, "errors", 0, "status") == "429" && get(v, "errors", 0, "code") == "rate_limited"
		}},
	} {
		st, h, body := s.raw("GET", c.path, "", c.headers...)
		if st != 429 || !c.check(body) || h.Get("Retry-After") == "" || h.Get("RateLimit-Limit") != "1" {
			t.Errorf("GET %s: %d %v %v", c.path, st, h, body)
		}
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Skip("too slow a machine for a 2 s window")
	}

	// Checks have their own budget.
	st, h, out = s.call("POST", "/v1/check", rlCheck("T12345678"))
	if l, rem, _, _ := rlHeaders(h); st != 200 || l != "3" || rem != "2" {
		t.Fatalf("check while management is over its limit: %d %v %v", st, h, out)
	}
	_, h, out = rlUntil429(t, s, 4, testToken, "POST", "/v1/check/batch", map[string]any{"checks": []any{rlCheck("T12345678"), rlCheck("T87654321")}})
	if _, rem, _, retry := rlHeaders(h); rem != "0" || retry != "1" || errCode(out) != "rate_limited" {
		t.Fatalf("checks over the limit: %v %v", h, out)
	}

	// Public and unauthenticated calls are not counted.
	for i := 0; i < 10; i++ {
		for _, p := range []string{"/healthz", "/readyz"} {
			if st, h, _ := s.call("GET", p, nil); st != 200 || h.Get("RateLimit-Limit") != "" {
				t.Fatalf("GET %s: %d %v", p, st, h)
			}
		}
		if st, h, _ := s.callToken("wrong", "GET", "/v1/entities", nil); st != 401 || h.Get("RateLimit-Limit") != "" {
			t.Fatalf("bad token: %d %v", st, h)
		}
	}

	if len(clients) == 0 {
		t.Log("no API clients in this build: other clients not tried")
		return
	}
	tokens := make([]string, len(clients))
	for i, c := range clients {
		tokens[i] = rlToken(t, s, c.ClientID, c.Secret)
	}
	other, bound := tokens[0], tokens[1]
	// The admin spends its own and T12345678's budget again.
	rlUntil429(t, s, 3, testToken, "GET", "/v1/entities/T12345678", nil)
	if st, _, out := s.callToken(other, "GET", "/v1/entities/T12345678", nil); st != 429 {
		t.Fatalf("another client in an entity over its limit: %d %v", st, out)
	}
	if st, h, out := s.callToken(other, "GET", "/v1/entities/T87654321", nil); st != 200 || h.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("another client in another entity: %d %v %v", st, h, out)
	}
	if st, _, out := s.callToken(bound, "GET", "/v1/entities/T87654321/roles", nil); st != 429 {
		t.Fatalf("bound client in an entity spent by another client: %d %v", st, out)
	}
	if st, _, out := s.callToken(bound, "POST", "/v1/check", rlCheck("T87654321")); st != 200 {
		t.Fatalf("bound client's check: %d %v", st, out)
	}
}

// rlToken gets an API client's token (client credentials, HTTP Basic).
func rlToken(t *testing.T, s *server, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/v1/auth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.AccessToken == "" {
		t.Fatalf("token: %d %v", res.StatusCode, err)
	}
	return out.AccessToken
}

package systemtest

import (
	"net/http"
	"strings"
	"testing"
)

// TestAttackCORS: browser pages of the allow-listed origin (and only those)
// may call the API. Another origin, a look-alike, another scheme or "null"
// gets no CORS header at all, so its browser keeps every answer from it; no
// answer ever says "*" or allows credentials; CORS is off unless configured,
// and "*" or a malformed origin refuses to start.
func TestAttackCORS(t *testing.T) {
	const app = "https://app.example.com"
	off := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	on := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_CORS_ORIGINS": app + ", http://localhost:5173"})
	on.must(201, "POST", "/v1/entities", map[string]any{"id": "acme", "name": "Acme"})

	preflight := func(s *server, origin, path, method string) (int, http.Header) {
		t.Helper()
		st, h, _ := s.send(false, "", "OPTIONS", path, nil, "Origin", origin,
			"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization, if-match, content-type")
		return st, h
	}
	noCORS := func(what string, h http.Header) {
		t.Helper()
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: CORS header %s: %q", what, k, h.Get(k))
			}
		}
	}
	safe := func(what string, h http.Header) {
		t.Helper()
		if h.Get("Access-Control-Allow-Origin") == "*" || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: wildcard or credentials: %v", what, h)
		}
	}

	// Off by default: an allow-listed origin elsewhere is nobody here.
	st, h := preflight(off, app, "/v1/entities", "POST")
	noCORS("off, preflight", h)
	if st == http.StatusNoContent {
		t.Errorf("off: preflight answered %d", st)
	}
	_, h, _ = off.send(false, testToken, "GET", "/v1/entities", nil, "Origin", app)
	noCORS("off, GET", h)

	// The allowed origin: preflight answered, answers readable.
	for _, tc := range []struct{ path, method string }{{"/v1/entities/acme/roles", "POST"}, {"/v1/entities/acme/roles/x", "PATCH"}, {"/v1/check", "POST"}} {
		st, h := preflight(on, app, tc.path, tc.method)
		safe("preflight", h)
		if st != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != app ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), tc.method) ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "If-Match") || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("allowed preflight %s %s: %d %v", tc.method, tc.path, st, h)
		}
	}
	st, h, _ = on.send(false, testToken, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-1"}, "Origin", app)
	safe("write", h)
	if st != 201 || h.Get("Access-Control-Allow-Origin") != app || h.Get("X-Rolegate-Revision") == "" {
		t.Errorf("allowed write: %d %v", st, h)
	}
	for _, name := range []string{"ETag", "Retry-After", "X-Rolegate-Revision", "X-Request-Id"} {
		if !strings.Contains(h.Get("Access-Control-Expose-Headers"), name) {
			t.Errorf("%s not exposed: %q", name, h.Get("Access-Control-Expose-Headers"))
		}
	}
	// An error is readable too (the page needs its code), still no wildcard.
	st, h, body := on.send(false, "", "GET", "/v1/entities", nil, "Origin", "http://localhost:5173")
	safe("401", h)
	if st != 401 || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" || errCode(body) == "" {
		t.Errorf("allowed origin, no token: %d %v %v", st, h, body)
	}

	// Everything else: no CORS header, preflight not answered.
	for _, origin := range []string{"https://evil.example", "https://app.example.com.evil.example", "https://evil-app.example.com",
		"http://app.example.com", "https://app.example.com:8443", "null", "*", app + "/"} {
		st, h := preflight(on, origin, "/v1/entities", "POST")
		noCORS("preflight from "+origin, h)
		if st == http.StatusNoContent || st < 400 {
			t.Errorf("preflight from %s: %d", origin, st)
		}
		_, h, _ = on.send(false, testToken, "GET", "/v1/entities", nil, "Origin", origin)
		noCORS("GET from "+origin, h)
	}
	// The console and the operators' endpoints are never for other origins.
	for _, path := range []string{"/console", "/metrics"} {
		_, h := preflight(on, app, path, "GET")
		noCORS("preflight of "+path, h)
	}

	for _, bad := range []string{"*", "https://app.example.com/path", "app.example.com", "ftp://app.example.com", "https://app.example.com, null"} {
		_, err := launch(t, map[string]string{"ROLEGATE_ADDR": "127.0.0.1:0", "ROLEGATE_DATABASE_URL": sqliteURL(t),
			"ROLEGATE_ADMIN_TOKEN": testToken, "ROLEGATE_CORS_ORIGINS": bad})
		if err == nil || !strings.Contains(err.Error(), "cors-origins") {
			t.Errorf("ROLEGATE_CORS_ORIGINS=%q: started or unclear: %v", bad, err)
		}
	}
}

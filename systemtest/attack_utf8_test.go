package systemtest

import (
	"strings"
	"testing"
)

// TestAttackInvalidUTF8Refused: a JSON body holding invalid UTF-8, or a lone
// UTF-16 surrogate as a \u escape, was decoded with U+FFFD in its place and
// stored: what was stored was not what was sent. Every API refuses it (the
// native API and the facades with their malformed-JSON answer: 400
// malformed_json, Monite's 422 value_error.jsondecode) and writes nothing; a
// surrogate pair (one character outside the BMP) is kept as sent.
func TestAttackInvalidUTF8Refused(t *testing.T) {
	s := newFacadeServer(t, "T123")
	revision := func() any { return s.must(200, "GET", "/v1/entities/T123", nil)["revision"] }
	before := revision()
	for _, bad := range []string{"a\xffb", "\xc3\x28", "\xed\xa0\x80", `a\udc00b`, `a\ud800b`, `\ud800\u0041`, `x\ud83d`} {
		native := []struct{ method, path, body string }{
			{"POST", "/v1/entities/T123/roles", `{"name":"` + bad + `"}`},
			{"POST", "/v1/entities/T123/users", `{"id":"u1","name":"` + bad + `"}`},
			{"POST", "/v1/entities", `{"id":"e1","name":"` + bad + `"}`},
			{"POST", "/v1/entities/T123/users/import", `{"users":[{"id":"u2","name":"` + bad + `"}]}`},
			{"POST", "/v1/accounts/T123/auth/roles", `{"name":"` + bad + `","scope":[]}`},
			{"POST", "/v1/accounts/T123/management/users", `{"email":"a@example.com","name":"` + bad + `"}`},
		}
		for _, c := range native {
			st, _, out := s.raw(c.method, c.path, c.body)
			if st != 400 || get(out, "error", "code") != "malformed_json" {
				t.Errorf("%s %s with %q: %d %v", c.method, c.path, bad, st, out)
			}
		}
		st, _, out := s.raw("POST", "/v1/roles", `{"name":"`+bad+`","permissions":{"objects":[]}}`, moniteHdr...)
		if st != 422 || !strings.Contains(mustJSON(out), "jsondecode") {
			t.Errorf("Monite with %q: %d %v", bad, st, out)
		}
		st, _, out = s.raw("POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"`+bad+`"}}}`, paperHdr...)
		if st != 400 {
			t.Errorf("Papershift with %q: %d %v", bad, st, out)
		}
	}
	if after := revision(); after != before {
		t.Fatalf("the entity was written: revision %v -> %v", before, after)
	}
	if st, _, _ := s.call("GET", "/v1/entities/e1", nil); st != 404 {
		t.Fatalf("entity e1 was created: %d", st)
	}
	// Valid text, escaped or not, is kept exactly.
	for _, name := range []string{`smile \ud83d\ude00`, "smile \U0001F600 ü", `back\\udc00slash`} {
		st, _, out := s.raw("POST", "/v1/entities/T123/roles", `{"name":"`+name+`"}`)
		if st != 201 {
			t.Fatalf("role %q: %d %v", name, st, out)
		}
		want := map[string]string{`smile \ud83d\ude00`: "smile \U0001F600", "smile \U0001F600 ü": "smile \U0001F600 ü", `back\\udc00slash`: `back\udc00slash`}[name]
		if got := get(out, "name"); got != want {
			t.Fatalf("role %q reads back as %q, want %q", name, got, want)
		}
	}
}

package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// routeHeaders are the headers that let a request reach each API's handlers.
var routeHeaders = map[string]string{
	"x-monite-version":   "2024-05-25",
	"x-monite-entity-id": "T12345678",
	"X-Entity-Id":        "T12345678",
}

// TestNoSecretInLogs sends every route, at debug level, a valid token, a
// wrong one, a Basic credential and a token in the query string, with rate
// limits on, and finds none of them in the log.
func TestNoSecretInLogs(t *testing.T) {
	const secret = "s3cr3t-T0KEN-value-9f8e7d"
	buf := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(log)
	defer slog.SetDefault(prev)

	h := NewRouter(Deps{Service: testService(t, "T12345678"), Auth: tokenActors{secret: {ID: "admin", Scopes: []string{auth.ScopeAdmin}}},
		Logger: log, Pprof: true, Metrics: prometheus.NewRegistry(), RateLimits: RateLimits{Check: 1, Manage: 1000}})
	basic := base64.StdEncoding.EncodeToString([]byte("client:" + secret))
	routes := h.(*gin.Engine).Routes()
	routes = append(routes, gin.RouteInfo{Method: "GET", Path: "/no/such/route"})
	for _, rt := range routes {
		path := samplePath(rt.Path)
		for _, auth := range []string{"Bearer " + secret, "Bearer " + secret + "x", "Basic " + basic, ""} {
			req := httptest.NewRequest(rt.Method, path+"?access_token="+secret, strings.NewReader(`{"name":"`+secret+`"}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			for k, v := range routeHeaders {
				req.Header.Set(k, v)
			}
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Errorf("%s %s (%.10s...): %d %s", rt.Method, path, auth, w.Code, w.Body)
			}
		}
	}
	out := buf.String()
	if strings.Count(out, `"msg":"request"`) < len(routes)*4 {
		t.Fatalf("not every request was logged:\n%s", out)
	}
	for _, s := range []string{secret, basic, "access_token"} {
		if strings.Contains(out, s) {
			t.Fatalf("the log holds %q:\n%s", s, out)
		}
	}
}

// TestBodyLimitEveryRoute: a declared body over the limit is 413 on every
// route, known or not, with a token or without, in the API's own body; a
// streamed body over the limit is 413 on every route that takes a body.
func TestBodyLimitEveryRoute(t *testing.T) {
	const limit = 1024
	h := NewRouter(Deps{Service: testService(t, "T12345678"), Auth: testActors, MaxBodyBytes: limit, Pprof: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	routes := h.(*gin.Engine).Routes()
	routes = append(routes, gin.RouteInfo{Method: "POST", Path: "/v1/nope"}, gin.RouteInfo{Method: "PUT", Path: "/api/v1/nope"})
	send := func(method, path, token string, streamed bool) *httptest.ResponseRecorder {
		n := limit
		if strings.HasSuffix(path, "/users/import") {
			n = limit * ImportBodyFactor // the import's own, larger limit
		}
		var body io.Reader = strings.NewReader(`{"name":"` + strings.Repeat("x", n) + `"}`)
		if streamed {
			body = io.MultiReader(body) // no length: read until the limit
		}
		req := httptest.NewRequest(method, path, body)
		if streamed {
			req.ContentLength = -1
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range routeHeaders {
			req.Header.Set(k, v)
		}
		if strings.HasPrefix(path, "/api/") {
			req.Header.Set("Content-Type", jsonAPIType)
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, rt := range routes {
		path := samplePath(rt.Path)
		for _, token := range []string{"", "admin"} {
			w := send(rt.Method, path, token, false)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %s (token %q), declared length over the limit: %d %s", rt.Method, path, token, w.Code, w.Body)
				continue
			}
			want := recordError(path, func(c *gin.Context) { errorWriterFor(path)(c, &http.MaxBytesError{Limit: limit}) })
			if shape(t, w.Body.Bytes()) != shape(t, want.Body.Bytes()) {
				t.Errorf("%s %s: 413 body %s, the API's is %s", rt.Method, path, w.Body, want.Body)
			}
		}
		if rt.Method == "GET" || rt.Method == "DELETE" || strings.HasPrefix(rt.Path, "/debug/") || strings.HasSuffix(rt.Path, "/nope") {
			continue // takes no body: an unread body is only bounded
		}
		if w := send(rt.Method, path, "admin", true); w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s, streamed body over the limit: %d %s", rt.Method, path, w.Code, w.Body)
		}
	}
}

// FuzzRequestDecoders feeds arbitrary bodies to every request decoder of
// the native API and the facades, as the handlers use them (with the body
// limit, then the API's own checks of the decoded body). Nothing may panic,
// every refusal is a 4xx in the API's error body, and an accepted body is
// valid JSON.
//
//	go test ./handlers -run x -fuzz FuzzRequestDecoders -fuzztime 60s
func FuzzRequestDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"name":"approver","description":"d","default":false,"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"}]}]}}`,
		`{"id":"acme","name":"Acme"}`,
		`{"id":"u-1","email":"a@b.c","name":"A","role_ids":["r1"]}`,
		`{"scope":"team:42"}`,
		`{"entity_id":"acme","user_id":"u","object_type":"payable","action":"read","owner_id":"u","scope":"team:1","explain":true}`,
		`{"checks":[{"entity_id":"acme","user_id":"u","object_type":"payable","action":"read"}]}`,
		`{"entity_id":"acme","user_id":"u","object_type":"payable","action":"approve","resource":{"amount":1200,"tags":["a",null,true]}}`,
		`{"checks":[{"entity_id":"acme","resource":{"a":{"b":[1]}}}]}`, `{"id":"u","attributes":{"approval_limit":5000}}`,
		`{"name":"n","permissions":{"objects":[{"object_type":"p","actions":[{"action_name":"a","permission":"allowed","condition":"resource.amount <= 1.0"}]}]}}`,
		`{"scope":["read:accounts","admin:shopping"],"name":"n"}`,
		`{"email":"a@b.c","scope":["read:x"],"roles":[{"id":"r"},{"id":""}]}`,
		`{"name":"n","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed_for_own"}]}]}}`,
		`{"data":{"type":"role","attributes":{"name":"Lead","rights":{"shift":{"read":true}},"scope":"team"}}}`,
		`{"data":{"type":"role","id":"r1","attributes":{"name":"x","discarded_at":null}}}`,
		`{"data":{"type":"team_membership","attributes":{"team_id":42,"user_id":"u","role_ids":[]}}}`,
		`{"data":{"type":"team_membership","attributes":{"team_id":"4e2","user_id":""}}}`,
		`{"data":null}`, `{"data":{"type":"role"}}`, `{}`, `[]`, `null`, `"x"`, `1e999`, `{"a":1}{"b":2}`,
		`{"name":"\ud800"}`, `{"checks":[` + strings.Repeat(`{},`, 50) + `{}]}`, ``, ` `, "\x00",
		`{"name":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	} {
		f.Add([]byte(seed))
	}
	monite := &moniteAPI{catalog: moniteCatalog()}
	plain := func(dst any, then func() error) func(*gin.Context) error {
		return func(c *gin.Context) error {
			if err := decodeJSON(c, dst); err != nil {
				return err
			}
			return then()
		}
	}
	none := func() error { return nil }
	type decoder struct {
		name  string
		write func(*gin.Context, error)
		run   func(*gin.Context) error
	}
	decoders := func() []decoder {
		var role wire.RoleInput
		var entity wire.EntityInput
		var user wire.UserInput
		var userPatch wire.UserPatch
		var assign wire.AssignmentInput
		var check wire.CheckRequest
		var batch wire.CheckBatch
		var dRole dinteroRoleRequest
		var dUser dinteroUserRequest
		var mRole moniteRoleRequest
		var pRole, pRoleUpdate papershiftRoleAttributes
		var team teamMembershipAttributes
		return []decoder{
			{"role", writeError, plain(&role, func() error { _ = roleInput(role); return nil })},
			{"entity", writeError, plain(&entity, none)},
			{"user", writeError, plain(&user, none)},
			{"user_patch", writeError, plain(&userPatch, none)},
			{"assignment", writeError, plain(&assign, none)},
			{"check", writeError, plain(&check, func() error { _ = checkInput(check); return nil })},
			{"check_batch", writeError, plain(&batch, none)},
			{"dintero_role", dinteroError, plain(&dRole, func() error { _, err := dRole.input(); return err })},
			{"dintero_user", dinteroError, plain(&dUser, func() error { _, err := dUser.input(); return err })},
			{"monite_role_create", moniteError, plain(&mRole, func() error { _, err := monite.input(mRole, true); return err })},
			{"monite_role_patch", moniteError, plain(&mRole, func() error { _, err := monite.input(mRole, false); return err })},
			{"papershift_role_create", papershiftError, func(c *gin.Context) error {
				if err := decodeDocument(c, "role", "", &pRole); err != nil {
					return err
				}
				_, err := pRole.input("acme", nil)
				return err
			}},
			{"papershift_role_update", papershiftError, func(c *gin.Context) error {
				if err := decodeDocument(c, "role", "r1", &pRoleUpdate); err != nil {
					return err
				}
				_, err := pRoleUpdate.input("acme", &rolegate.Role{ID: "r1", EntityID: "acme", RoleType: rolegate.RoleCustom, Scope: rolegate.ScopeAccount})
				return err
			}},
			{"team_membership", papershiftError, func(c *gin.Context) error {
				if err := decodeDocument(c, "team_membership", "", &team); err != nil {
					return err
				}
				_, err := teamID(team.TeamID)
				return err
			}},
		}
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range decoders() {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("POST", "/", bytes.NewReader(body))
			c.Request.Header.Set("Content-Type", jsonAPIType)
			c.Request.Body = http.MaxBytesReader(w, c.Request.Body, limit)
			err := d.run(c)
			if err == nil {
				if !json.Valid(body) {
					t.Fatalf("%s accepted a body that is not JSON: %q", d.name, body)
				}
				continue
			}
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) != (len(body) > limit) {
				t.Fatalf("%s: %d bytes, error %v", d.name, len(body), err)
			}
			if e := rolegate.AsError(err); e.Kind == rolegate.KindInternal && tooBig == nil {
				t.Fatalf("%s: uncoded error %v", d.name, err)
			}
			d.write(c, err)
			if w.Code < 400 || w.Code >= 500 || !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s: %v answered %d %q", d.name, err, w.Code, w.Body)
			}
		}
	})
}

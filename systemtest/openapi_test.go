package systemtest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rolegate/rolegate/internal/openapi"
)

// TestOpenAPIServed: GET /openapi.json answers without a token with the
// document, which is OpenAPI 3.1 and valid.
func TestOpenAPIServed(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	res, err := http.Get(s.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %q: %.200s", res.StatusCode, res.Header.Get("Content-Type"), data)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("the served document does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi is %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the served document is not valid: %v", err)
	}
	want, _ := openapi.JSON()
	if !bytes.Equal(data, want) {
		t.Fatal("the served document is not api/openapi.yaml")
	}
	for _, tag := range []string{"native", "dintero", "monite", "papershift"} {
		if doc.Tags.Get(tag) == nil {
			t.Errorf("no tag %s", tag)
		}
	}
	// With a token that is not valid it is served all the same.
	req, _ := http.NewRequest("GET", s.base+"/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("with a bad token: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// TestContractCheckerCatchesViolations: the check the other tests rely on
// refuses answers that do not match, undocumented statuses and routes, and
// requests the document refuses but the server served; it lets through what
// matches, bad requests the server refused, and deliberate ones.
func TestContractCheckerCatchesViolations(t *testing.T) {
	c, err := newContractChecker()
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(method, path, reqBody string, bad bool, status int, resBody string) string {
		var body io.Reader
		if reqBody != "" {
			body = strings.NewReader(reqBody)
		}
		req, _ := http.NewRequest(method, "http://127.0.0.1:1"+path, body)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if reqBody != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bad {
			req = deliberate(req)
		}
		res := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}}
		return c.validate(req, []byte(reqBody), true, res, []byte(resBody))
	}
	entity := `{"id":"acme","name":"","revision":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
	invalid := `{"error":{"code":"unknown_field","message":"unknown field \"idx\"","details":[{"field":"idx","message":"x"}]}}`
	for _, tc := range []struct {
		name                  string
		method, path, reqBody string
		bad                   bool
		status                int
		resBody               string
		violation             bool
		agreed                bool
	}{
		{"a matching exchange", "POST", "/v1/entities", `{"id":"acme"}`, false, 201, entity, false, false},
		{"an answer missing a field", "POST", "/v1/entities", `{"id":"acme"}`, false, 201, `{"id":"acme"}`, true, false},
		{"an undocumented status", "GET", "/healthz", "", false, 418, `{"status":"ok"}`, true, false},
		{"a wrong value", "GET", "/healthz", "", false, 200, `{"status":"bad"}`, true, false},
		{"an error body of another API", "GET", "/v1/entities/acme", "", false, 404, `{"errors":[]}`, true, false},
		{"a bad request served", "POST", "/v1/entities", `{"idx":1}`, false, 201, entity, true, false},
		{"a bad request refused", "POST", "/v1/entities", `{"idx":1}`, false, 422, invalid, false, true},
		{"a deliberate bad request served", "POST", "/v1/entities", `{"idx":1}`, true, 201, entity, false, false},
		{"a deliberate bad request, bad answer", "POST", "/v1/entities", `{"idx":1}`, true, 201, `{}`, true, false},
		{"an unknown route refused", "GET", "/v1/nope", "", false, 404, `{"error":{"code":"route_not_found","message":"no route"}}`, false, false},
		{"an unknown route served", "GET", "/v1/nope", "", false, 200, `{}`, true, false},
		{"no token where one is needed, served", "GET", "/v1/entities", "", false, 200, `{"data":[],"next_pagination_token":null}`, false, false},
		{"a body on a 204", "DELETE", "/v1/entities/acme", "", false, 204, `{"x":1}`, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := exchange(tc.method, tc.path, tc.reqBody, tc.bad, tc.status, tc.resBody)
			switch {
			case tc.agreed && !strings.HasPrefix(v, "agreed"):
				t.Fatalf("want agreement, got %q", v)
			case tc.violation && (v == "" || strings.HasPrefix(v, "agreed")):
				t.Fatalf("no violation found")
			case !tc.violation && !tc.agreed && v != "":
				t.Fatalf("unexpected violation: %s", v)
			}
		})
	}
	// A request without the token the document asks for, that the server
	// served, is a violation.
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/v1/entities", nil)
	res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}}
	if v := c.validate(req, nil, true, res, []byte(`{"data":[],"next_pagination_token":null}`)); v == "" || strings.HasPrefix(v, "agreed") {
		t.Fatal("a request without a token that was served is no violation")
	}
}

// TestContractReadsTheOtherTestsSkip sends, through the checked client, the
// few documented successful calls no other test makes: reading a Dintero
// user, pprof's symbol lookup, and a Papershift listing with a repeated
// filter.
func TestContractReadsTheOtherTestsSkip(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)}, "-pprof")
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	u := s.must(200, "POST", "/v1/accounts/T12345678/management/users", map[string]any{"email": "ada@acme.test", "scope": []string{"read:accounts"}})
	id, _ := u["id"].(string)
	got := s.must(200, "GET", "/v1/accounts/T12345678/management/users/"+urlPath(id)+"?expand=roles", nil)
	if got["email"] != "ada@acme.test" {
		t.Fatalf("dintero user: %v", got)
	}
	st, _, _ := s.call("GET", "/api/v1/roles?filter[name]=admin&filter[name]=member", nil, "X-Entity-Id", "T12345678")
	if st != 200 {
		t.Fatalf("papershift list with a repeated filter: %d", st)
	}
	req, _ := http.NewRequest("POST", s.base+"/debug/pprof/symbol", strings.NewReader("0x1"))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("pprof symbol: %d", res.StatusCode)
	}
}

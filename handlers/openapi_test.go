package handlers

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rolegate/rolegate/internal/openapi"
)

// routeIssuer lets NewRouter register the token endpoints; it issues nothing.
type routeIssuer struct{}

func (routeIssuer) Issue(context.Context, string, string, string) (string, time.Duration, error) {
	return "", 0, nil
}
func (routeIssuer) JWKS() []byte { return []byte(`{"keys":[]}`) }

// consoleRoutes serve the admin console (console.go): a page, not the API,
// so not in the document.
var consoleRoutes = map[string]bool{"GET /console": true, "GET /console/*asset": true}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestOpenAPICoversEveryRoute fails when a route the router registers (with
// every optional part on: metrics, pprof, token endpoints) is missing from
// api/openapi.yaml, or when the document names a route the router does not
// have.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	h := NewRouter(Deps{Service: testService(t, "T12345678"), Auth: testActors, Pprof: true,
		Tokens: routeIssuer{}, Metrics: prometheus.NewRegistry()})
	engine, ok := h.(*gin.Engine)
	if !ok {
		t.Fatalf("NewRouter returned %T, not a *gin.Engine", h)
	}
	registered := map[string]bool{}
	for _, r := range engine.Routes() {
		if consoleRoutes[r.Method+" "+r.Path] {
			continue // the admin console's page and files, not part of the API
		}
		registered[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
		// A catch-all (/debug/pprof/*profile) also matches its bare prefix,
		// which an OpenAPI path parameter cannot be empty to name.
		if i := strings.Index(r.Path, "/*"); i >= 0 && r.Method == http.MethodGet {
			registered[r.Method+" "+ginParam.ReplaceAllString(r.Path[:i+1], "{$1}")] = true
		}
	}
	data, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range registered {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !registered[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from api/openapi.yaml:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("api/openapi.yaml names routes the server does not have:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(registered) < 50 || !registered[http.MethodGet+" /openapi.json"] {
		t.Errorf("only %d routes registered, or no /openapi.json: the comparison is not looking at the real router", len(registered))
	}
}

package ginguard_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/client/ginguard"
)

// A rule's Resource reads the Gin context (a path parameter here) and goes
// with the check; the server's answer about that resource decides.
func TestRequireSendsResource(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var seen []map[string]any
	rg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q client.CheckRequest
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			t.Error(err)
		}
		seen = append(seen, q.Resource)
		amount, _ := q.Resource["amount"].(float64)
		ok := q.Resource != nil && amount < 1000
		perm := "not_allowed"
		if ok {
			perm = "allowed"
		}
		json.NewEncoder(w).Encode(map[string]any{"allowed": ok, "permission": perm, "revision": 1})
	}))
	defer rg.Close()
	c, err := client.New(rg.URL, client.WithToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	subject := func(*http.Request) (string, string, error) { return "e", "u", nil }
	rule := client.Rule{ObjectType: "payable", Action: "approve", Subject: subject,
		Resource: ginguard.Resource(func(c *gin.Context) map[string]any {
			n, err := strconv.Atoi(c.Param("amount"))
			if err != nil {
				return nil
			}
			return map[string]any{"amount": n}
		}),
		Owner: func(r *http.Request) string { return ginguard.Context(r).Param("owner") }}
	r := gin.New()
	r.POST("/pay/:owner/:amount", ginguard.Require(c, rule), func(c *gin.Context) {
		if _, ok := client.DecisionFrom(c.Request.Context()); !ok {
			t.Error("no decision in the handler's context")
		}
		c.Status(http.StatusNoContent)
	})
	for path, want := range map[string]int{"/pay/u/500": 204, "/pay/u/5000": 403, "/pay/u/many": 403} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("POST", path, nil))
		if w.Code != want {
			t.Fatalf("%s: %d, want %d", path, w.Code, want)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("%d checks", len(seen))
	}
	// Outside Require the adapter gives no attributes (nothing to read).
	if got := rule.Resource(httptest.NewRequest("GET", "/", nil)); got != nil {
		t.Fatalf("outside Require: %v", got)
	}
}

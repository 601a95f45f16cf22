package handlers

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkCheckRoute is the router's cost of one POST /v1/check with the
// admin token, as the server runs (metrics on), without the network: the
// middleware chain, decoding, the engine's cached answer and the encoding.
//
//	go test ./handlers -run '^$' -bench CheckRoute -benchmem
func BenchmarkCheckRoute(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits RateLimits
		path   string
		body   string
	}{
		{"check", RateLimits{}, "/v1/check", `{"entity_id":"T12345678","user_id":"u1","object_type":"payable","action":"read"}`},
		// The same question with an object's attributes (which the
		// question's rights do not read): what a resource costs the path.
		{"check-resource", RateLimits{}, "/v1/check", `{"entity_id":"T12345678","user_id":"u1","object_type":"payable","action":"read","resource":{"amount":1200,"currency":"EUR","cost_center":"4711"}}`},
		{"check-rate-limited", RateLimits{Check: 1e9}, "/v1/check", `{"entity_id":"T12345678","user_id":"u1","object_type":"payable","action":"read"}`},
		{"batch-10", RateLimits{}, "/v1/check/batch", `{"checks":[` + strings.Repeat(`{"entity_id":"T12345678","user_id":"u1","object_type":"payable","action":"read"},`, 9) +
			`{"entity_id":"T12345678","user_id":"u1","object_type":"payable","action":"read"}]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewRouter(Deps{Service: testService(b, "T12345678"), Auth: testActors, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Metrics: prometheus.NewRegistry(), RateLimits: bc.limits})
			serve := func() {
				r := httptest.NewRequest(http.MethodPost, bc.path, strings.NewReader(bc.body))
				r.Header.Set("Authorization", "Bearer admin")
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			serve()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
		})
	}
}

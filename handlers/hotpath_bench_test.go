package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reportCPU reports the process's CPU time per operation, which a loaded
// machine changes less than the time per operation.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// batch100 is a batch of 100 different checks, as the bench's uniform
// batches are: users, object types, actions and owners vary.
func batch100() string {
	objects := []string{"payable", "receivable", "receipt", "counterpart", "product"}
	actions := []string{"create", "read", "update", "delete", "approve", "pay", "cancel", "submit"}
	var b strings.Builder
	b.WriteString(`{"checks":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		user := fmt.Sprintf("u%d", i%20)
		fmt.Fprintf(&b, `{"entity_id":"T12345678","user_id":%q,"object_type":%q,"action":%q`, user, objects[i%len(objects)], actions[i/5%len(actions)])
		if i%2 == 0 {
			fmt.Fprintf(&b, `,"owner_id":%q`, user)
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.String()
}

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
		// 100 different questions (answered from the decision cache once
		// asked): what decoding, answering and encoding a batch costs.
		{"batch-100", RateLimits{}, "/v1/check/batch", batch100()},
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
			defer reportCPU(b)()
			for b.Loop() {
				serve()
			}
		})
	}
}

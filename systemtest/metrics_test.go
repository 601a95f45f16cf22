package systemtest

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/policy"
)

// get fetches a path with a bearer token ("" for none) and returns the status
// and the body as text.
func (s *server) get(token, path string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// metric returns the value of one series of a Prometheus text exposition,
// named with its labels as the exposition writes them (sorted by name).
func metric(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in:\n%s", series, text)
	return 0
}

// TestMetrics makes checks and writes on the real server, then scrapes
// /metrics (with the admin token) and finds them counted with the right labels.
func TestMetrics(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})

	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver",
		"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable", "actions": []any{
			map[string]any{"action_name": "read", "permission": "allowed"},
			map[string]any{"action_name": "delete", "permission": "denied"}}}}}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-1", "role_ids": []any{role["id"]}})
	check := func(action string) map[string]any {
		return map[string]any{"entity_id": "acme", "user_id": "u-1", "object_type": "payable", "action": action}
	}
	if out := mustAs[api.Decision](s, 200, "POST", "/v1/check", check("read")); !out.Allowed {
		t.Fatalf("check read: %v", out)
	}
	if out := s.must(200, "POST", "/v1/check", check("delete")); out["permission"] != "denied" {
		t.Fatalf("check delete: %v", out)
	}
	s.must(200, "POST", "/v1/check/batch", map[string]any{"checks": []any{check("read"), check("approve")}})

	if st, _ := s.get("", "/metrics"); st != 401 {
		t.Fatalf("GET /metrics without a token: %d", st)
	}
	st, text := s.get(testToken, "/metrics")
	if st != 200 {
		t.Fatalf("GET /metrics: %d %s", st, text)
	}
	for series, want := range map[string]float64{
		`rolegate_checks_total{decision="allowed"}`:         2,
		`rolegate_checks_total{decision="denied"}`:          1,
		`rolegate_checks_total{decision="not_allowed"}`:     1,
		`rolegate_checks_total{decision="allowed_for_own"}`: 0,
		`rolegate_check_errors_total`:                       0,
		`rolegate_entities_loaded`:                          1,

		`rolegate_check_duration_seconds_count{method="POST",route="/v1/check",status="2xx"}`:                  2,
		`rolegate_check_duration_seconds_bucket{method="POST",route="/v1/check",status="2xx",le="+Inf"}`:       2,
		`rolegate_check_duration_seconds_count{method="POST",route="/v1/check/batch",status="2xx"}`:            1,
		`rolegate_write_duration_seconds_count{method="POST",route="/v1/entities",status="2xx"}`:               1,
		`rolegate_write_duration_seconds_count{method="POST",route="/v1/entities/:entity/roles",status="2xx"}`: 1,
		`rolegate_http_requests_total{method="POST",route="/v1/check",status="2xx"}`:                           2,
	} {
		if got := metric(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if metric(t, text, `rolegate_check_duration_seconds_sum{method="POST",route="/v1/check",status="2xx"}`) <= 0 {
		t.Error("check latency sum is 0")
	}
	if !strings.Contains(text, "\ngo_goroutines ") || !strings.Contains(text, "# TYPE rolegate_check_duration_seconds histogram") {
		t.Errorf("exposition lacks the Go collector or the histogram type:\n%s", text)
	}
	// Checks are not writes.
	if strings.Contains(text, `rolegate_write_duration_seconds_count{method="POST",route="/v1/check"`) {
		t.Error("checks counted as writes")
	}

	// A policy that cannot be loaded: the check answers 503 and is counted.
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "broken"})
	store, _ := openService(t, db)
	err := store.Update(context.Background(), func(tx policy.Tx) error {
		return tx.AddRules([]rolegate.Rule{{PType: "p", Values: []string{"r:x", "broken", "payable"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _, out := s.call("POST", "/v1/check", map[string]any{"entity_id": "broken", "user_id": "u-1", "object_type": "payable", "action": "read"})
	if st != 503 || errCode(out) != "policy_unavailable" {
		t.Fatalf("check on a broken policy: %d %v", st, out)
	}
	_, text = s.get(testToken, "/metrics")
	for series, want := range map[string]float64{
		`rolegate_unavailable_responses_total{code="policy_unavailable",route="/v1/check"}`: 1,
		`rolegate_check_errors_total`:       1,
		`rolegate_policy_load_errors_total`: 1,
		`rolegate_check_duration_seconds_count{method="POST",route="/v1/check",status="5xx"}`: 1,
	} {
		if got := metric(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestMetricsPublic serves /metrics without a token, as asked.
func TestMetricsPublic(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_METRICS_PUBLIC": "true"})
	if st, body := s.get("", "/metrics"); st != 200 || !strings.Contains(body, "rolegate_") {
		t.Fatalf("public /metrics: %d %.200s", st, body)
	}
}

// TestMetricsOff turns /metrics off.
func TestMetricsOff(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_METRICS": "false"})
	if st, body := s.get("", "/metrics"); st != 404 {
		t.Fatalf("GET /metrics with metrics off: %d %s", st, body)
	}
}

// TestPprof mounts pprof with the flag, behind the admin token; without the
// flag it is not there.
func TestPprof(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)}, "-pprof")
	if st, _ := s.get("", "/debug/pprof/"); st != 401 {
		t.Fatalf("pprof without a token: %d", st)
	}
	if st, _ := s.get("wrong", "/debug/pprof/heap"); st != 401 {
		t.Fatalf("pprof with a wrong token: %d", st)
	}
	if st, body := s.get(testToken, "/debug/pprof/"); st != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %d %.200s", st, body)
	}
	if st, body := s.get(testToken, "/debug/pprof/goroutine?debug=1"); st != 200 || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("pprof goroutine: %d %.200s", st, body)
	}
	if st, _ := s.get(testToken, "/debug/pprof/cmdline"); st != 200 {
		t.Fatalf("pprof cmdline: %d", st)
	}

	off := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_PPROF": "false"})
	if st, _ := off.get(testToken, "/debug/pprof/"); st != 404 {
		t.Fatalf("pprof without the flag: %d", st)
	}
}

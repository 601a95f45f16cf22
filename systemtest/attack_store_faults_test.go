package systemtest

import (
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Faults of the store (issue 22). The database is reached through a TCP
// proxy in the test (testkit.StartProxy) that is cut (Cut) to cut it off: new
// connections are refused and open ones cut.

// throughProxy returns a PostgreSQL URL of a new schema reached through a
// proxy of its own, and the proxy.
func throughProxy(t *testing.T) (string, *testkit.Proxy) {
	t.Helper()
	db := postgresURL(t)
	target := "127.0.0.1:5432"
	if i := strings.Index(db, "@"); i >= 0 {
		rest := db[i+1:]
		target = rest[:strings.IndexAny(rest, "/?")]
	}
	px := testkit.StartProxy(t, target)
	return strings.Replace(db, target, px.Addr(), 1), px
}

// One check with a min_revision this instance cannot reach, while the
// database is cut, answered 503 stale_policy (right) and then took the entity
// down for everyone: the failed catch-up dropped the policy held, and every
// plain check of the entity answered 503 policy_unavailable until the database
// came back. Now the policy is dropped only on evidence that the store is
// newer; the failed catch-up fails that one check.
func TestAttackMinRevisionDuringOutage(t *testing.T) {
	url, px := throughProxy(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": url, "ROLEGATE_SWEEP_INTERVAL": "200ms"})
	role := seedReader(s, "acme")
	if !s.mayRead("acme", "doc") {
		t.Fatal("before the outage")
	}
	ask := map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "doc", "action": "read", "min_revision": 999999}

	px.Cut()
	plain := 0
	for i := 0; i < 3; i++ {
		start := time.Now()
		if st, _, out := s.call("POST", "/v1/check", ask); st != 503 || errCode(out) != "stale_policy" {
			t.Fatalf("min_revision check during the outage: %d %v", st, out)
		}
		t.Logf("min_revision check during the outage: 503 stale_policy after %v", time.Since(start).Round(time.Millisecond))
		// Past the catch-up's own deadline and a few sweeps: still held.
		end := time.Now().Add(2500 * time.Millisecond)
		for time.Now().Before(end) {
			st, _, out := s.call("POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "doc", "action": "read"})
			if st != 200 || out["allowed"] != true {
				t.Fatalf("plain check after a failed catch-up (round %d): %d %v", i, st, out)
			}
			plain++
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d plain checks answered 200 from the policy held, between the failed catch-ups", plain)
	if st, _ := s.get("", "/readyz"); st != 503 {
		t.Fatalf("/readyz during the outage: %d", st)
	}

	px.Restore()
	var rev int64
	testkit.Eventually(t, 15*time.Second, "writes succeed again", func() bool {
		st, h, _ := s.call("PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("memo")})
		if st == 200 {
			rev = revisionOf(t, h)
		}
		return st == 200
	})
	ask["min_revision"], ask["object_type"] = rev, "memo"
	if out := mustAs[api.Decision](s, 200, "POST", "/v1/check", ask); !out.Allowed {
		t.Fatalf("check at the new revision after the outage: %v", out)
	}
}

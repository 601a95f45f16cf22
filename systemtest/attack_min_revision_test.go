package systemtest

import (
	"testing"

	"github.com/rolegate/rolegate/api"
)

// Found while closing the security issue: a check's min_revision ahead of
// the held policy makes the instance reload the entity and wait, up to 2 s.
// A revision no write ever returned kept it reloading for the whole wait, on
// every such check: a caller with only the check scope could keep an entity
// reloading (its decision cache dropped each time) at will. Such a check is
// now refused at once, and nothing reloads.
func TestAttackMinRevisionReloadStorm(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	ask := map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "payable", "action": "read"}
	s.must(200, "POST", "/v1/check", ask) // loaded
	_, text := s.get(testToken, "/metrics")
	loads, reloads := metric(t, text, "rolegate_policy_loads_total"), metric(t, text, "rolegate_policy_reloads_total")

	for i := 0; i < 20; i++ {
		ask["min_revision"] = 1_000_000_000 + i
		if st, _, out := s.call("POST", "/v1/check", ask); st != 422 || errCode(out) != "unknown_revision" {
			t.Fatalf("min_revision no write returned: %d %v", st, out)
		}
	}
	batch := map[string]any{"checks": []any{
		map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "payable", "action": "read", "min_revision": 1},
		map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "payable", "action": "read", "min_revision": 1 << 40},
	}}
	if st, _, out := s.call("POST", "/v1/check/batch", batch); st != 422 || errCode(out) != "unknown_revision" {
		t.Fatalf("batch with a min_revision no write returned: %d %v", st, out)
	}
	_, text = s.get(testToken, "/metrics")
	if l, r := metric(t, text, "rolegate_policy_loads_total"), metric(t, text, "rolegate_policy_reloads_total"); l != loads || r != reloads {
		t.Fatalf("the entity was reloaded: loads %v -> %v, reloads %v -> %v", loads, l, reloads, r)
	}
	// A revision a write returned still works.
	_, h, _ := s.call("POST", "/v1/entities/acme/roles", map[string]any{"name": "r"})
	ask["min_revision"] = revisionOf(t, h)
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", ask); d.Allowed {
		t.Fatalf("check at a real revision: %v", d)
	}
}

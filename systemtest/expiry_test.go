package systemtest

import (
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// TestExpiringAssignmentHTTP: through the real server (two instances over one
// database, asked in turn), an assignment given
// with expires_at 2 s ahead counts until that instant (a check asked just
// before, and cached), shows its expires_at in the lists, and stops counting
// at the instant itself, without waiting for the sweep; the sweep (every
// 200 ms here) then removes it with an assignment.expire audit event.
func TestExpiringAssignmentHTTP(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_EXPIRY_SWEEP": "200ms"})
	// Another instance over the same database, hearing of no write after
	// the assignment: it stops counting it at the same instant.
	s2 := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_EXPIRY_SWEEP": "1h", "ROLEGATE_SWEEP_INTERVAL": "1h"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{}})
	// The instant is a whole second 2-3 s ahead.
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second).UTC()
	out := mustAs[api.Assignment](s, 200, "PUT", "/v1/entities/acme/users/ann/roles/"+role, map[string]any{"expires_at": exp.Format(time.RFC3339)})
	if out.ExpiresAt == nil || *out.ExpiresAt != exp.Format("2006-01-02T15:04:05Z") {
		t.Fatalf("assignment: %v", out)
	}
	roles := mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/acme/users/ann/roles", nil).Data
	if len(roles) != 1 || roles[0].ExpiresAt == nil || *roles[0].ExpiresAt != exp.Format("2006-01-02T15:04:05Z") {
		t.Fatalf("roles list: %v", roles)
	}
	user := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/ann", nil)
	if r := user.Roles; len(r) != 1 || r[0].ExpiresAt == nil {
		t.Fatalf("user: %v", user)
	}
	check := map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve"}
	// Asked again and again up to the instant: allowed before it, and not
	// allowed from it on (the cached answer is not served past it).
	var lastAllowed, firstRefused time.Time
	for i := 0; time.Now().Before(exp.Add(time.Second)); i++ {
		srv := []*server{s, s2}[i%2]
		t0 := time.Now()
		allowed := mustAs[api.Decision](srv, 200, "POST", "/v1/check", check).Allowed
		t1 := time.Now()
		if allowed {
			if !t0.Before(exp) {
				t.Fatalf("allowed at %v, asked after the expiry %v", t0, exp)
			}
			lastAllowed = t1
		} else {
			if t1.Before(exp) {
				t.Fatalf("refused at %v, before the expiry %v", t1, exp)
			}
			if firstRefused.IsZero() {
				firstRefused = t1
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if lastAllowed.IsZero() || firstRefused.IsZero() || firstRefused.Sub(exp) > 500*time.Millisecond {
		t.Fatalf("expiry %v: last allowed %v, first refused %v", exp, lastAllowed, firstRefused)
	}
	if r := mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/acme/users/ann/roles", nil).Data; len(r) != 0 {
		t.Fatalf("an expired assignment is still listed: %v", r)
	}
	// The sweep removes it from the store and records it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		events := mustAs[api.Page[api.AuditEvent]](s, 200, "GET", "/v1/entities/acme/audit-events?limit=100", nil).Data
		found := false
		for _, e := range events {
			found = found || e.Action == "assignment.expire"
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no assignment.expire event: %v", events)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _, out := s.call("DELETE", "/v1/entities/acme/users/ann/roles/"+role, nil); st != 404 {
		t.Fatalf("the swept assignment is still stored: %d %v", st, out)
	}
	if !strings.Contains(s.output(), "expired assignments removed") {
		t.Fatal("the sweep did not log its work")
	}
}

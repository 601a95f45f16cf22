package systemtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// TestAttackStalledReportsAreBounded: access reports whose readers stop
// reading hold their slot (and the snapshot of their entity's policy) while
// they stall; past ROLEGATE_MAX_REPORTS_PER_ENTITY another report of that
// entity is 503 server_busy with Retry-After at once, while another entity's
// report is still served whole; once the stalled reader goes away, its slot
// is free again.
func TestAttackStalledReportsAreBounded(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_MAX_REPORTS": "2", "ROLEGATE_MAX_REPORTS_PER_ENTITY": "1"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "big"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "small"})
	var objs []any
	for i := 0; i < 20; i++ {
		objs = append(objs, map[string]any{"object_type": fmt.Sprintf("object_%02d", i), "actions": []any{
			map[string]any{"action_name": "read", "permission": "allowed"}}})
	}
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/big/roles", map[string]any{"name": "reader", "permissions": map[string]any{"objects": objs}}).ID
	// 8,000 users of 20 rights: some 20 MB of JSON, more than the socket
	// buffers of a connection hold, so a reader that stops stalls the server.
	for b := 0; b < 8; b++ {
		users := importUsers(1000, role)
		for _, u := range users {
			u["id"] = fmt.Sprintf("%d-%s", b, u["id"])
		}
		s.must(200, "POST", "/v1/entities/big/users/import", map[string]any{"users": users})
	}
	s.must(201, "POST", "/v1/entities/small/users", map[string]any{"id": "ann"})

	stalled := func() *http.Response {
		req, _ := http.NewRequest("GET", s.base+"/v1/entities/big/access-report", nil)
		req = streamed(req)
		req.Header.Set("Authorization", "Bearer "+testToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, 64<<10)
		if _, err := io.ReadFull(res.Body, first); err != nil || !bytes.HasPrefix(first, []byte(`{"entity_id":"big"`)) {
			t.Fatalf("first bytes: %v %.100s", err, first)
		}
		return res // and reads no more
	}
	a := stalled()
	st, h, out := s.call("GET", "/v1/entities/big/access-report", nil)
	if st != 503 || errCode(out) != "server_busy" || h.Get("Retry-After") == "" {
		t.Fatalf("a second report of big while one stalls: %d %v %v", st, h, out)
	}
	// A caller who may not read the report takes no slot: it is told 403,
	// not 503, even while the entity's slots are all held.
	checker := s.clientOf("big", "check")
	if st, _, out := s.callToken(checker, "GET", "/v1/entities/big/access-report", nil); st != 403 {
		t.Fatalf("a check-only client's report of big while one stalls: %d %v", st, out)
	}
	st, _, out = s.call("GET", "/v1/entities/small/access-report", nil)
	if st != 200 || out["entity_id"] != "small" {
		t.Fatalf("another entity's report: %d %v", st, out)
	}
	// Checks are not held up by the stalled report.
	s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "big", "user_id": "0-u0000", "object_type": "object_01", "action": "read"})

	a.Body.Close() // the stalled reader goes away: its slot is given back
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", s.base+"/v1/entities/big/access-report", nil)
		req = streamed(req)
		req.Header.Set("Authorization", "Bearer "+testToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			if n < 10<<20 {
				t.Fatalf("the whole report of big is %d bytes", n)
			}
			return
		}
		if res.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("report of big after the stalled reader left: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

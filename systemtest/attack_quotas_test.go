package systemtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// Hole 7: denial of service by authenticated callers. A token of one entity
// (or a user with the right to create roles and users) could store roles,
// users and rules without bound: the database grows, and the entity's policy,
// which every instance holds in memory and reloads on every change, grows
// with it until loading it takes the instance down.

// quotaState is what an entity holds, as the API shows it.
func quotaState(s *server, ent string) string {
	var b strings.Builder
	for _, p := range []string{"/v1/entities/" + ent + "/roles?status=all&limit=100", "/v1/entities/" + ent + "/users?limit=100",
		"/v1/entities/" + ent + "/audit-events?limit=100"} {
		st, _, out := s.raw("GET", p, "")
		fmt.Fprintf(&b, "%s %d %v\n", p, st, out)
	}
	return b.String()
}

func manyRights(n int) map[string]any {
	var actions []any
	for i := 0; i < n; i++ {
		actions = append(actions, map[string]any{"action_name": fmt.Sprintf("a%d", i), "permission": "allowed"})
	}
	return map[string]any{"objects": []any{map[string]any{"object_type": "doc", "actions": actions}}}
}

func TestAttackQuotas(t *testing.T) {
	// Every entity gets the system roles admin (one rule) and member (none).
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_MAX_ROLES_PER_ENTITY": "4", "ROLEGATE_MAX_USERS_PER_ENTITY": "3", "ROLEGATE_MAX_RULES_PER_ENTITY": "12"})

	t.Run("roles past the quota: 422 quota_exceeded, nothing written", func(t *testing.T) {
		s.t = t
		s.must(201, "POST", "/v1/entities", map[string]any{"id": "roles"})
		first := s.must(201, "POST", "/v1/entities/roles/roles", map[string]any{"name": "r1"})
		s.must(201, "POST", "/v1/entities/roles/roles", map[string]any{"name": "r2"})
		before := quotaState(s, "roles")
		for i := 0; i < 20; i++ { // the attacker keeps trying
			out := s.must(422, "POST", "/v1/entities/roles/roles", map[string]any{"name": fmt.Sprintf("flood-%d", i)})
			if errCode(out) != "quota_exceeded" || !strings.Contains(fmt.Sprint(out), "at most 4 roles") {
				t.Fatalf("role past the quota: %v", out)
			}
		}
		if after := quotaState(s, "roles"); after != before {
			t.Fatalf("a refused role was written:\nbefore %s\nafter  %s", before, after)
		}
		// Deleted roles do not count: delete one, create one.
		s.must(204, "DELETE", "/v1/entities/roles/roles/"+first["id"].(string), nil)
		s.must(201, "POST", "/v1/entities/roles/roles", map[string]any{"name": "r3"})
	})

	t.Run("users past the quota: 422, nothing written", func(t *testing.T) {
		s.t = t
		s.must(201, "POST", "/v1/entities", map[string]any{"id": "users"})
		for i := 0; i < 3; i++ {
			s.must(201, "POST", "/v1/entities/users/users", map[string]any{"id": fmt.Sprintf("u%d", i)})
		}
		before := quotaState(s, "users")
		out := s.must(422, "POST", "/v1/entities/users/users", map[string]any{"id": "u3"})
		if errCode(out) != "quota_exceeded" {
			t.Fatalf("user past the quota: %v", out)
		}
		s.must(404, "GET", "/v1/entities/users/users/u3", nil)
		if after := quotaState(s, "users"); after != before {
			t.Fatalf("a refused user was written:\nbefore %s\nafter  %s", before, after)
		}
		s.must(204, "DELETE", "/v1/entities/users/users/u0", nil)
		s.must(201, "POST", "/v1/entities/users/users", map[string]any{"id": "u3"})
		// The bulk import counts too: two new users past the quota of 3.
		before = quotaState(s, "users")
		imp := map[string]any{"users": []any{map[string]any{"id": "u1", "role_ids": []string{}},
			map[string]any{"id": "i1", "role_ids": []string{}}, map[string]any{"id": "i2", "role_ids": []string{}}}}
		if out := s.must(422, "POST", "/v1/entities/users/users/import", imp); errCode(out) != "quota_exceeded" {
			t.Fatalf("import past the user quota: %v", out)
		}
		if after := quotaState(s, "users"); after != before {
			t.Fatalf("a refused import was written:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("rules past the quota: a big role, a role grown, a user's rights, assignments", func(t *testing.T) {
		s.t = t
		s.must(201, "POST", "/v1/entities", map[string]any{"id": "P001"}) // 1 rule (admin)
		out := s.must(422, "POST", "/v1/entities/P001/roles", map[string]any{"name": "huge", "permissions": manyRights(12)})
		if errCode(out) != "quota_exceeded" || !strings.Contains(fmt.Sprint(out), "at most 12 rules") {
			t.Fatalf("role past the rule quota: %v", out)
		}
		role := mustAs[api.Role](s, 201, "POST", "/v1/entities/P001/roles", map[string]any{"name": "small", "permissions": manyRights(8)}) // 9 rules
		id := role.ID
		s.must(201, "POST", "/v1/entities/P001/users", map[string]any{"id": "ada", "role_ids": []string{id}}) // 10 rules
		before := quotaState(s, "P001")
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"PATCH", "/v1/entities/P001/roles/" + id, map[string]any{"permissions": manyRights(11)}},
			{"PUT", "/v1/entities/P001/roles/" + id, map[string]any{"name": "small", "permissions": manyRights(11)}},
		} {
			if out := s.must(422, c.method, c.path, c.body); errCode(out) != "quota_exceeded" {
				t.Fatalf("%s %s: %v", c.method, c.path, out)
			}
		}
		// A user's own rights (Dintero's user scope) are rules too.
		if st, _, out := s.raw("PUT", "/v1/accounts/P001/management/users/ada", `{"scope":["a:b","c:d","e:f"]}`); st != 400 ||
			get(out, "error", "code") != "quota_exceeded" {
			t.Fatalf("user's rights past the rule quota: %d %v", st, out)
		}
		if st, _, out := s.raw("POST", "/v1/accounts/P001/management/users", `{"email":"bob@example.com","scope":["a:b","c:d"]}`); st != 400 ||
			get(out, "error", "code") != "quota_exceeded" {
			t.Fatalf("new user with rights past the rule quota: %d %v", st, out)
		}
		// Assignments are rules too: 10 + bob (1) + team scopes.
		s.must(201, "POST", "/v1/entities/P001/users", map[string]any{"id": "bob", "role_ids": []string{}}) // 10 rules
		s.must(200, "PUT", "/v1/entities/P001/users/bob/roles/"+id, map[string]any{"scope": "team:1"})      // 11
		s.must(200, "PUT", "/v1/entities/P001/users/bob/roles/"+id, map[string]any{"scope": "team:2"})      // 12
		before = quotaState(s, "P001")
		if out := s.must(422, "PUT", "/v1/entities/P001/users/bob/roles/"+id, map[string]any{"scope": "team:3"}); errCode(out) != "quota_exceeded" {
			t.Fatalf("assignment past the rule quota: %v", out)
		}
		st, _, out2 := s.raw("POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"user_id":"bob","team_id":"4","role_ids":["`+id+`"]}}}`,
			"X-Entity-Id", "P001", "Content-Type", "application/vnd.api+json")
		if st != 422 || get(out2, "errors", 0, "code") != "quota_exceeded" {
			t.Fatalf("team membership past the rule quota: %d %v", st, out2)
		}
		if after := quotaState(s, "P001"); after != before {
			t.Fatalf("a refused change was written:\nbefore %s\nafter  %s", before, after)
		}
		// What shrinks is never refused, and frees room.
		s.must(200, "PATCH", "/v1/entities/P001/roles/"+id, map[string]any{"permissions": manyRights(2)})
		s.must(200, "PUT", "/v1/entities/P001/users/bob/roles/"+id, map[string]any{"scope": "team:3"})
	})

	t.Run("facades answer the quota in their own error shapes", func(t *testing.T) {
		s.t = t
		s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
		s.must(201, "POST", "/v1/entities/T12345678/roles", map[string]any{"name": "r1"})
		s.must(201, "POST", "/v1/entities/T12345678/roles", map[string]any{"name": "r2"})
		before := quotaState(s, "T12345678")
		st, _, out := s.raw("POST", "/v1/accounts/T12345678/auth/roles", `{"name":"d","scope":["read:accounts"]}`)
		if st != 400 || get(out, "error", "code") != "quota_exceeded" {
			t.Fatalf("Dintero: %d %v", st, out)
		}
		st, _, out = s.raw("POST", "/v1/roles", `{"name":"m","permissions":{"objects":[]}}`,
			"x-monite-version", "2024-05-25", "x-monite-entity-id", "T12345678")
		if st != 422 || get(out, "detail", 0, "type") != "value_error.quota_exceeded" {
			t.Fatalf("Monite: %d %v", st, out)
		}
		st, _, out = s.raw("POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"p","rights":{}}}}`,
			"X-Entity-Id", "T12345678", "Content-Type", "application/vnd.api+json")
		if st != 422 || get(out, "errors", 0, "code") != "quota_exceeded" {
			t.Fatalf("Papershift: %d %v", st, out)
		}
		if after := quotaState(s, "T12345678"); after != before {
			t.Fatalf("a refused role was written:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// TestAttackBatchAcrossEntities: a platform token sends batches naming up to
// 1,000 entities each: every one a policy to load and a rate-limit bucket. A
// batch may name at most handlers.MaxBatchEntities (10) distinct entities.
func TestAttackBatchAcrossEntities(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_RATE_LIMIT_CHECK": "1000"})
	var checks []any
	for i := 0; i < 1000; i++ {
		checks = append(checks, map[string]any{"entity_id": fmt.Sprintf("victim-%d", i), "user_id": "u", "object_type": "doc", "action": "read"})
	}
	st, _, out := s.call("POST", "/v1/check/batch", map[string]any{"checks": checks})
	det, _ := get(out, "error", "details", 0, "field").(string)
	if st != 422 || errCode(out) != "too_many_entities" || det != "checks[10].entity_id" {
		t.Fatalf("batch over 10 entities: %d %.300v", st, out)
	}
	// Ten entities, asked many times each, are fine.
	for i := range checks {
		checks[i].(map[string]any)["entity_id"] = fmt.Sprintf("victim-%d", i%10)
	}
	res := s.must(200, "POST", "/v1/check/batch", map[string]any{"checks": checks})
	if n := len(arr(res["results"])); n != 1000 {
		t.Fatalf("%d results", n)
	}
}

// TestAttackUnknownEntities: a platform token asks checks about random entity
// ids that do not exist. Each took a slot among the ROLEGATE_MAX_ENTITIES
// held (pushing the real tenants out, whose next checks then wait for a
// reload) and a decision table. Unknown entities must hold nothing lasting
// but a bounded entry.
func TestAttackUnknownEntities(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_MAX_ENTITIES": "20"})
	real := []string{"r0", "r1", "r2", "r3", "r4"}
	for _, e := range real {
		s.must(201, "POST", "/v1/entities", map[string]any{"id": e})
		s.must(201, "POST", "/v1/entities/"+e+"/users", map[string]any{"id": "ada"})
		s.must(200, "POST", "/v1/check", map[string]any{"entity_id": e, "user_id": "ada", "object_type": "doc", "action": "read"})
	}
	scrape := func() string {
		st, text := s.get(testToken, "/metrics")
		if st != 200 {
			t.Fatalf("GET /metrics: %d", st)
		}
		return text
	}
	if got := metric(t, scrape(), "rolegate_entities_loaded"); got != float64(len(real)) {
		t.Fatalf("%v entities loaded before the flood", got)
	}
	for b := 0; b < 300; b++ {
		var checks []any
		for i := 0; i < 10; i++ {
			checks = append(checks, map[string]any{"entity_id": fmt.Sprintf("nope-%d-%d", b, i), "user_id": "u", "object_type": "doc", "action": "read"})
		}
		res := s.must(200, "POST", "/v1/check/batch", map[string]any{"checks": checks})
		if get(res, "results", 0, "allowed") != false {
			t.Fatalf("unknown entity: %v", res)
		}
	}
	text := scrape()
	if got := metric(t, text, "rolegate_entities_loaded"); got != float64(len(real)) {
		t.Fatalf("%v entities loaded after 3,000 checks on unknown entities, want the %d real ones", got, len(real))
	}
	if got := metric(t, text, "rolegate_entity_evictions_total"); got != 0 {
		t.Fatalf("unknown entities pushed %v real ones out", got)
	}
	// An entity created after it was asked about is seen at once.
	s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "nope-0-0", "user_id": "ada", "object_type": "doc", "action": "read"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "nope-0-0"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/nope-0-0/roles", map[string]any{"name": "r", "permissions": manyRights(1)})
	s.must(201, "POST", "/v1/entities/nope-0-0/users", map[string]any{"id": "ada", "role_ids": []string{role.ID}})
	if out := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "nope-0-0", "user_id": "ada", "object_type": "doc", "action": "a0"}); !out.Allowed {
		t.Fatalf("an entity created after checks on it: %v", out)
	}
}

// TestAttackUnboundedListFilters: list filters whose values are matched
// against every role: Papershift's filter[name]=in:<10,000 values> (10,000
// comparisons per role, per request), a value of 20,000 characters, hundreds
// of filters; the native and Monite id__in with thousands of ids. Each is a 4xx
// in its API's error shape, naming the parameter.
func TestAttackUnboundedListFilters(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"})
	many := make([]string, 10000)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	ps := func(query string) (int, any) {
		st, _, out := s.raw("GET", "/api/v1/roles?"+query, "", "X-Entity-Id", "T12345678")
		return st, out
	}
	for _, c := range []struct{ query, param string }{
		{"filter[name]=in:" + strings.Join(many, ","), "filter[name]"},
		{"filter[id]=!in:" + strings.Join(many, ","), "filter[id]"},
		{"filter[name]=ct:" + strings.Repeat("x", 20000), "filter[name]"},
		{"filter[name]=in:a," + strings.Repeat("x", 20000), "filter[name]"},
		{"filter[name]=ct:a" + strings.Repeat("&filter[name]=ct:a", 500), "filter[name]"},
	} {
		st, out := ps(c.query)
		if st != 400 || get(out, "errors", 0, "code") != "invalid_filter" || get(out, "errors", 0, "source", "parameter") != c.param {
			t.Errorf("Papershift %.60s...: %d %.300v", c.query, st, out)
		}
	}
	if st, out := ps("filter[name]=in:admin,member"); st != 200 || len(arr(get(out, "data"))) != 2 {
		t.Fatalf("a small in: filter: %d %v", st, out)
	}
	ids := "id__in=" + strings.Join(many, ",")
	if st, _, out := s.raw("GET", "/v1/entities/T12345678/roles?"+ids, ""); st != 422 || get(out, "error", "code") != "invalid_id__in" {
		t.Errorf("native id__in: %d %.300v", st, out)
	}
	if st, _, out := s.raw("GET", "/v1/roles?"+ids, "", "x-monite-version", "2024-05-25", "x-monite-entity-id", "T12345678"); st != 422 ||
		get(out, "detail", 0, "loc", 1) != "id__in" {
		t.Errorf("Monite id__in: %d %.300v", st, out)
	}
}

// TestAttackConnectionsAndSlowBodies: a caller opens connections without end
// (each a goroutine and its buffers) and sends bodies a byte at a time, to
// hold the server's memory and goroutines. A body not sent within
// ROLEGATE_READ_TIMEOUT ends its connection; the server stays healthy.
func TestAttackConnectionsAndSlowBodies(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_MAX_CONNECTIONS": "4", "ROLEGATE_READ_TIMEOUT": "1s"})
	addr := strings.TrimPrefix(s.base, "http://")

	// Connections past the cap: TestAttackBusyConnectionsHoldTheCap
	// (attack_connections_test.go); idle ones make room.

	t.Run("a slow body ends its connection within the read timeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken +
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"entity_id\":\""
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() { // one byte every 100 ms: 100,000 bytes would take three hours
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(conn, "x"); err != nil {
					return
				}
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		data, err := io.ReadAll(conn)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server kept reading a slow body for 15 s (%q)", data)
		}
		if strings.Contains(string(data), " 200 ") {
			t.Fatalf("a slow body was answered 200: %q", data)
		}
	})

	if st, _, _ := s.call("GET", "/healthz", nil); st != 200 {
		t.Fatalf("server unwell after the attacks: %d", st)
	}
}

// TestAttackSlowBodiesHoldMemory: every connection sending a 1 MiB body
// slowly makes the server hold up to 1 MiB until it ends; with
// ROLEGATE_MAX_CONNECTIONS of them, gigabytes. The bodies read at once share a
// budget (64 MiB): past it a body is 503 server_busy, the server stays healthy
// and serves bodies again once the slow ones end.
func TestAttackSlowBodiesHoldMemory(t *testing.T) {
	// A budget of 8 bodies of 1 MiB: of 40 slow bodies, 8 are held and 32
	// are refused at once, whatever order the server reads them in.
	const budget, bodies, held = 8 << 20, 40, 8
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_READ_TIMEOUT": "60s",
		"ROLEGATE_MAX_BODY_MEMORY": strconv.Itoa(budget)})
	addr := strings.TrimPrefix(s.base, "http://")
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	for i := 0; i < bodies; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, conn)
		head := fmt.Sprintf("POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"entity_id\":\"", testToken, 1<<20)
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
	}
	// Every slow body past the budget is answered 503 server_busy on its own
	// connection; the held ones get no answer.
	refused := make(chan int, bodies)
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range slow {
		go func(c net.Conn) {
			c.SetReadDeadline(deadline)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				refused <- 0
				return
			}
			resp.Body.Close()
			refused <- resp.StatusCode
		}(c)
	}
	statuses := map[int]int{}
	for i := 0; i < bodies-held; i++ {
		statuses[<-refused]++
	}
	if statuses[503] != bodies-held {
		t.Fatalf("answers to the first %d slow bodies: %v; want %d of 503 (the budget holds %d)", bodies-held, statuses, bodies-held, held)
	}
	small := map[string]any{"entity_id": "e", "user_id": "u", "object_type": "doc", "action": "read"}
	st, h, out := s.call("POST", "/v1/check", small)
	if st != 503 || errCode(out) != "server_busy" || h.Get("Retry-After") == "" {
		t.Fatalf("a small body while %d slow bodies of 1 MiB hold the budget: %d %v %v; want 503 server_busy with Retry-After", held, st, h, out)
	}
	if st, _, _ := s.call("GET", "/healthz", nil); st != 200 {
		t.Fatalf("healthz while the slow bodies are held: %d", st)
	}
	for _, c := range slow {
		c.Close()
	}
	eventually := time.Now().Add(20 * time.Second)
	for {
		st, _, out := s.call("POST", "/v1/check", small)
		if st == 200 {
			break
		}
		if time.Now().After(eventually) {
			t.Fatalf("bodies still refused after slow ones ended: %d %v", st, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

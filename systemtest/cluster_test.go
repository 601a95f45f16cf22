package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/testkit"
)

func rights(obj string) map[string]any {
	return map[string]any{"objects": []any{map[string]any{"object_type": obj,
		"actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}
}

// seedReader makes entity e with user u holding a role "reader" that may read
// doc, and returns the role's id.
func seedReader(s *server, e string) string {
	s.t.Helper()
	s.must(201, "POST", "/v1/entities", map[string]any{"id": e})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/"+e+"/roles", map[string]any{"name": "reader", "permissions": rights("doc")})
	id := role.ID
	s.must(201, "POST", "/v1/entities/"+e+"/users", map[string]any{"id": "u", "role_ids": []string{id}})
	return id
}

// mayRead asks whether u may read obj in e.
func (s *server) mayRead(e, obj string) bool {
	s.t.Helper()
	out := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": e, "user_id": "u", "object_type": obj, "action": "read"})
	return out.Allowed
}

// TestWriteRevisionHeader: every write answer, native or facade, carries the
// revision it took the entity to; reads and checks carry none; a check with
// min_revision answers from that revision or newer, else 503 stale_policy.
func TestWriteRevisionHeader(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	const e = "T12345678"
	want := int64(0)
	step := func(status int, method, path, body string, headers ...string) any {
		t.Helper()
		st, h, out := s.raw(method, path, body, headers...)
		if st != status {
			t.Fatalf("%s %s: %d %v", method, path, st, out)
		}
		want++
		if got := revisionOf(t, h); got != want {
			t.Fatalf("%s %s: revision %d, want %d", method, path, got, want)
		}
		return out
	}
	step(201, "POST", "/v1/entities", `{"id":"`+e+`"}`)
	role := step(201, "POST", "/v1/entities/"+e+"/roles", `{"name":"reader","permissions":{"objects":[{"object_type":"doc","actions":[{"action_name":"read","permission":"allowed"}]}]}}`)
	id := get(role, "id").(string)
	step(201, "POST", "/v1/entities/"+e+"/users", `{"id":"u","role_ids":["`+id+`"]}`)
	step(200, "PATCH", "/v1/entities/"+e+"/roles/"+id, `{"description":"reads"}`)
	step(200, "PUT", "/v1/entities/"+e+"/users/u/roles/"+id, `{"scope":"team:1"}`)
	step(204, "DELETE", "/v1/entities/"+e+"/users/u/roles/"+id+"?scope=team:1", "")
	// The facades' writes too.
	step(200, "POST", "/v1/accounts/"+e+"/auth/roles", `{"scope":["read:accounts"]}`)
	step(200, "POST", "/v1/roles", `{"name":"monite","permissions":{}}`, "x-monite-version", "2024-05-25", "x-monite-entity-id", e)
	step(201, "POST", "/api/v1/roles", papershiftCreateRoleExample, "X-Entity-Id", e, "Content-Type", "application/vnd.api+json")

	// Reads, checks and failed writes carry none.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/entities/" + e + "/roles/" + id, ""},
		{"POST", "/v1/check", `{"entity_id":"` + e + `","user_id":"u","object_type":"doc","action":"read"}`},
		{"POST", "/v1/entities/" + e + "/roles", `{"name":"reader"}`},
	} {
		if _, h, _ := s.raw(r.method, r.path, r.body); h.Get("X-Rolegate-Revision") != "" {
			t.Fatalf("%s %s carries a revision", r.method, r.path)
		}
	}

	check := map[string]any{"entity_id": e, "user_id": "u", "object_type": "doc", "action": "read", "min_revision": want}
	if out := mustAs[api.Decision](s, 200, "POST", "/v1/check", check); !out.Allowed || out.Revision != want {
		t.Fatalf("check at min_revision %d: %v", want, out)
	}
	batch := map[string]any{"checks": []any{check, map[string]any{"entity_id": e, "user_id": "u", "object_type": "doc", "action": "read"}}}
	if out := s.must(200, "POST", "/v1/check/batch", batch); len(out["results"].([]any)) != 2 {
		t.Fatalf("batch with min_revision: %v", out)
	}
	check["min_revision"] = want + 1
	st, h, out := s.call("POST", "/v1/check", check)
	if st != 422 || errCode(out) != "unknown_revision" {
		t.Fatalf("check at a revision never written: %d %v %v", st, out, h)
	}
	check["min_revision"] = -1
	if out := s.must(422, "POST", "/v1/check", check); errCode(out) != "invalid_field" {
		t.Fatalf("negative min_revision: %v", out)
	}
	check["min_revision"] = "3"
	if out := s.must(422, "POST", "/v1/check", check); errCode(out) != "invalid_type" {
		t.Fatalf("min_revision as a string: %v", out)
	}
}

// TestInstancesInStep: two rolegate processes over one PostgreSQL database
// and Redis. A role change on one is answered by the other within one second,
// by notification (the sweep is an hour away); a check with the write's
// revision as min_revision is answered from it at once.
func TestInstancesInStep(t *testing.T) {
	db := postgresURL(t)
	redis := os.Getenv("ROLEGATE_TEST_REDIS_URL")
	if redis == "" {
		t.Skip("ROLEGATE_TEST_REDIS_URL not set: skipping the test of instances kept in step through Redis")
	}
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_REDIS_URL": redis,
		"ROLEGATE_REDIS_CHANNEL": "rolegate-test:" + uuid.NewString(), "ROLEGATE_SWEEP_INTERVAL": "1h"}
	a := startProcess(t, env)
	b := startProcess(t, env)
	testkit.Eventually(t, 10*time.Second, "both subscribed", func() bool {
		return subscribed(a.server) && subscribed(b.server)
	})
	role := seedReader(a.server, "acme")
	seedReader(a.server, "other")
	if !b.mayRead("acme", "doc") || !b.mayRead("other", "doc") {
		t.Fatal("the other instance does not answer from the stored policy")
	}
	prev := "doc"
	for i, obj := range []string{"memo", "doc", "memo", "invoice", "doc"} {
		_, h, out := a.call("PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights(obj)})
		rev := revisionOf(t, h)
		took := testkit.Eventually(t, time.Second, fmt.Sprintf("change %d answered by the other instance", i), func() bool {
			return b.mayRead("acme", obj) && !b.mayRead("acme", prev)
		})
		t.Logf("change %d (revision %d, %v) answered by the other instance after %v", i, rev, out["permissions"], took)
		prev = obj
	}

	// min_revision: the change is answered from at once, even if the
	// notification were late.
	_, h, _ := a.call("PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("receipt")})
	out := b.must(200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "receipt",
		"action": "read", "min_revision": revisionOf(t, h)})
	if out["allowed"] != true || out["revision"] != float64(revisionOf(t, h)) {
		t.Fatalf("check with min_revision on the other instance: %v", out)
	}

	// The entity not changed was not reloaded, and the lag was measured.
	_, text := b.get(testToken, "/metrics")
	if n := metric(t, text, `rolegate_policy_sync_reloads_total{cause="notification"}`); n < 5 || n > 6 {
		t.Fatalf("%v reloads on notification for 6 changes of one entity", n)
	}
	if n := metric(t, text, "rolegate_notification_lag_seconds_count"); n < 5 {
		t.Fatalf("notification lag observed %v times", n)
	}
	if sum := metric(t, text, "rolegate_notification_lag_seconds_sum"); sum <= 0 || sum > 6 {
		t.Fatalf("notification lag sum %v s", sum)
	}
	if n := metric(t, text, "rolegate_policy_loads_total"); n > 10 {
		t.Fatalf("%v policy loads: more than the changed entity's", n)
	}
	if _, text := a.get(testToken, "/metrics"); metric(t, text, "rolegate_notifications_published_total") < 10 {
		t.Fatalf("published: %v", metric(t, text, "rolegate_notifications_published_total"))
	}
}

// subscribed reads whether an instance's notification subscription is up.
func subscribed(s *server) bool {
	_, text := s.get(testToken, "/metrics")
	return strings.Contains(text, "\nrolegate_notifications_subscribed 1\n")
}

// TestInstancesConvergeWithoutRedis: with a private redis-server stopped,
// writes still succeed (publishing fails, counted) and the other instance
// converges within the sweep interval; when Redis is back, notifications
// flow again by themselves.
func TestInstancesConvergeWithoutRedis(t *testing.T) {
	db := postgresURL(t)
	rs := startRedis(t)
	const sweep = 700 * time.Millisecond
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_REDIS_URL": rs.url(), "ROLEGATE_SWEEP_INTERVAL": sweep.String()}
	a := startProcess(t, env)
	b := startProcess(t, env)
	testkit.Eventually(t, 10*time.Second, "both subscribed", func() bool { return subscribed(a.server) && subscribed(b.server) })
	role := seedReader(a.server, "acme")
	if !b.mayRead("acme", "doc") {
		t.Fatal("before the change")
	}

	rs.stop()
	testkit.Eventually(t, 10*time.Second, "both notice Redis is gone", func() bool { return !subscribed(a.server) && !subscribed(b.server) })
	for i, obj := range []string{"memo", "doc", "memo"} {
		a.must(200, "PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights(obj)})
		took := testkit.Eventually(t, sweep+time.Second, fmt.Sprintf("change %d converges without Redis", i), func() bool {
			return b.mayRead("acme", obj)
		})
		t.Logf("change %d converged without Redis after %v (sweep interval %v)", i, took, sweep)
	}
	if !a.mayRead("acme", "memo") || a.mayRead("acme", "doc") {
		t.Fatal("the writing instance does not answer from its own change")
	}
	_, text := a.get(testToken, "/metrics")
	if metric(t, text, "rolegate_notification_publish_errors_total") < 1 {
		t.Fatal("publishing failures not counted")
	}
	_, text = b.get(testToken, "/metrics")
	if metric(t, text, `rolegate_policy_sync_reloads_total{cause="sweep"}`) < 3 {
		t.Fatal("sweep reloads not counted")
	}

	rs.start(t)
	testkit.Eventually(t, 10*time.Second, "both subscribed again", func() bool { return subscribed(a.server) && subscribed(b.server) })
	_, text = b.get(testToken, "/metrics")
	heard := metric(t, text, "rolegate_notifications_received_total")
	a.must(200, "PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("invoice")})
	testkit.Eventually(t, 2*time.Second, "notifications heard again", func() bool {
		_, text := b.get(testToken, "/metrics")
		return metric(t, text, "rolegate_notifications_received_total") > heard && b.mayRead("acme", "invoice")
	})
}

// TestDatabaseOutage: an instance whose PostgreSQL goes away (a proxy in
// between is stopped) keeps answering checks on the entities it holds, also
// to API clients' tokens; writes are 503 storage_unavailable with
// Retry-After and /readyz is 503; when the database is back, everything
// recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	db := postgresURL(t)
	target := "127.0.0.1:5432"
	if i := strings.Index(db, "@"); i >= 0 {
		rest := db[i+1:]
		target = rest[:strings.IndexAny(rest, "/?")]
	}
	px := testkit.StartProxy(t, target)
	through := strings.Replace(db, target, px.Addr(), 1)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": through, "ROLEGATE_SWEEP_INTERVAL": "200ms"})
	role := seedReader(s, "acme")
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "billing", "entity_id": "acme", "scopes": []string{"check"}})
	st, _, tok := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		cl.ClientID, cl.Secret)
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	token := tok["access_token"].(string)
	clientCheck := func() (int, map[string]any) {
		st, _, out := s.callToken(token, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u", "object_type": "doc", "action": "read"})
		return st, out
	}
	if !s.mayRead("acme", "doc") {
		t.Fatal("before the outage")
	}
	if st, out := clientCheck(); st != 200 || out["allowed"] != true {
		t.Fatalf("client's check before the outage: %d %v", st, out)
	}

	px.Cut()
	// Checks keep answering, longer than the 5 s after which a client's
	// existence is asked of the store again.
	end := time.Now().Add(7 * time.Second)
	checks := 0
	for time.Now().Before(end) {
		if !s.mayRead("acme", "doc") || s.mayRead("acme", "memo") {
			t.Fatal("check answered wrongly during the outage")
		}
		if st, out := clientCheck(); st != 200 || out["allowed"] != true {
			t.Fatalf("client's check during the outage: %d %v", st, out)
		}
		checks += 2
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d checks answered during the outage", checks)
	for _, w := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/v1/entities/acme/roles/" + role, map[string]any{"permissions": rights("memo")}},
		{"POST", "/v1/entities/acme/users", map[string]any{"id": "v"}},
		{"POST", "/v1/entities", map[string]any{"id": "new"}},
	} {
		st, h, out := s.call(w.method, w.path, w.body)
		if st != 503 || errCode(out) != "storage_unavailable" || h.Get("Retry-After") == "" {
			t.Fatalf("%s %s during the outage: %d %v %v", w.method, w.path, st, out, h)
		}
	}
	if st, _ := s.get("", "/readyz"); st != 503 {
		t.Fatalf("/readyz during the outage: %d", st)
	}
	if st, _, out := s.call("GET", "/v1/entities/acme/roles/"+role, nil); st != 503 || errCode(out) != "storage_unavailable" {
		t.Fatalf("read during the outage: %d %v", st, out)
	}

	px.Restore()
	took := testkit.Eventually(t, 15*time.Second, "writes succeed again", func() bool {
		st, _, _ := s.call("PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("memo")})
		return st == 200
	})
	t.Logf("writes succeeded %v after the database came back", took)
	if st, _ := s.get("", "/readyz"); st != 200 {
		t.Fatalf("/readyz after the outage: %d", st)
	}
	if !s.mayRead("acme", "memo") || s.mayRead("acme", "doc") {
		t.Fatal("the write after the outage is not answered")
	}
	if st, out := clientCheck(); st != 200 || out["allowed"] != false {
		t.Fatalf("client's check after the outage: %d %v", st, out)
	}
}

// TestKillDuringWrites: one of two processes is killed (SIGKILL) in the
// middle of a stream of writes to both; the store passes rolegate doctor,
// and the survivor answers from what was committed.
func TestKillDuringWrites(t *testing.T) {
	db := postgresURL(t)
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_SWEEP_INTERVAL": "200ms"}
	a := startProcess(t, env)
	b := startProcess(t, env)
	const entities = 4
	roles := make([]string, entities)
	for i := range entities {
		roles[i] = seedReader(a.server, fmt.Sprintf("e%d", i))
	}

	// Writers: each changes roles, users and assignments of one entity in
	// turn, on one of the two instances, until told to stop or its
	// instance dies.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var okA, okB, failedA atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(base, method, path string, body string) (int, error) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	for w := range 8 {
		p := a
		if w%2 == 1 {
			p = b
		}
		e := fmt.Sprintf("e%d", w%entities)
		wg.Add(1)
		go func() {
			defer wg.Done()
			objs := []string{"doc", "memo", "invoice"}
			for n := 0; !stop.Load(); n++ {
				var st int
				var err error
				user := fmt.Sprintf("w%d-%d", w, n)
				switch n % 4 {
				case 0:
					st, err = send(p.base, "PATCH", "/v1/entities/"+e+"/roles/"+roles[w%entities],
						fmt.Sprintf(`{"permissions":{"objects":[{"object_type":%q,"actions":[{"action_name":"read","permission":"allowed"}]}]}}`, objs[n%3]))
				case 1:
					st, err = send(p.base, "POST", "/v1/entities/"+e+"/users", fmt.Sprintf(`{"id":%q,"role_ids":[%q]}`, user, roles[w%entities]))
				case 2:
					st, err = send(p.base, "POST", "/v1/entities/"+e+"/roles",
						fmt.Sprintf(`{"name":%q,"permissions":{"objects":[{"object_type":"doc","actions":[{"action_name":"delete","permission":"denied"}]}]}}`, user))
				case 3:
					st, err = send(p.base, "PUT", "/v1/entities/"+e+"/users/u/roles/"+roles[w%entities], fmt.Sprintf(`{"scope":"team:%d"}`, n))
				}
				switch {
				case err != nil && p == a:
					failedA.Add(1)
					return // killed
				case err != nil || (st != 200 && st != 201):
					t.Errorf("writer %d: %d %v", w, st, err)
					return
				case p == a:
					okA.Add(1)
				default:
					okB.Add(1)
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	a.kill()
	killedAfter := okA.Load()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("killed one instance after %d writes to it (%d writes cut off); %d writes to the other", killedAfter, failedA.Load(), okB.Load())
	if killedAfter == 0 || okB.Load() == 0 {
		t.Fatal("no stream of writes")
	}

	var out bytes.Buffer
	err := app.Run(context.Background(), []string{"doctor"}, func(k string) string {
		return map[string]string{"ROLEGATE_DATABASE_URL": db}[k]
	}, &out, io.Discard)
	t.Logf("rolegate doctor:\n%s", out.String())
	if err != nil {
		t.Fatalf("doctor after the kill: %v", err)
	}

	// The survivor answers from what is stored (its own writes and, after
	// the sweep, the dead one's).
	c := startProcess(t, env)
	time.Sleep(400 * time.Millisecond) // two sweeps
	for i := range entities {
		e := fmt.Sprintf("e%d", i)
		for _, obj := range []string{"doc", "memo", "invoice"} {
			for _, scope := range []string{"", "team:1", "team:2", "team:3", "team:5", "team:7"} {
				q := map[string]any{"entity_id": e, "user_id": "u", "object_type": obj, "action": "read", "scope": scope}
				want := mustAs[api.Decision](c.server, 200, "POST", "/v1/check", q).Allowed
				if got := mustAs[api.Decision](b.server, 200, "POST", "/v1/check", q).Allowed; got != want {
					t.Fatalf("%s %s %s: survivor answers %v, a fresh instance %v", e, obj, scope, got, want)
				}
			}
		}
	}
}

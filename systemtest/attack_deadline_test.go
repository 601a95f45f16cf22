package systemtest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/internal/testkit"
)

// Faults of a database that hangs: a TCP proxy that stops forwarding (the
// bytes wait in it, and go through when it resumes, as a stalled network
// delivers them late), or that holds one COMMIT back. Writes must answer 503
// storage_unavailable with Retry-After within the store timeout, and none of
// them may commit afterwards.

// throughGate returns a new PostgreSQL schema's or MySQL database's URL, and
// the same through a new proxy (testkit.Proxy: paused, it holds every byte
// until resumed; armed, it holds the next COMMIT back for a while).
func throughGate(t *testing.T, dialect string) (string, string, *testkit.Proxy) {
	t.Helper()
	var db string
	if dialect == "postgres" {
		db = postgresURL(t)
	} else {
		db = mysqlURL(t)
	}
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	px := testkit.StartProxy(t, u.Host)
	through := strings.Replace(db, "@"+u.Host, "@"+px.Addr(), 1)
	if through == db {
		t.Fatalf("the test database URL %s names no user@host", adapters.RedactURL(db))
	}
	return db, through, px
}

// mysqlURL returns the URL of a new database of the test MySQL server,
// dropped when the test ends; the test is skipped without a server.
func mysqlURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ROLEGATE_TEST_MYSQL_URL")
	if base == "" {
		t.Skip("ROLEGATE_TEST_MYSQL_URL not set: skipping a test that needs MySQL")
	}
	store, err := adapters.Open(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	name := "rg_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if err := store.DB().Exec("CREATE DATABASE " + name).Error; err != nil {
		store.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.DB().Exec("DROP DATABASE " + name)
		store.Close()
	})
	u, q, _ := strings.Cut(base, "?")
	if q != "" {
		q = "?" + q
	}
	return u[:strings.LastIndexByte(u, '/')+1] + name + q
}

// answer is one HTTP answer, or the error of a request that got none.
type answer struct {
	status int
	code   string
	retry  string
	took   time.Duration
	err    error
}

// sendOnce sends one request with the admin token, waiting at most 20 s.
func sendOnce(base, method, path string, body any) answer {
	data, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(data))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return answer{status: res.StatusCode, code: errCode(out), retry: res.Header.Get("Retry-After"), took: time.Since(start)}
}

// TestWritesAnswer503WhenDatabaseHangs: the database stops answering (the
// proxy forwards nothing, holding what is sent). Every write answers 503
// storage_unavailable with Retry-After (the store timeout is 1 s here) instead
// of hanging as long as the database does; checks of a held entity keep
// answering; /readyz is 503. When the proxy resumes (delivering what it
// held), none of the failed writes is in the store.
func TestWritesAnswer503WhenDatabaseHangs(t *testing.T) {
	for _, dialect := range []string{"postgres", "mysql"} {
		t.Run(dialect, func(t *testing.T) { testWritesAnswer503WhenDatabaseHangs(t, dialect) })
	}
}

func testWritesAnswer503WhenDatabaseHangs(t *testing.T, dialect string) {
	_, through, px := throughGate(t, dialect)
	// ROLEGATE_TEST_STORE_TIMEOUT measures another timeout, such as the
	// default 10s (docs/operations.md).
	timeout := cmp.Or(os.Getenv("ROLEGATE_TEST_STORE_TIMEOUT"), "1s")
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": through, "ROLEGATE_STORE_TIMEOUT": timeout,
		"ROLEGATE_SWEEP_INTERVAL": "200ms"})
	role := seedReader(s, "acme")
	if !s.mayRead("acme", "doc") {
		t.Fatal("before the hang")
	}

	px.Pause()
	writes := []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/v1/entities/acme/roles/" + role, map[string]any{"permissions": rights("memo")}},
		{"POST", "/v1/entities/acme/users", map[string]any{"id": "v1"}},
		{"POST", "/v1/entities/acme/users", map[string]any{"id": "v2"}},
		{"POST", "/v1/entities/acme/users", map[string]any{"id": "v3"}},
		{"PUT", "/v1/entities/acme/users/u/roles/" + role, map[string]any{"scope": "team:1"}},
		{"POST", "/v1/entities", map[string]any{"id": "new"}},
	}
	answers := make([]answer, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() { answers[i] = sendOnce(s.base, w.method, w.path, w.body) })
	}
	// A check of the held entity needs no database.
	if !s.mayRead("acme", "doc") || s.mayRead("acme", "memo") {
		t.Error("check answered wrongly while the database hangs")
	}
	wg.Wait()
	var slowest time.Duration
	for i, a := range answers {
		if a.err != nil || a.status != 503 || a.code != "storage_unavailable" || a.retry == "" {
			t.Errorf("%s %s while the database hangs: %d %q Retry-After %q, error %v after %v",
				writes[i].method, writes[i].path, a.status, a.code, a.retry, a.err, a.took)
		}
		slowest = max(slowest, a.took)
	}
	t.Logf("writes answered 503 within %v of being sent (store timeout %s)", slowest, timeout)
	if st, _ := s.get("", "/readyz"); st != 503 {
		t.Errorf("/readyz while the database hangs: %d", st)
	}

	px.Resume()
	took := testkit.Eventually(t, 20*time.Second, "writes succeed again", func() bool {
		return sendOnce(s.base, "POST", "/v1/entities/acme/users", map[string]any{"id": "after"}).status == 201
	})
	t.Logf("writes succeeded %v after the database answered again", took)
	// What the proxy held has reached the database by now; give a late
	// COMMIT the time of two more store timeouts to show.
	time.Sleep(2 * time.Second)
	for _, id := range []string{"v1", "v2", "v3"} {
		if st, _, _ := s.call("GET", "/v1/entities/acme/users/"+id, nil); st != 404 {
			t.Errorf("user %s, whose creation answered 503, is in the store: %d", id, st)
		}
	}
	if st, _, _ := s.call("GET", "/v1/entities/new", nil); st != 404 {
		t.Errorf("entity new, whose creation answered 503, is in the store: %d", st)
	}
	out := s.must(200, "GET", "/v1/entities/acme/users/u/roles", nil)
	if data, _ := json.Marshal(out); strings.Contains(string(data), "team:1") {
		t.Errorf("the assignment that answered 503 is in the store: %s", data)
	}
	if !s.mayRead("acme", "doc") || s.mayRead("acme", "memo") {
		t.Error("the role change that answered 503 is in force")
	}
}

// TestWriteCannotCommitAfterItsDeadline: a write waits on a row lock for most
// of its store timeout, then its COMMIT is held up in the network past the
// deadline (less than PostgreSQL's idle-in-transaction timeout, so the server
// alone would not end it). The caller gets 503, and when the COMMIT arrives
// the server refuses it: the write is not in the store.
func TestWriteCannotCommitAfterItsDeadline(t *testing.T) {
	direct, through, px := throughGate(t, "postgres")
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": through, "ROLEGATE_STORE_TIMEOUT": "2s",
		"ROLEGATE_SWEEP_INTERVAL": "1h", "ROLEGATE_EXPIRY_SWEEP": "1h"})
	seedReader(s, "acme")

	store, err := adapters.Open(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sqlDB, err := store.DB().DB()
	if err != nil {
		t.Fatal(err)
	}
	lock, err := sqlDB.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec("SELECT id FROM entities WHERE id = 'acme' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	done := make(chan answer, 1)
	go func() { done <- sendOnce(s.base, "POST", "/v1/entities/acme/users", map[string]any{"id": "late"}) }()
	time.Sleep(300 * time.Millisecond) // the write waits on the lock
	held := px.HoldNextCommit(1500 * time.Millisecond)
	time.Sleep(900 * time.Millisecond)
	if err := lock.Rollback(); err != nil { // 1.2 s of the 2 s gone
		t.Fatal(err)
	}
	a := <-done
	select {
	case <-held:
	default:
		t.Fatalf("the write's COMMIT was not held back (answer %d %q after %v)", a.status, a.code, a.took)
	}
	if a.err != nil || a.status != 503 || a.code != "storage_unavailable" || a.retry == "" {
		t.Fatalf("write whose COMMIT is late: %d %q Retry-After %q, error %v after %v", a.status, a.code, a.retry, a.err, a.took)
	}
	t.Logf("answered 503 after %v", a.took)
	time.Sleep(2 * time.Second) // the held COMMIT has been forwarded
	var n int64
	if err := store.DB().Raw("SELECT COUNT(*) FROM users WHERE entity_id = 'acme' AND id = 'late'").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("the write answered 503 committed afterwards")
	}
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "later"})
}

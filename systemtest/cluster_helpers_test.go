package systemtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/adapters"
)

// Helpers of the tests with several instances, Redis and outages: a private
// PostgreSQL schema per test and a private redis-server (the rolegate
// processes: harness_test.go; the proxy that cuts the database off:
// testkit.Proxy).

// postgresURL returns the URL of a new schema of the test PostgreSQL server,
// dropped when the test ends; the test is skipped without a server.
func postgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("ROLEGATE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ROLEGATE_TEST_POSTGRES_URL not set: skipping a test that needs PostgreSQL")
	}
	store, err := adapters.Open(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "rg_cluster_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if err := store.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		store.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.DB().Exec("DROP SCHEMA " + schema + " CASCADE")
		store.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// redisServer is a private redis-server on a free port, so that stopping it
// disturbs nothing shared.
type redisServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed: skipping a test that stops Redis")
	}
	rs := &redisServer{port: freePort(t), dir: t.TempDir()}
	rs.start(t)
	t.Cleanup(rs.stop)
	return rs
}

func (rs *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", rs.port) }

func (rs *redisServer) start(t *testing.T) {
	t.Helper()
	rs.cmd = exec.Command("redis-server", "--port", strconv.Itoa(rs.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", rs.dir)
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitPort(t, rs.port)
}

func (rs *redisServer) stop() {
	if rs.cmd != nil {
		rs.cmd.Process.Kill()
		rs.cmd.Wait()
		rs.cmd = nil
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// revisionOf reads X-Rolegate-Revision of a write's answer.
func revisionOf(t *testing.T, h map[string][]string) int64 {
	t.Helper()
	v := ""
	if vs := h["X-Rolegate-Revision"]; len(vs) > 0 {
		v = vs[0]
	}
	rev, err := strconv.ParseInt(v, 10, 64)
	if err != nil || rev < 1 {
		t.Fatalf("X-Rolegate-Revision %q", v)
	}
	return rev
}

package systemtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/internal/testkit"

	"github.com/rolegate/rolegate/internal/app"
)

// Helpers of the tests with several instances, Redis and outages: real
// rolegate processes (this test binary run again as the server), a private
// PostgreSQL schema per test, a private redis-server, and a TCP proxy to cut
// the database off.

// childEnv, when set in a process's environment, makes this test binary the
// rolegate server instead of running the tests (see TestMain).
const childEnv = "ROLEGATE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "serve" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := app.Run(ctx, []string{"serve"}, os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "rolegate:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if err := installContract(); err != nil {
		fmt.Fprintln(os.Stderr, "api/openapi.yaml:", err)
		os.Exit(1)
	}
	code := m.Run()
	summary, violations := contractReport()
	fmt.Fprintln(os.Stderr, summary)
	if len(violations) > 0 {
		for _, v := range violations {
			fmt.Fprintln(os.Stderr, "  "+v)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// process is a rolegate server in a process of its own.
type process struct {
	*server
	cmd  *exec.Cmd
	kill func() // SIGKILL: no draining, no goodbye
}

// startProcess runs rolegate serve in a new process with the given variables
// (and none of this process's other ROLEGATE_ ones) and waits until it
// listens.
func startProcess(t *testing.T, env map[string]string) *process {
	t.Helper()
	vars := map[string]string{"ROLEGATE_ADDR": "127.0.0.1:0", "ROLEGATE_LOG_FORMAT": "json", "ROLEGATE_ADMIN_TOKEN": testToken, "ROLEGATE_DRAIN_PERIOD": "0s"}
	for k, v := range env {
		vars[k] = v
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROLEGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"=serve")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{server: &server{t: t}, cmd: cmd}
	exited := make(chan error, 1)
	addr := testkit.WatchLog(stdout, func(line []byte) {
		p.mu.Lock()
		p.out.Write(line)
		p.out.WriteByte('\n')
		p.mu.Unlock()
	}, func() { exited <- cmd.Wait() })
	unwatch := func() {}
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("rolegate process did not start: %v\n%s", <-exited, p.output())
		}
		p.base = "http://" + a
		unwatch = watchServer(p.base)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("rolegate process did not start within 60 s\n%s", p.output())
	}
	var once sync.Once
	var stopErr error
	p.stop = func() error {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case stopErr = <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				stopErr = errors.Join(errors.New("did not stop within 30 s of SIGTERM"), <-exited)
			}
			unwatch()
		})
		return stopErr
	}
	p.kill = func() {
		once.Do(func() {
			cmd.Process.Kill()
			stopErr = <-exited
			unwatch()
		})
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil && !t.Failed() && !strings.Contains(err.Error(), "killed") {
			t.Errorf("rolegate process: %v\n%s", err, p.output())
		}
		if t.Failed() {
			t.Logf("output of the rolegate process at %s:\n%s", p.base, p.output())
		}
	})
	return p
}

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

// within polls cond until it holds, failing the test after limit; it returns
// how long it took.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
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

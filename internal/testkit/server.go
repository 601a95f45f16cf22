package testkit

// The real rolegate program for tests outside cmd/rolegate (the client, the
// examples): the binary is built once per test process into a temporary
// directory and started on 127.0.0.1:0 with the variables a test gives.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AdminToken is the admin token of the servers Start runs.
const AdminToken = "testkit-admin-token-0123456789abcdef"

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Root is the module's directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds ./cmd/rolegate once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "rolegate-testkit-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "rolegate")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/rolegate")
		cmd.Dir = Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/rolegate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Main runs the tests and removes the built binary; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	RemoveBinary()
	os.Exit(code)
}

// RemoveBinary removes the binary Binary built, for a TestMain of its own
// (after m.Run).
func RemoveBinary() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Server is a rolegate process.
type Server struct {
	// URL is http://127.0.0.1:<port>.
	URL string
	cmd *exec.Cmd

	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	once sync.Once
}

// Output is what the process printed so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Start runs `rolegate serve` with an SQLite database in t.TempDir() and the
// admin token AdminToken, plus env (which wins), and waits until it
// listens. It is stopped when the test ends.
func Start(t testing.TB, env map[string]string) *Server {
	t.Helper()
	bin := Binary(t)
	vars := map[string]string{
		"ROLEGATE_ADDR":         "127.0.0.1:0",
		"ROLEGATE_LOG_FORMAT":   "json",
		"ROLEGATE_ADMIN_TOKEN":  AdminToken,
		"ROLEGATE_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "rolegate.db"),
		"ROLEGATE_DRAIN_PERIOD": "0s", // tests stop servers often: no drain unless asked
	}
	for k, v := range env {
		vars[k] = v
	}
	cmd := exec.Command(bin, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROLEGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
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
	s := &Server{cmd: cmd, done: make(chan struct{})}
	addr := WatchLog(stdout, func(line []byte) {
		s.mu.Lock()
		s.out.Write(line)
		s.out.WriteByte('\n')
		s.mu.Unlock()
	}, func() {
		_ = cmd.Wait()
		close(s.done)
	})
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("rolegate did not start:\n%s", s.Output())
		}
		s.URL = "http://" + a
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("rolegate did not start within 60 s:\n%s", s.Output())
	}
	t.Cleanup(s.Stop)
	return s
}

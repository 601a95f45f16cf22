// Package systemtest runs the real rolegate program and talks to it as its
// users do: the Go client, HTTP, gRPC, the CLI and a browser.
package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/internal/testkit"

	"github.com/rolegate/rolegate/internal/app"
)

// The harness of the system tests: the real program (internal/app) on
// 127.0.0.1:0, configured by ROLEGATE_* variables, started in this process
// (startServer, launch) or in a process of its own (startProcess: this test
// binary run again as the server, for SIGKILL and clusters); every exchange
// with it checked against the OpenAPI document (contract_test.go, from
// TestMain). The network's faults between: testkit.Proxy. Tests outside this
// module's main suite start the built binary (testkit.Start).

// testToken is the admin token of the test servers: at least 32 characters,
// as the program requires.
const testToken = "test-admin-token-0123456789abcdef"

// server is the real program on 127.0.0.1:0, in this process or another.
type server struct {
	t    *testing.T
	base string
	stop func() error
	mu   sync.Mutex
	out  bytes.Buffer // the log stream (stdout)
	term bytes.Buffer // what the program printed to stderr
}

// terminal returns what the program printed to stderr so far.
func (s *server) terminal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term.String()
}

// lockedWriter appends to a buffer under the server's lock.
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// output returns what the program printed so far.
func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// startServer runs the program with the given variables and waits until it
// listens.
func startServer(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	s, err := launch(t, serverVars(env), args...)
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	return s
}

// launch runs the program in this process with exactly vars and waits until
// it listens (the server, stopped when the test ends), or until it ends
// without listening (what Run returned, and the server for what it printed).
func launch(t *testing.T, vars map[string]string, args ...string) (*server, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	s := &server{t: t}
	go func() {
		err := app.Run(ctx, append([]string{"serve"}, args...), func(k string) string { return vars[k] }, pw, lockedWriter{&s.mu, &s.term})
		pw.CloseWithError(fmt.Errorf("program ended: %v", err))
		done <- err
	}()
	addr := s.watchLog(pr, nil)
	unwatch := func() {}
	select {
	case a, ok := <-addr:
		if !ok {
			cancel()
			return s, <-done
		}
		s.base = "http://" + a
		unwatch = watchServer(s.base)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30 s")
	}
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		unwatch()
		return err
	}
	t.Cleanup(func() { _ = s.stop() })
	return s, nil
}

// serverVars are the variables of a test server: on 127.0.0.1:0, a JSON
// log (read for the address), the admin token testToken, no drain; env's
// win.
func serverVars(env map[string]string) map[string]string {
	vars := map[string]string{"ROLEGATE_ADDR": "127.0.0.1:0", "ROLEGATE_LOG_FORMAT": "json", "ROLEGATE_ADMIN_TOKEN": testToken, "ROLEGATE_DRAIN_PERIOD": "0s"}
	for k, v := range env {
		vars[k] = v
	}
	return vars
}

// watchLog keeps the program's log read from r, and sends the address it
// listens on (testkit.WatchLog).
func (s *server) watchLog(r io.Reader, after func()) <-chan string {
	return testkit.WatchLog(r, func(line []byte) {
		s.mu.Lock()
		s.out.Write(line)
		s.out.WriteByte('\n')
		s.mu.Unlock()
	}, after)
}

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
	testkit.RemoveBinary()
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
	vars := serverVars(env)
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
	addr := p.watchLog(stdout, func() { exited <- cmd.Wait() })
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

// call sends a request with the admin token and decodes the JSON answer.
func (s *server) call(method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	s.t.Helper()
	return s.callToken(testToken, method, path, body, headers...)
}

func (s *server) callToken(token, method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	s.t.Helper()
	return s.send(false, token, method, path, body, headers...)
}

// callBad is call for a request malformed on purpose: the OpenAPI document
// need not accept it (contract_test.go); the answer is still checked.
func (s *server) callBad(method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	s.t.Helper()
	return s.send(true, testToken, method, path, body, headers...)
}

// callTokenBad is callToken for a request malformed on purpose.
func (s *server) callTokenBad(token, method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	s.t.Helper()
	return s.send(true, token, method, path, body, headers...)
}

func (s *server) send(bad bool, token, method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	s.t.Helper()
	status, h, data := s.exchange(bad, token, method, path, body, headers...)
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			s.t.Fatalf("%s %s: %d, not a JSON object: %q", method, path, status, data)
		}
	}
	return status, h, out
}

// exchange sends a request and returns the answer's bytes.
func (s *server) exchange(bad bool, token, method, path string, body any, headers ...string) (int, http.Header, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if bad {
		req = deliberate(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, data
}

// must calls and fails the test unless the status is want.
func (s *server) must(want int, method, path string, body any, headers ...string) map[string]any {
	s.t.Helper()
	status, _, out := s.call(method, path, body, headers...)
	if status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, out)
	}
	return out
}

// callAs is call with the answer decoded into T, an api type (zero when the
// body is empty).
func callAs[T any](s *server, method, path string, body any, headers ...string) (int, http.Header, T) {
	s.t.Helper()
	status, h, data := s.exchange(false, testToken, method, path, body, headers...)
	var out T
	if len(data) > 0 {
		out = decodeAs[T](s, method, path, data)
	}
	return status, h, out
}

// mustAs is must with the answer decoded into T, an api type.
func mustAs[T any](s *server, want int, method, path string, body any, headers ...string) T {
	s.t.Helper()
	status, _, data := s.exchange(false, testToken, method, path, body, headers...)
	if status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, data)
	}
	return decodeAs[T](s, method, path, data)
}

// decodeAs refuses fields T lacks, so a typed answer hides nothing the
// server wrote (what a map would have shown).
func decodeAs[T any](s *server, method, path string, data []byte) T {
	s.t.Helper()
	var out T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		s.t.Fatalf("%s %s: not a %T: %v: %s", method, path, out, err, data)
	}
	return out
}

// auditUser reads an audit event's user snapshot (zero when null), refusing
// fields AuditUser lacks.
func auditUser(t *testing.T, raw json.RawMessage) api.AuditUser {
	t.Helper()
	var u api.AuditUser
	if isNull(raw) {
		return u
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		t.Fatalf("not an audit user: %v: %s", err, raw)
	}
	return u
}

// isNull: an audit snapshot written as null (or not written).
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "rolegate.db")
}

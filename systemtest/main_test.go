package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/internal/testkit"

	"github.com/rolegate/rolegate/internal/app"
)

// testToken is the admin token of the test servers: at least 32 characters,
// as the program requires.
const testToken = "test-admin-token-0123456789abcdef"

// server is the real program running in this process on 127.0.0.1:0.
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
	vars := map[string]string{"ROLEGATE_ADDR": "127.0.0.1:0", "ROLEGATE_LOG_FORMAT": "json", "ROLEGATE_ADMIN_TOKEN": testToken, "ROLEGATE_DRAIN_PERIOD": "0s"}
	for k, v := range env {
		vars[k] = v
	}
	s, err := launch(t, vars, args...)
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	return s
}

// launch runs the program in this process with exactly vars and waits until
// it listens (the server, stopped when the test ends), or until it ends
// without listening (what run returned).
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
	addr := testkit.WatchLog(pr, func(line []byte) {
		s.mu.Lock()
		s.out.Write(line)
		s.out.WriteByte('\n')
		s.mu.Unlock()
	}, nil)
	unwatch := func() {}
	select {
	case a, ok := <-addr:
		if !ok {
			cancel()
			return nil, <-done
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
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			s.t.Fatalf("%s %s: %d, not a JSON object: %q", method, path, res.StatusCode, data)
		}
	}
	return res.StatusCode, res.Header, out
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

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "rolegate.db")
}

// authzFile is testdata/authz.json: authorization behaviour as data.
type authzFile struct {
	Cases []struct {
		Name  string            `json:"name"`
		Roles []json.RawMessage `json:"roles"`
		Users []struct {
			ID     string    `json:"id"`
			Roles  *[]string `json:"roles"`
			Scoped []struct {
				Role  string `json:"role"`
				Scope string `json:"scope"`
			} `json:"scoped"`
		} `json:"users"`
		Checks []struct {
			User       string `json:"user"`
			ObjectType string `json:"object_type"`
			Action     string `json:"action"`
			OwnerID    string `json:"owner_id"`
			Scope      string `json:"scope"`
			Allowed    bool   `json:"allowed"`
			Permission string `json:"permission"`
		} `json:"checks"`
	} `json:"cases"`
}

func loadAuthz(t *testing.T) authzFile {
	data, err := os.ReadFile("../testdata/authz.json")
	if err != nil {
		t.Fatal(err)
	}
	var f authzFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestAuthorizationTableHTTP runs the authorization table through the HTTP
// API of the real server.
func TestAuthorizationTableHTTP(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	for i, c := range loadAuthz(t).Cases {
		t.Run(c.Name, func(t *testing.T) {
			s.t = t
			ent := fmt.Sprintf("authz-%d", i)
			s.must(201, "POST", "/v1/entities", map[string]any{"id": ent})
			roleIDs := map[string]string{}
			list := s.must(200, "GET", "/v1/entities/"+ent+"/roles?role_type=system", nil)
			for _, r := range list["data"].([]any) {
				r := r.(map[string]any)
				roleIDs[r["name"].(string)] = r["id"].(string)
			}
			for _, raw := range c.Roles {
				r := s.must(201, "POST", "/v1/entities/"+ent+"/roles", raw)
				roleIDs[r["name"].(string)] = r["id"].(string)
			}
			for _, u := range c.Users {
				body := map[string]any{"id": u.ID}
				if u.Roles != nil {
					ids := []string{}
					for _, name := range *u.Roles {
						ids = append(ids, roleIDs[name])
					}
					body["role_ids"] = ids
				}
				s.must(201, "POST", "/v1/entities/"+ent+"/users", body)
				for _, sc := range u.Scoped {
					s.must(200, "PUT", "/v1/entities/"+ent+"/users/"+urlPath(u.ID)+"/roles/"+roleIDs[sc.Role], map[string]any{"scope": sc.Scope})
				}
			}
			for _, ch := range c.Checks {
				out := s.must(200, "POST", "/v1/check", map[string]any{"entity_id": ent, "user_id": ch.User,
					"object_type": ch.ObjectType, "action": ch.Action, "owner_id": ch.OwnerID, "scope": ch.Scope})
				if out["allowed"] != ch.Allowed || out["permission"] != ch.Permission {
					t.Errorf("check %+v: got allowed=%v permission=%v, want %v %v", ch, out["allowed"], out["permission"], ch.Allowed, ch.Permission)
				}
			}
		})
	}
}

func urlPath(s string) string { return strings.ReplaceAll(s, "|", "%7C") }

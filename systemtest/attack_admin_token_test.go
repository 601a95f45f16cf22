package systemtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Hole 8: the admin token. A generated token went into the log stream (which
// log pipelines collect and keep), a configured token of any length was
// accepted (a short one is guessed), and the token could only be given as a
// variable or a flag (a flag shows in /proc/*/cmdline and /debug/pprof/cmdline).

// tryStart runs the program like startServer but reports a start that fails
// instead of failing the test: err is what run returned when it ended before
// listening; s is the server when it listens.
func tryStart(t *testing.T, env map[string]string, args ...string) (s *server, err error) {
	t.Helper()
	vars := map[string]string{"ROLEGATE_ADDR": "127.0.0.1:0", "ROLEGATE_LOG_FORMAT": "json", "ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_DRAIN_PERIOD": "0s"}
	for k, v := range env {
		vars[k] = v
	}
	return launch(t, vars, args...)
}

// TestAttackGeneratedTokenInLogStream: the operator starts without a token;
// the attacker reads the collected log stream (a log aggregator, a support
// bundle) and finds the generated admin token there. It must be printed once,
// to stderr, and never through the logger.
func TestAttackGeneratedTokenInLogStream(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_ADMIN_TOKEN": ""})
	tokenRe := regexp.MustCompile(`rg_[A-Za-z0-9_-]{43}`)
	found := tokenRe.FindAllString(s.terminal(), -1)
	if len(found) != 1 {
		t.Fatalf("the generated token is printed to stderr %d times, want once:\n%s", len(found), s.terminal())
	}
	token := found[0]
	if st, _, _ := s.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("the token printed is refused: %d", st)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	log := s.output()
	if strings.Contains(log, token) || tokenRe.MatchString(log) {
		t.Fatalf("the generated admin token is in the log stream:\n%s", log)
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("the log stream holds a line that is not a JSON record: %q", line)
		}
	}
}

// TestAttackShortAdminToken: an operator sets a short admin token (the
// README's own example was 16 characters); the attacker guesses it. The
// program must refuse to start with it, however it is given.
func TestAttackShortAdminToken(t *testing.T) {
	dir := t.TempDir()
	short := "dev-secret-token"
	file := filepath.Join(dir, "short")
	if err := os.WriteFile(file, []byte(short+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spaced := filepath.Join(dir, "spaced")
	if err := os.WriteFile(spaced, []byte("   a token with spaces in it, 32+ chars   \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"variable", map[string]string{"ROLEGATE_ADMIN_TOKEN": short}, nil},
		{"flag", nil, []string{"-admin-token", short}},
		{"31 characters", map[string]string{"ROLEGATE_ADMIN_TOKEN": strings.Repeat("x", 31)}, nil},
		{"file", map[string]string{"ROLEGATE_ADMIN_TOKEN_FILE": file}, nil},
		{"file with spaces", map[string]string{"ROLEGATE_ADMIN_TOKEN_FILE": spaced}, nil},
		// Two dots make a bearer token read as a JWT: never the admin token.
		{"two dots", map[string]string{"ROLEGATE_ADMIN_TOKEN": "header." + strings.Repeat("p", 32) + ".signature"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := tryStart(t, c.env, c.args...)
			if err == nil {
				st, _, _ := s.callToken(short, "GET", "/v1/entities", nil)
				t.Fatalf("the program started with a weak admin token (GET /v1/entities with it: %d)", st)
			}
			if !strings.Contains(err.Error(), "admin token") || strings.Contains(err.Error(), short) {
				t.Fatalf("error %q does not say the admin token is refused, or repeats it", err)
			}
		})
	}
}

// TestAttackAdminTokenOnCommandLine: given as a flag, the token is in
// /proc/<pid>/cmdline for every local user and in /debug/pprof/cmdline. A
// token file keeps it out of both.
func TestAttackAdminTokenOnCommandLine(t *testing.T) {
	dir := t.TempDir()
	token := "file-admin-token-" + strings.Repeat("7", 32)
	file := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-admin-token-file", file, "-pprof"}
	s, err := tryStart(t, map[string]string{"ROLEGATE_ADMIN_TOKEN": ""}, args...)
	if err != nil {
		t.Fatalf("start with -admin-token-file: %v", err)
	}
	if st, _, _ := s.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("the token of the file (trailing newline trimmed) is refused: %d", st)
	}
	req := []byte(fmt.Sprint(os.Args, args))
	if bytes.Contains(req, []byte(token)) {
		t.Fatal("the token is on the command line")
	}
	if strings.Contains(s.terminal(), token) || strings.Contains(s.output(), token) {
		t.Fatal("the configured token was printed")
	}
	// pprof's cmdline is the process's arguments: the file's name at most.
	req2, _ := http.NewRequest("GET", s.base+"/debug/pprof/cmdline", nil)
	req2.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || bytes.Contains(body, []byte(token)) {
		t.Fatalf("/debug/pprof/cmdline: %d %q", res.StatusCode, body)
	}

	// The variable works as the flag does; naming both a token and a file is refused.
	if s2, err := tryStart(t, map[string]string{"ROLEGATE_ADMIN_TOKEN": "", "ROLEGATE_ADMIN_TOKEN_FILE": file}); err != nil {
		t.Fatalf("start with ROLEGATE_ADMIN_TOKEN_FILE: %v", err)
	} else if st, _, _ := s2.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("ROLEGATE_ADMIN_TOKEN_FILE's token refused: %d", st)
	}
	if _, err := tryStart(t, map[string]string{"ROLEGATE_ADMIN_TOKEN": testToken, "ROLEGATE_ADMIN_TOKEN_FILE": file}); err == nil ||
		!strings.Contains(err.Error(), "not both") {
		t.Fatalf("a token and a token file together: %v", err)
	}
	if _, err := tryStart(t, map[string]string{"ROLEGATE_ADMIN_TOKEN_FILE": filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing token file was accepted")
	}
}

package systemtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// serveOnce runs rolegate serve (launch) until it listens, then stops it; it
// returns what it printed to stdout and stderr, and its error (one that
// refused to start returns it without listening).
func serveOnce(t *testing.T, env map[string]string) (string, string, error) {
	t.Helper()
	s, err := launch(t, serverVars(env))
	if err == nil {
		err = s.stop()
	}
	return s.output(), s.terminal(), err
}

// The key encryption key through a database's life: none (a loud warning,
// keys in plain), then given (the plain keys are encrypted in place, tokens
// signed before still verify), then missing or wrong (refuses to start with
// a clear error), from a file, and malformed (refused, not echoed).
func TestKeyEncryptionKeyLifecycle(t *testing.T) {
	db := sqliteURL(t)

	out, errOut, err := serveOnce(t, map[string]string{"ROLEGATE_DATABASE_URL": db})
	if err != nil {
		t.Fatal(err)
	}
	// Once: the log and stderr share a terminal in development.
	if n := strings.Count(out+errOut, "no key encryption key"); !strings.Contains(out, `"level":"WARN","msg":"no key encryption key`) || n != 1 {
		t.Fatalf("want the warning once (got %d) without a key encryption key:\n%s\n%s", n, out, errOut)
	}
	if v := settingValue(t, db, "jwt_signing_key"); !strings.Contains(v, "PRIVATE KEY") {
		t.Fatalf("without a key encryption key the key is not stored as before: %.60q", v)
	}

	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "c", "scopes": []string{"check"}})
	_, before := s.clientToken("/v1/auth/token", cl.ClientID, cl.Secret)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// The key encryption key is given: the plain key is encrypted in place.
	withKEK := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY": testKEK}
	s = startServer(t, withKEK)
	if !strings.Contains(s.output(), "now stored encrypted") || strings.Contains(s.output(), "no key encryption key") {
		t.Fatalf("start with a key encryption key over plain keys:\n%s", s.output())
	}
	if v := settingValue(t, db, "jwt_signing_key"); strings.Contains(v, "PRIVATE KEY") || !strings.Contains(v, "rgenc1:") {
		t.Fatalf("the key is still stored in plain: %.60q", v)
	}
	if st, _, out := s.callToken(before, "GET", "/v1/entities/x/roles", nil); st != 403 { // authenticated; check scope only
		t.Fatalf("a token signed before the key was encrypted: %d %v", st, out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// No key encryption key, or another one: refused, with a clear error.
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"none":    {map[string]string{"ROLEGATE_DATABASE_URL": db}, "encrypted and no key encryption key was given (key id "},
		"another": {map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="}, "encrypted with another key encryption key"},
	} {
		out, _, err := serveOnce(t, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "ROLEGATE_KEY_ENCRYPTION_KEY") ||
			strings.Contains(out, `"msg":"listening"`) {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}

	// From a file.
	file := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(file, []byte(testKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := serveOnce(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY_FILE": file}); err != nil {
		t.Fatalf("key encryption key from a file: %v", err)
	}

	// A new key encryption key: the keys are encrypted anew with it, given
	// the previous one; then the new one alone starts, the old one does not.
	newKEK := "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI="
	s = startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY": newKEK,
		"ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS_FILE": file})
	if st, _, out := s.callToken(before, "GET", "/v1/entities/x/roles", nil); st != 403 {
		t.Fatalf("a token signed before the key encryption key changed: %d %v", st, out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := serveOnce(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_KEY_ENCRYPTION_KEY": newKEK}); err != nil {
		t.Fatalf("the new key encryption key alone: %v", err)
	}
	if _, _, err := serveOnce(t, withKEK); err == nil || !strings.Contains(err.Error(), "ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS") {
		t.Fatalf("the replaced key encryption key: %v", err)
	}

	// Malformed: refused before anything is opened, and never echoed.
	for name, env := range map[string]map[string]string{
		"short":          {"ROLEGATE_KEY_ENCRYPTION_KEY": "c2VjcmV0LWJ1dC1zaG9ydA=="},
		"not base64":     {"ROLEGATE_KEY_ENCRYPTION_KEY": "not*base64*secret"},
		"both":           {"ROLEGATE_KEY_ENCRYPTION_KEY": testKEK, "ROLEGATE_KEY_ENCRYPTION_KEY_FILE": file},
		"no file":        {"ROLEGATE_KEY_ENCRYPTION_KEY_FILE": filepath.Join(t.TempDir(), "missing")},
		"previous alone": {"ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS": testKEK},
		"previous short": {"ROLEGATE_KEY_ENCRYPTION_KEY": testKEK, "ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS": "c2hvcnQ="},
	} {
		env["ROLEGATE_DATABASE_URL"] = db
		_, _, err := serveOnce(t, env)
		if err == nil || !strings.Contains(err.Error(), "key-encryption-key") && !strings.Contains(err.Error(), "key encryption key") {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if k := env["ROLEGATE_KEY_ENCRYPTION_KEY"]; k != "" && strings.Contains(err.Error(), k) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
}

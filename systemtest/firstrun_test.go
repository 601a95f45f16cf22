package systemtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The start-up log names which admin token is in effect and where it came
// from, never the token: a configured one and one generated on an earlier
// start replace each other otherwise without a word.
func TestAdminTokenSourceLogged(t *testing.T) {
	db := sqliteURL(t)
	file := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(file, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, source string
		env          map[string]string
	}{
		{"generated", `"source":"generated"`, map[string]string{"ROLEGATE_ADMIN_TOKEN": ""}},
		{"stored", `"source":"generated on an earlier start"`, map[string]string{"ROLEGATE_ADMIN_TOKEN": ""}},
		{"variable", `"source":"ROLEGATE_ADMIN_TOKEN"`, nil},
		{"file", `"source":"file ` + file + `"`, map[string]string{"ROLEGATE_ADMIN_TOKEN": "", "ROLEGATE_ADMIN_TOKEN_FILE": file}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"ROLEGATE_DATABASE_URL": db}
			for k, v := range tc.env {
				env[k] = v
			}
			out, errOut, err := serveOnce(t, env)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, `"msg":"admin token in effect"`) != 1 || !strings.Contains(out, tc.source) {
				t.Fatalf("want one admin token line with %s:\n%s", tc.source, out)
			}
			if strings.Contains(out, testToken) || strings.Contains(errOut, testToken) {
				t.Fatalf("the configured token was printed:\n%s\n%s", out, errOut)
			}
			if gen := strings.Contains(errOut, "Generated admin token"); gen != (tc.name == "generated") {
				t.Fatalf("generated token shown: %v, want %v:\n%s", gen, tc.name == "generated", errOut)
			}
		})
	}
}

// The README's walkthrough, run as written (curl, bash) twice against one
// server: the second run finds the role the first made instead of capturing
// an error body into ROLE, and the checks answer the same.
func TestReadmeWalkthroughTwice(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "## Walkthrough\n\n```sh\n")
	block, _, ok2 := strings.Cut(block, "\n```")
	_, script, ok3 := strings.Cut(block, "\nH=")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no walkthrough block with an H= line")
	}
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	_, rest, _ := strings.Cut(script, "\n") // the walkthrough's own token line
	script = "H='Authorization: Bearer " + testToken + "'\n" + strings.ReplaceAll(rest, "localhost:8080", strings.TrimPrefix(s.base, "http://"))
	var roles []string
	for i := range 2 {
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		_, role, _ := strings.Cut(string(out), "role approver: ")
		role, _, _ = strings.Cut(role, "\n")
		if role == "" || strings.ContainsAny(role, "{} ") {
			t.Fatalf("run %d: ROLE is %q:\n%s", i+1, role, out)
		}
		roles = append(roles, role)
		if !strings.Contains(string(out), `"allowed":true,"permission":"allowed_for_own"`) || !strings.Contains(string(out), `"allowed":false,"permission":"denied"`) {
			t.Fatalf("run %d: the checks did not answer as the walkthrough says:\n%s", i+1, out)
		}
	}
	if roles[0] != roles[1] {
		t.Fatalf("the second run made or found another role: %v", roles)
	}
}

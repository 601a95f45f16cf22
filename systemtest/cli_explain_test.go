package systemtest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/client"

	"github.com/rolegate/rolegate/internal/app"
)

// runMain runs the program in this process, as main would.
func runMain(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = app.Run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
	return out.String(), errb.String(), err
}

// TestCLIExplains: the CLI says what is wrong in words a person acts on: a
// check on an entity or a user that does not exist says so, a YAML mistake
// says where it is, and a dry run of roles apply shows whose rights change.
func TestCLIExplains(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	env := map[string]string{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": testToken}
	cli := func(args ...string) string {
		t.Helper()
		out, stderr, err := runMain(t, env, args...)
		if err != nil {
			t.Fatalf("rolegate %v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	cli("entities", "create", "acme")
	dir := t.TempDir()
	file := filepath.Join(dir, "roles.yaml")
	os.WriteFile(file, []byte(rolesYAML), 0o600)
	cli("roles", "apply", "-f", file)
	cli("users", "create", "u-17", "-e", "acme", "--role", "approver")

	t.Run("check on what does not exist", func(t *testing.T) {
		if out := cli("check", "-e", "nope", "u-17", "payable", "read"); out != "denied: entity \"nope\" does not exist (every check on it is denied)\n" {
			t.Errorf("unknown entity: %q", out)
		}
		if out := cli("check", "-e", "acme", "ghost", "payable", "read"); out != "denied: user \"ghost\" does not exist in entity \"acme\" (every check of theirs is denied)\n" {
			t.Errorf("unknown user: %q", out)
		}
		if out := cli("check", "-e", "acme", "u-17", "payable", "delete"); !strings.HasPrefix(out, "denied (denied) at revision") {
			t.Errorf("a real denial: %q", out)
		}
		var d client.Decision
		if out := cli("check", "-e", "nope", "u-17", "payable", "read", "-o", "json"); json.Unmarshal([]byte(out), &d) != nil || d.Allowed {
			t.Errorf("-o json stays the API's answer: %q", out)
		}
	})

	t.Run("YAML mistakes have a line", func(t *testing.T) {
		for _, c := range []struct{ yaml, want string }{
			{"entity: acme\nroles:\n  - name: x\n    permisions: {}\n", `line 4, column 5: unknown field "permisions"`},
			{"entity: acme\nroles:\n  - name: x\n    default: maybe\n", "line 4, column 14: "},
			{"entity: acme\nroles:\n  - name: x\n   description: y\n", "line 4, column 4: "},
			{`{"entity": "acme", "roles": [{"name": "x", "defualt": true}]}`, `line 1, column 44: unknown field "defualt"`},
		} {
			bad := filepath.Join(dir, "bad.yaml")
			os.WriteFile(bad, []byte(c.yaml), 0o600)
			_, stderr, err := runMain(t, env, "roles", "apply", "-f", bad)
			msg := stderr
			if err != nil {
				msg += err.Error()
			}
			if err == nil || !strings.Contains(msg, bad+": YAML "+c.want) || strings.Contains(msg, "JSON") {
				t.Errorf("%q: %v, want %q in %q", c.yaml, err, c.want, msg)
			}
		}
	})

	t.Run("dry run shows the rights diff", func(t *testing.T) {
		// approver: read stays, approve goes, export comes; viewer goes (prune).
		changed := strings.Replace(rolesYAML, "{action_name: approve, permission: allowed_for_own}", "{action_name: export, permission: allowed}", 1)
		changed = changed[:strings.Index(changed, "  - name: viewer")]
		os.WriteFile(file, []byte(changed), 0o600)
		rev := s.must(200, "GET", "/v1/entities/acme", nil)["revision"]
		out := cli("roles", "apply", "-f", file, "--dry-run", "--prune")
		for _, want := range []string{
			"role approver would be updated\n  + u-17 payable export allowed\n  - u-17 payable approve allowed_for_own\n",
			"role viewer would be deleted\n  nobody's rights change\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run lacks %q:\n%s", want, out)
			}
		}
		var res struct {
			Rights map[string]client.DryRun `json:"rights"`
		}
		if err := json.Unmarshal([]byte(cli("roles", "apply", "-f", file, "--dry-run", "-o", "json")), &res); err != nil ||
			len(res.Rights["approver"].Gained) != 1 || len(res.Rights["approver"].Lost) != 1 || res.Rights["approver"].Lost[0].Action != "approve" {
			t.Errorf("dry run -o json: %v %+v", err, res)
		}
		if after := s.must(200, "GET", "/v1/entities/acme", nil)["revision"]; after != rev {
			t.Errorf("the dry run wrote: revision %v -> %v", rev, after)
		}
	})
}

package systemtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/client"

	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/internal/testkit"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

// rolegateCLI runs the built binary with env (and none of this process's
// ROLEGATE_ variables).
func rolegateCLI(t *testing.T, bin string, env map[string]string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROLEGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliResult{code, out.String(), errb.String()}
}

const rolesYAML = `# what an admin keeps in git
entity: acme
roles:
  - name: approver
    description: approves payables
    permissions:
      objects:
        - object_type: payable
          actions:
            - {action_name: read, permission: allowed}
            - {action_name: approve, permission: allowed_for_own}
            - {action_name: delete, permission: denied}
  - name: viewer
    permissions:
      objects:
        - object_type: payable
          actions:
            - {action_name: read, permission: allowed}
            - {action_name: export, permission: not_allowed}
`

func TestCLI(t *testing.T) {
	bin := testkit.Binary(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	env := map[string]string{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": testToken}
	ok := func(args ...string) string {
		t.Helper()
		r := rolegateCLI(t, bin, env, args...)
		if r.code != 0 {
			t.Fatalf("rolegate %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, testToken) {
			t.Fatalf("rolegate %v printed the token", args)
		}
		return r.stdout
	}

	ok("entities", "create", "acme", "--name", "Acme Inc")
	ok("entities", "create", "globex")

	t.Run("golden table", func(t *testing.T) {
		got := ok("entities", "list")
		want, err := os.ReadFile("testdata/cli_entities_list.golden")
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Fatalf("entities list:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("apply twice", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "roles.yaml")
		os.WriteFile(file, []byte(rolesYAML), 0o600)
		out := ok("roles", "apply", "-f", file)
		if !strings.Contains(out, "role approver created") || !strings.Contains(out, "role viewer created") || !strings.Contains(out, "2 created, 0 updated") {
			t.Fatalf("first apply:\n%s", out)
		}
		before := s.must(200, "GET", "/v1/entities/acme", nil)["revision"]
		audit := len(s.must(200, "GET", "/v1/entities/acme/audit-events", nil)["data"].([]any))
		out = ok("roles", "apply", "-f", file)
		if out != "no changes: 2 roles already as the file says\n" {
			t.Fatalf("second apply:\n%s", out)
		}
		if after := s.must(200, "GET", "/v1/entities/acme", nil)["revision"]; after != before {
			t.Fatalf("the second apply moved the revision %v -> %v", before, after)
		}
		if n := len(s.must(200, "GET", "/v1/entities/acme/audit-events", nil)["data"].([]any)); n != audit {
			t.Fatalf("the second apply wrote %d audit events", n-audit)
		}
		// the same roles as JSON: no change either
		var parsed any
		exported := ok("roles", "export", "-e", "acme", "-o", "json")
		if err := json.Unmarshal([]byte(exported), &parsed); err != nil {
			t.Fatalf("export -o json: %v\n%s", err, exported)
		}
		jfile := filepath.Join(dir, "roles.json")
		os.WriteFile(jfile, []byte(exported), 0o600)
		if out := ok("roles", "apply", "-f", jfile); !strings.HasPrefix(out, "no changes") {
			t.Fatalf("apply of the export:\n%s", out)
		}
		// a change: one update, one unchanged; dry run first
		changed := strings.Replace(rolesYAML, "approves payables", "approves and reads payables", 1)
		os.WriteFile(file, []byte(changed), 0o600)
		if out := ok("roles", "apply", "-f", file, "--dry-run"); !strings.Contains(out, "role approver would be updated") {
			t.Fatalf("dry run:\n%s", out)
		}
		var res struct {
			Updated, Unchanged, Created []string
		}
		out = ok("roles", "apply", "-f", file, "-o", "json")
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Updated) != 1 || res.Updated[0] != "approver" || len(res.Unchanged) != 1 || len(res.Created) != 0 {
			t.Fatalf("apply -o json: %v %+v\n%s", err, res, out)
		}
		// unknown fields and a file for another entity are refused
		os.WriteFile(file, []byte("roles:\n  - name: x\n    permisions: {}\n"), 0o600)
		if r := rolegateCLI(t, bin, env, "roles", "apply", "-e", "acme", "-f", file); r.code == 0 || !strings.Contains(r.stderr, "permisions") {
			t.Fatalf("a misspelt field: %+v", r)
		}
		os.WriteFile(file, []byte(rolesYAML), 0o600)
		if r := rolegateCLI(t, bin, env, "roles", "apply", "-e", "globex", "-f", file); r.code != 2 || !strings.Contains(r.stderr, `for entity "acme"`) {
			t.Fatalf("a file of another entity: %+v", r)
		}
	})

	t.Run("json output", func(t *testing.T) {
		var p client.Page[client.Role]
		out := ok("roles", "list", "-e", "acme", "-o", "json", "--sort", "name")
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var names []string
		for _, r := range p.Data {
			names = append(names, r.Name)
		}
		if strings.Join(names, ",") != "admin,approver,member,viewer" {
			t.Fatalf("roles: %v", names)
		}
		var ents client.Page[client.Entity]
		if err := json.Unmarshal([]byte(ok("entities", "list", "-o", "json")), &ents); err != nil || len(ents.Data) != 2 {
			t.Fatalf("entities -o json: %+v %v", ents, err)
		}
	})

	t.Run("users, check, clients, audit", func(t *testing.T) {
		ok("users", "create", "u-17", "-e", "acme", "--email", "ada@acme.test", "--role", "approver")
		if out := ok("users", "get", "u-17", "-e", "acme"); !strings.Contains(out, "ada@acme.test") || !strings.Contains(out, "approver") {
			t.Fatalf("users get:\n%s", out)
		}
		ok("users", "assign", "u-17", "viewer", "-e", "acme", "--scope", "team:1")
		if out := ok("users", "list", "-e", "acme"); !strings.Contains(out, "approver,viewer@team:1") {
			t.Fatalf("users list:\n%s", out)
		}
		if out := ok("check", "-e", "acme", "u-17", "payable", "approve", "--owner", "u-17"); !strings.HasPrefix(out, "allowed (allowed_for_own)") {
			t.Fatalf("check:\n%s", out)
		}
		var d client.Decision
		if err := json.Unmarshal([]byte(ok("check", "-e", "acme", "u-17", "payable", "delete", "-o", "json")), &d); err != nil || d.Allowed || d.Permission != "denied" {
			t.Fatalf("check -o json: %+v %v", d, err)
		}
		if out := ok("users", "permissions", "u-17", "-e", "acme"); !strings.Contains(out, "payable  delete   denied") {
			t.Fatalf("permissions:\n%s", out)
		}
		ok("users", "unassign", "u-17", "viewer", "-e", "acme", "--scope", "team:1")
		var cl client.APIClient
		if err := json.Unmarshal([]byte(ok("clients", "create", "--name", "billing", "--entity", "acme", "--scope", "check", "-o", "json")), &cl); err != nil || cl.Secret == "" {
			t.Fatalf("clients create: %+v %v", cl, err)
		}
		if out := ok("clients", "list"); !strings.Contains(out, cl.ClientID) || strings.Contains(out, cl.Secret) {
			t.Fatalf("clients list:\n%s", out)
		}
		ok("clients", "delete", cl.ClientID)
		if out := ok("audit", "-e", "acme", "--object-type", "role"); !strings.Contains(out, "role.update") || !strings.Contains(out, "role.create") {
			t.Fatalf("audit:\n%s", out)
		}
		ok("users", "delete", "u-17", "-e", "acme")
		ok("roles", "delete", "viewer", "-e", "acme")
		ok("entities", "delete", "globex")
	})

	t.Run("bad token", func(t *testing.T) {
		bad := "wrong-token-wrong-token-wrong-token"
		for _, e := range []map[string]string{
			{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": bad},
		} {
			r := rolegateCLI(t, bin, e, "entities", "list")
			if r.code != 1 || !strings.Contains(r.stderr, "401 invalid_token") || !strings.Contains(r.stderr, "--token") || r.stdout != "" {
				t.Fatalf("bad token: %+v", r)
			}
			if strings.Contains(r.stderr, bad) {
				t.Fatal("the bad token was printed")
			}
		}
		r := rolegateCLI(t, bin, map[string]string{"ROLEGATE_SERVER": s.base}, "entities", "list", "--token", bad)
		if r.code != 1 || strings.Contains(r.stdout+r.stderr, bad) {
			t.Fatalf("--token: %+v", r)
		}
		// --help never shows the token taken from the environment
		r = rolegateCLI(t, bin, env, "roles", "list", "--help")
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, testToken) || !strings.Contains(r.stdout, "--token-file") {
			t.Fatalf("--help: %+v", r)
		}
		// no token at all: a usage error
		r = rolegateCLI(t, bin, map[string]string{"ROLEGATE_SERVER": s.base}, "entities", "list")
		if r.code != 2 || !strings.Contains(r.stderr, "no token") {
			t.Fatalf("no token: %+v", r)
		}
		// a token file
		f := filepath.Join(t.TempDir(), "token")
		os.WriteFile(f, []byte(testToken+"\n"), 0o600)
		r = rolegateCLI(t, bin, map[string]string{"ROLEGATE_SERVER": s.base}, "entities", "list", "--token-file", f, "-o", "json")
		if r.code != 0 || !strings.Contains(r.stdout, `"acme"`) {
			t.Fatalf("token file: %+v", r)
		}
		// server down: a clear error, exit 1
		r = rolegateCLI(t, bin, map[string]string{"ROLEGATE_SERVER": "http://127.0.0.1:1", "ROLEGATE_TOKEN": testToken}, "entities", "list")
		if r.code != 1 || !strings.Contains(r.stderr, "connection refused") {
			t.Fatalf("server down: %+v", r)
		}
		// bad usage: exit 2
		for _, args := range [][]string{{"roles", "get"}, {"entities", "list", "--nope"}, {"roles", "list"}, {"entities", "list", "-o", "xml"}} {
			if r := rolegateCLI(t, bin, env, args...); r.code != 2 {
				t.Errorf("%v: %+v", args, r)
			}
		}
	})
}

// TestCLIUsageErrors: what cobra refuses on the command line (arguments,
// flags, required flags, unknown commands) and what the CLI refuses before a
// call is a usage error (exit 2) with cobra's or the CLI's message; a call
// that fails is not.
func TestCLIUsageErrors(t *testing.T) {
	token := map[string]string{"ROLEGATE_TOKEN": testToken, "ROLEGATE_SERVER": "http://127.0.0.1:1"}
	withEntity := map[string]string{"ROLEGATE_TOKEN": testToken, "ROLEGATE_SERVER": "http://127.0.0.1:1", "ROLEGATE_ENTITY": "acme"}
	remote := map[string]string{"ROLEGATE_TOKEN": testToken, "ROLEGATE_SERVER": "http://0.0.0.0:1"}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string // in stderr; "" for an error that is not a usage error
	}{
		{token, []string{"roles", "get"}, `accepts 1 arg(s), received 0`},
		{token, []string{"check", "u", "payable"}, `accepts 3 arg(s), received 2`},
		{token, []string{"entities", "list", "extra"}, `unknown command "extra" for "rolegate entities list"`},
		{token, []string{"frobnicate"}, `unknown command "frobnicate" for "rolegate"`},
		{token, []string{"entities", "list", "--nope"}, `unknown flag: --nope`},
		{token, []string{"entities", "list", "--limit", "many"}, `invalid argument "many" for "--limit" flag`},
		{token, []string{"entities", "list", "-o", "xml"}, `--output must be table or json, not "xml"`},
		{token, []string{"clients", "create"}, `required flag(s) "name" not set`},
		{withEntity, []string{"roles", "apply"}, `required flag(s) "file" not set`},
		{token, []string{"roles", "list"}, `an entity is required`},
		{map[string]string{"ROLEGATE_SERVER": "http://127.0.0.1:1"}, []string{"clients", "create"}, `no token`},
		{token, []string{"entities", "list"}, ""},
		// A token is not sent in the clear to another machine.
		{remote, []string{"entities", "list"}, `refusing to send the token over plain http to 0.0.0.0`},
		{remote, []string{"entities", "list", "--insecure-http"}, ""},
		{map[string]string{"ROLEGATE_TOKEN": testToken, "ROLEGATE_SERVER": "http://[::1]:1"}, []string{"entities", "list"}, ""},
		{map[string]string{"ROLEGATE_TOKEN": testToken, "ROLEGATE_SERVER": "http://localhost:1"}, []string{"entities", "list"}, ""},
	} {
		var stderr bytes.Buffer
		err := app.Run(t.Context(), c.args, func(k string) string { return c.env[k] }, &bytes.Buffer{}, &stderr)
		switch {
		case err == nil:
			t.Errorf("%v: no error", c.args)
		case c.want == "" && errors.Is(err, app.ErrUsage):
			t.Errorf("%v: a usage error: %v %s", c.args, err, stderr.String())
		case c.want != "" && (!errors.Is(err, app.ErrUsage) || !strings.Contains(stderr.String(), "rolegate: "+c.want)):
			t.Errorf("%v: %v, stderr %q; want a usage error saying %q", c.args, err, stderr.String(), c.want)
		}
	}
}

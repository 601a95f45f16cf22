package systemtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/testkit"
)

const conditionalRolesYAML = `entity: acme
roles:
  - name: payer
    permissions:
      objects:
        - object_type: invoice
          actions:
            - {action_name: read, permission: allowed}
            - action_name: pay
              permission: allowed
              condition: |
                resource.amount < 1000.0 && resource.currency == "EUR"
`

// The CLI sends a check's attributes (--attr, --resource), shows each
// condition's value with --explain, sets a user's attributes, and applies
// roles with conditions idempotently.
func TestConditionsCLI(t *testing.T) {
	bin := testkit.Binary(t)
	s, _ := conditionsServer(t)
	env := map[string]string{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": testToken, "ROLEGATE_ENTITY": "acme"}
	run := func(args ...string) cliResult {
		t.Helper()
		return rolegateCLI(t, bin, env, args...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("rolegate %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--attr", "amount=500", "--attr", "currency=EUR"}, "allowed (allowed)"},
		{[]string{"--attr", "amount=1200", "--attr", "currency=EUR"}, "denied (not_allowed)"},
		{[]string{"--resource", `{"amount":999.5,"currency":"EUR"}`}, "allowed (allowed)"},
		{[]string{"--resource", `{"currency":"EUR"}`, "--attr", "amount=10"}, "allowed (allowed)"},
		{[]string{"--attr", `amount="500"`, "--attr", "currency=EUR"}, "denied (not_allowed)"}, // a string, not a number
		{nil, "denied (not_allowed)"},
	} {
		out := ok(append([]string{"check", "u-17", "payable", "approve"}, tc.args...)...)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("check %v: %q, want %q", tc.args, out, tc.want)
		}
	}
	out := ok("check", "u-17", "payable", "approve", "--attr", "amount=1200", "--attr", "currency=EUR", "--explain")
	for _, want := range []string{"CONDITION", "VALUE", condApprove, "false"} {
		if !strings.Contains(out, want) {
			t.Fatalf("explain lacks %q:\n%s", want, out)
		}
	}
	out = ok("check", "u-17", "payable", "approve", "--attr", "amount=1", "--explain")
	if !strings.Contains(out, "error: ") {
		t.Fatalf("explain without currency:\n%s", out)
	}
	var d struct {
		Allowed bool `json:"allowed"`
		Matched []struct {
			Condition      string `json:"condition"`
			ConditionValue *bool  `json:"condition_value"`
		} `json:"matched"`
	}
	out = ok("check", "u-17", "payable", "approve", "--attr", "amount=1", "--attr", "currency=EUR", "--explain", "-o", "json")
	if json.Unmarshal([]byte(out), &d) != nil || !d.Allowed || len(d.Matched) != 1 || d.Matched[0].ConditionValue == nil || !*d.Matched[0].ConditionValue {
		t.Fatalf("-o json:\n%s", out)
	}
	// bad flags: exit 2, nothing asked; attributes the server refuses: exit 1
	for _, args := range [][]string{{"--attr", "amount"}, {"--resource", "[1]"}, {"--attr", "a=1", "--attr", "a=2"}} {
		if r := run(append([]string{"check", "u-17", "payable", "approve"}, args...)...); r.code != 2 {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if r := run("check", "u-17", "payable", "approve", "--resource", `{"owner":{"id":1}}`); r.code != 1 || !strings.Contains(r.stderr, "invalid_attributes") {
		t.Errorf("nested resource: exit %d\n%s", r.code, r.stderr)
	}

	// users: attributes on create and update, shown by get
	ok("users", "update", "u-17", "--attr", "limit=100")
	if out := ok("check", "u-17", "payable", "pay", "--attr", "amount=500"); !strings.HasPrefix(out, "denied") {
		t.Fatalf("pay 500 over the limit 100: %s", out)
	}
	if out := ok("users", "get", "u-17"); !strings.Contains(out, `{"limit":100}`) {
		t.Fatalf("users get:\n%s", out)
	}
	ok("users", "create", "u-18", "--role", "approver", "--attributes", `{"limit":10000}`)
	if out := ok("check", "u-18", "payable", "pay", "--attr", "amount=5000"); !strings.HasPrefix(out, "allowed") {
		t.Fatalf("u-18 pay 5000: %s", out)
	}
	ok("users", "update", "u-18", "--attributes", "{}")
	if out := ok("users", "get", "u-18", "-o", "json"); !strings.Contains(out, `"attributes": {}`) {
		t.Fatalf("cleared attributes:\n%s", out)
	}
	if r := run("users", "update", "u-18"); r.code != 2 {
		t.Fatalf("update without a change: exit %d", r.code)
	}
	if out := ok("roles", "get", "approver"); !strings.Contains(out, "CONDITION") || !strings.Contains(out, condPay) {
		t.Fatalf("roles get:\n%s", out)
	}

	// roles apply: created, then unchanged; a changed condition updates
	dir := t.TempDir()
	file := filepath.Join(dir, "roles.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conditionalRolesYAML)
	if out := ok("roles", "apply", "-f", file); !strings.Contains(out, "role payer created") {
		t.Fatalf("first apply:\n%s", out)
	}
	if out := ok("roles", "apply", "-f", file); !strings.Contains(out, "no changes") {
		t.Fatalf("second apply:\n%s", out)
	}
	write(strings.Replace(conditionalRolesYAML, "1000.0", "2000.0", 1))
	if out := ok("roles", "apply", "-f", file); !strings.Contains(out, "role payer updated") {
		t.Fatalf("changed condition:\n%s", out)
	}
	if out := ok("roles", "apply", "-f", file); !strings.Contains(out, "no changes") {
		t.Fatalf("apply after the change:\n%s", out)
	}
	ok("users", "assign", "u-18", "payer")
	if out := ok("check", "u-18", "invoice", "pay", "--attr", "amount=1500", "--attr", "currency=EUR"); !strings.HasPrefix(out, "allowed") {
		t.Fatalf("the new condition does not hold: %s", out)
	}
	// export carries the condition back
	if out := ok("roles", "export"); !strings.Contains(out, "2000.0") {
		t.Fatalf("export:\n%s", out)
	}
	// a condition that does not compile is refused with CEL's words
	write(strings.Replace(conditionalRolesYAML, "resource.amount < 1000.0", "resource.amount <", 1))
	if r := run("roles", "apply", "-f", file); r.code != 1 || !strings.Contains(r.stderr, "invalid_condition") {
		t.Fatalf("bad condition: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

package systemtest

import (
	"bytes"
	"encoding/csv"
	"sort"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// splitCell reads a multi-valued cell of the CSV access report as
// docs/access.md says: values separated by ";", a "\" making the next
// character part of the value.
func splitCell(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case ';':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

// TestAttackAccessReportCSVCells: role_ids and role_names were joined with
// ";" as they were, so a role named "a;=1+1" read as two roles (one of them a
// formula once split); and a cell whose formula followed spaces escaped the
// guard. Each value's ";" and "\" are now escaped, and a cell whose first
// character after spaces, control and format characters starts a formula is
// prefixed with '.
func TestAttackAccessReportCSVCells(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	right := func(obj string) map[string]any {
		return map[string]any{"objects": []any{map[string]any{"object_type": obj, "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}
	}
	semi := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "a;=1+1", "permissions": right("payable")}).ID
	slash := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": `b\;c`, "permissions": right("payable")}).ID
	spaced := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "   =HYPERLINK(\"http://evil\")", "permissions": right("receipt")}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{semi, slash, spaced}})

	st, _, body := s.report(t, "acme", "text/csv")
	if st != 200 {
		t.Fatalf("csv: %d %s", st, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range recs[1:] {
		for _, c := range r {
			if rest := strings.TrimLeft(c, " \t\r\n"); rest != "" && strings.ContainsRune("=+-@", rune(rest[0])) {
				t.Errorf("cell %q reads as a formula", c)
			}
		}
		if r[0] != "ann" {
			continue
		}
		switch r[2] {
		case "payable":
			seen++
			ids, names := splitCell(r[5]), splitCell(r[6])
			sort.Strings(names)
			if len(ids) != 2 || !contains(ids, semi) || !contains(ids, slash) {
				t.Errorf("role_ids %q reads as %q", r[5], ids)
			}
			if len(names) != 2 || names[0] != "a;=1+1" || names[1] != `b\;c` {
				t.Errorf("role_names %q reads as %q", r[6], names)
			}
		case "receipt":
			seen++
			if r[6] != `'   =HYPERLINK("http://evil")` {
				t.Errorf("role_names %q: not guarded", r[6])
			}
		}
	}
	if seen != 2 {
		t.Fatalf("ann's rows are missing: %v", recs)
	}
}

package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// runMain runs the program in this process, as main would.
func runMain(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = Run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
	return out.String(), errb.String(), err
}

// TestHelpListsCommands: rolegate --help, -h and help list the commands (not
// the server's flags); help COMMAND gives that command's flags; an unknown
// one is a usage error.
func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		out, _, err := runMain(t, nil, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, cmd := range []string{"serve", "migrate", "doctor", "keys", "entities", "roles", "users", "clients", "check", "audit", "version", "help"} {
			if !strings.Contains(out, "\n  "+cmd+" ") {
				t.Errorf("%v does not list %s:\n%s", args, cmd, out)
			}
		}
		if strings.Contains(out, "-database-url") {
			t.Errorf("%v prints the server's flags:\n%s", args, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help", "serve"}, "-database-url"},
		{[]string{"help", "roles"}, "apply"},
		{[]string{"help", "roles", "apply"}, "--dry-run"},
		{[]string{"help", "check"}, "--explain"},
		{[]string{"help", "version"}, "rolegate version"},
	} {
		out, _, err := runMain(t, nil, c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: %v, want %q in:\n%s", c.args, err, c.want, out)
		}
	}
	if _, stderr, err := runMain(t, nil, "help", "frobnicate"); !errors.Is(err, ErrUsage) || !strings.Contains(stderr, `no command "frobnicate"`) {
		t.Errorf("help frobnicate: %v %q", err, stderr)
	}
}

// TestVersion: rolegate version and --version print what the build set
// (-ldflags -X main.version=...), the commit, the date and the Go version.
func TestVersion(t *testing.T) {
	Version, Commit, Date = "v1.2.3", "0123456789ab", "2026-12-05T16:00:00Z"
	t.Cleanup(func() { Version, Commit, Date = "", "", "" })
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		out, _, err := runMain(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "rolegate v1.2.3\n") || !strings.Contains(out, "0123456789ab") ||
			!strings.Contains(out, "2026-12-05T16:00:00Z") || !strings.Contains(out, "go version: go1.") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, _, err := runMain(t, nil, "version", "-o", "json")
	var v buildVersion
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Version != "v1.2.3" || v.Commit != "0123456789ab" || v.GoVersion == "" {
		t.Errorf("version -o json: %v %+v\n%s", err, v, out)
	}
	if _, _, err := runMain(t, nil, "version", "--bogus"); !errors.Is(err, ErrUsage) {
		t.Errorf("version --bogus: %v", err)
	}
	// Unset, the build info's Go version still shows, and the rest says so.
	Version, Commit, Date = "", "", ""
	if v := currentVersion(); v.Version == "" || v.Commit == "" || v.Date == "" || !strings.HasPrefix(v.GoVersion, "go1.") {
		t.Errorf("unset: %+v", v)
	}
}

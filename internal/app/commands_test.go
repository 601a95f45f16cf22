package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestServerFlagsOnTheTree: the server's settings are flags of the command
// tree: --flag, a long flag written -flag read the same, the variable under
// the flag, refused values exit 1, flags cobra cannot read exit 2, and
// --help of a command is its help (exit 0).
func TestServerFlagsOnTheTree(t *testing.T) {
	run := func(env map[string]string, args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := Run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
		return out.String(), errb.String(), err
	}
	for _, args := range [][]string{
		{"serve", "--max-entities", "0"}, {"serve", "-max-entities", "0"}, {"serve", "--max-entities=0"},
		{"-max-entities", "0"}, {"migrate", "-max-entities=0"}, {"keys", "list", "--max-entities", "0"},
	} {
		if _, _, err := run(nil, args...); err == nil || errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "max-entities") {
			t.Errorf("%v: %v, want max-entities refused (exit 1)", args, err)
		}
	}
	if _, _, err := run(map[string]string{"ROLEGATE_MAX_ENTITIES": "0"}, "migrate"); err == nil || !strings.Contains(err.Error(), "max-entities") {
		t.Errorf("ROLEGATE_MAX_ENTITIES=0: %v", err)
	}
	for _, args := range [][]string{{"serve", "--nope"}, {"serve", "extra"}, {"migrate", "--fix"}, {"keys"}, {"keys", "turn"}, {"frobnicate"}} {
		if _, _, err := run(nil, args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{"serve", "--help"}, {"doctor", "-h"}, {"help", "keys", "rotate"}} {
		out, _, err := run(nil, args...)
		if err != nil || !strings.Contains(out, "--database-url") || !strings.Contains(out, "ROLEGATE_DATABASE_URL") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if out, _, err := run(nil, "help", "doctor"); err != nil || !strings.Contains(out, "--fix") {
		t.Errorf("help doctor: %v\n%s", err, out)
	}
}

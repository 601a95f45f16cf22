package systemtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/app"
)

// TestAttackCLIPlainHTTPOnlyToLoopback: the CLI sends its token over plain
// http:// only to this machine: a loopback address or the exact name
// "localhost". A name under .localhost is resolved by whatever DNS server
// the machine asks, which may answer with another machine's address: it is
// refused like any remote name (exit 2, the token never leaves).
func TestAttackCLIPlainHTTPOnlyToLoopback(t *testing.T) {
	for _, c := range []struct {
		server  string
		refused bool
	}{
		{"http://evil.localhost:1", true},
		{"http://a.b.localhost:1", true},
		{"http://localhost.evil.example:1", true},
		{"http://localhostx:1", true},
		{"http://localhost:1", false},
		{"http://127.0.0.1:1", false},
		{"http://127.0.0.2:1", false},
		{"http://[::1]:1", false},
	} {
		env := map[string]string{"ROLEGATE_TOKEN": testToken, "ROLEGATE_SERVER": c.server}
		var stderr bytes.Buffer
		err := app.Run(t.Context(), []string{"entities", "list", "--timeout", "2s"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
		refused := errors.Is(err, app.ErrUsage) && strings.Contains(stderr.String(), "refusing to send the token over plain http")
		if refused != c.refused {
			t.Errorf("%s: refused %v, want %v (%v, %q)", c.server, refused, c.refused, err, stderr.String())
		}
	}
}

package adapters

import (
	"strings"
	"testing"
)

// TestRedactURL: the password of a URL never reaches a log or an error
// message; the rest stays readable.
func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/rolegate?sslmode=disable", "postgres://app:xxxxx@db:5432/rolegate?sslmode=disable"},
		{"mysql://root:s3cret@127.0.0.1:3306/test", "mysql://root:xxxxx@127.0.0.1:3306/test"},
		{"redis://:s3cret@r:6379/0", "redis://:xxxxx@r:6379/0"},
		{"rediss://user:s3cret@r:6380/1", "rediss://user:xxxxx@r:6380/1"},
		{"sqlite://rolegate.db", "sqlite://rolegate.db"},
		{"postgres://app@db/rolegate", "postgres://app@db/rolegate"},
		{"", ""},
		{"postgres://app:s3cret@db:port/x", "(unparsable URL)"},
		{"postgres://app:s3cret@db/%zz", "(unparsable URL)"},
	} {
		got := RedactURL(c.in)
		if got != c.want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

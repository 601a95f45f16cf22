package systemtest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/internal/openapi"
)

// TestAttackOpenAPI: /openapi.json is public, so it must be the same static
// document whoever asks and however the server is configured (nothing of
// the deployment leaks into it), must not take writes, and must ignore what
// a caller adds to the request.
func TestAttackOpenAPI(t *testing.T) {
	want, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	plain := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	const kek = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes, base64
	other := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_METRICS_PUBLIC": "true",
		"ROLEGATE_ADMIN_TOKEN": "another-admin-token-0123456789abcdef", "ROLEGATE_KEY_ENCRYPTION_KEY": kek}, "-pprof")
	for _, s := range []*server{plain, other} {
		for _, tc := range []struct {
			name    string
			query   string
			headers map[string]string
		}{
			{"no token", "", nil},
			{"a bad token", "", map[string]string{"Authorization": "Bearer forged"}},
			{"junk query and headers", "?format=yaml&" + strings.Repeat("x=1&", 500), map[string]string{
				"Accept": "application/yaml", "X-Entity-Id": "../../etc", "If-None-Match": "*"}},
		} {
			req, _ := http.NewRequest("GET", s.base+"/openapi.json"+tc.query, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Fatalf("%s: %d, %d bytes, not the document", tc.name, res.StatusCode, len(body))
			}
			for _, secret := range []string{testToken, "another-admin-token", kek} {
				if bytes.Contains(body, []byte(secret)) {
					t.Fatalf("the document holds a secret of the deployment")
				}
			}
		}
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
			st, _, out := s.call(m, "/openapi.json", `{"openapi":"3.0.0"}`)
			if st != 405 || errCode(out) != "method_not_allowed" {
				t.Fatalf("%s /openapi.json: %d %v", m, st, out)
			}
		}
	}
}

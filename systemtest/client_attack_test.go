package systemtest

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// clientCountingTransport counts token requests.
type clientCountingTransport struct{ tokens atomic.Int32 }

func (c *clientCountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/auth/token" {
		c.tokens.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestClientTokenRenewedBeforeExpiry: the client reuses its token and fetches a
// new one before the old one expires.
func TestClientTokenRenewedBeforeExpiry(t *testing.T) {
	s := testkit.Start(t, map[string]string{"ROLEGATE_TOKEN_TTL": "1m"})
	ctx := context.Background()
	adm := clientAdmin(t, s)
	if _, err := adm.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	cl, err := adm.CreateClient(ctx, client.APIClientInput{Name: "svc", EntityID: "acme", Scopes: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	clock := client.WithClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	tr := &clientCountingTransport{}
	c, _ := client.New(s.URL, client.WithClientCredentials(cl.ClientID, cl.Secret), client.WithHTTPClient(&http.Client{Transport: tr}), clock)
	check := func() {
		t.Helper()
		if _, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u", ObjectType: "o", Action: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	check()
	check()
	if n := tr.tokens.Load(); n != 1 {
		t.Fatalf("%d token requests for two checks, want 1", n)
	}
	offset.Store(int64(47 * time.Second)) // 13 s left of 60: still good
	check()
	if n := tr.tokens.Load(); n != 1 {
		t.Fatalf("renewed too early: %d", n)
	}
	offset.Store(int64(49 * time.Second)) // 11 s left, under a fifth: renew
	check()
	if n := tr.tokens.Load(); n != 2 {
		t.Fatalf("not renewed before expiry: %d", n)
	}
}

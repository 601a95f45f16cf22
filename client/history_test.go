package client_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
)

// A check as of the past is never answered from the cache nor kept in it:
// the live answer cached for the same question is not the past one, and a
// past answer must not be served for now.
func TestCacheNeverKeepsAsOf(t *testing.T) {
	past := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
	f := &fakeFeed{rev: 5, allowed: map[string]bool{}, wake: make(chan struct{})}
	pastChecks := 0
	f.decide = func(r client.CheckRequest) bool { // allowed only in the past
		if r.AsOf != nil || r.AtRevision != nil {
			pastChecks++
			return true
		}
		return false
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"))
	cache := client.NewCache(c, client.CacheOptions{Size: 10})
	defer cache.Close()
	ctx := context.Background()
	now := client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "o", Action: "a"}
	asOf, atRev := now, now
	asOf.AsOf = client.At(past)
	atRev.AtRevision = client.AtRevision(3)
	for i := 0; i < 3; i++ {
		for _, tc := range []struct {
			r    client.CheckRequest
			want bool
		}{{now, false}, {asOf, true}, {atRev, true}} {
			d, err := cache.Check(ctx, tc.r)
			if err != nil || d.Allowed != tc.want {
				t.Fatalf("round %d, %+v: %+v %v", i, tc.r, d, err)
			}
		}
	}
	// Each past question reached the server every time.
	f.mu.Lock()
	n := pastChecks
	f.mu.Unlock()
	if n != 6 {
		t.Fatalf("%d past checks reached the server, want 6", n)
	}
	if *asOf.AsOf != "2026-03-31T23:59:59Z" {
		t.Fatalf("At: %s", *asOf.AsOf)
	}
}

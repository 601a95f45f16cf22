package systemtest

import (
	"context"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// BenchmarkClientCheck compares a check asked of the real server (loopback) with
// one answered by the decision cache:
//
//	go test -run '^$' -bench 'ClientCheck$' -benchtime 2000x ./systemtest/
func BenchmarkClientCheck(b *testing.B) {
	s := testkit.Start(b, nil)
	c, _ := client.New(s.URL, client.WithToken(testkit.AdminToken))
	ctx := context.Background()
	if _, err := c.CreateEntity(ctx, "acme", ""); err != nil {
		b.Fatal(err)
	}
	r, err := c.CreateRole(ctx, "acme", clientApprover())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u1", RoleIDs: &[]string{r.ID}}); err != nil {
		b.Fatal(err)
	}
	req := client.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "read"}
	b.Run("server", func(b *testing.B) {
		for b.Loop() {
			if d, err := c.Check(ctx, req); err != nil || !d.Allowed {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		cache := client.NewCache(c, client.CacheOptions{})
		defer cache.Close()
		for end := time.Now().Add(5 * time.Second); cache.Len() == 0; time.Sleep(10 * time.Millisecond) {
			cache.Check(ctx, req)
			if time.Now().After(end) {
				b.Fatal("nothing cached")
			}
		}
		for b.Loop() {
			if d, err := cache.Check(ctx, req); err != nil || !d.Allowed {
				b.Fatal(d, err)
			}
		}
	})
}

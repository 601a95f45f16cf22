package client_test

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
)

// The same question about objects with other attributes is another question:
// the cache keeps one answer per resource and never serves one resource's
// answer for another's.
func TestCacheKeysByResource(t *testing.T) {
	f := &fakeFeed{rev: 1, allowed: map[string]bool{}, wake: make(chan struct{})}
	f.decide = func(r client.CheckRequest) bool {
		amount, _ := r.Resource["amount"].(float64)
		return r.Resource["currency"] == "EUR" && amount < 1000
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"))
	cache := client.NewCache(c, client.CacheOptions{})
	defer cache.Close()
	ctx := context.Background()
	q := func(res map[string]any) bool {
		t.Helper()
		d, err := cache.Check(ctx, client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "payable", Action: "approve", Resource: res})
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	small := map[string]any{"amount": 500, "currency": "EUR"}
	large := map[string]any{"currency": "EUR", "amount": 5000}
	if !q(small) || q(large) || q(nil) {
		t.Fatal("first answers")
	}
	// Once the feed answers, each resource's answer is served locally, and
	// each stays its own.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := f.count()
		a, b, none := q(small), q(large), q(nil)
		if !a || b || none {
			t.Fatalf("answers mixed up: small %v, large %v, none %v", a, b, none)
		}
		if f.count() == n {
			break
		}
		if time.Now().After(end) {
			t.Fatal("repeated checks still go to the server")
		}
	}
	n := f.count()
	// Equal resources share a key whatever their Go types and map order;
	// nil and empty are both no resource.
	if !q(map[string]any{"currency": "EUR", "amount": 500.0}) || q(map[string]any{}) || f.count() != n {
		t.Fatalf("equal resources asked again: %d calls", f.count()-n)
	}
	// One attribute more, or another value, is asked of the server.
	if !q(map[string]any{"amount": 500, "currency": "EUR", "x": true}) || f.count() != n+1 {
		t.Fatalf("another resource: %d calls", f.count()-n)
	}
	if q(map[string]any{"amount": 500, "currency": "USD"}) || f.count() != n+2 {
		t.Fatalf("another value: %d calls", f.count()-n)
	}
	if cache.Len() != 5 {
		t.Fatalf("%d decisions kept, want 5", cache.Len())
	}
	// A resource past MaxResourceKey is never cached: every check asks.
	big := map[string]any{"amount": 1, "currency": "EUR", "note": strings.Repeat("x", client.MaxResourceKey)}
	n = f.count()
	for range 3 {
		if !q(big) {
			t.Fatal("big resource denied")
		}
	}
	if f.count() != n+3 || cache.Len() != 5 {
		t.Fatalf("big resource: %d calls, %d kept", f.count()-n, cache.Len())
	}
	// A resource that cannot be encoded is an error, never an answer.
	if d, err := cache.Check(ctx, client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "payable", Action: "approve",
		Resource: map[string]any{"amount": math.NaN()}}); err == nil || d.Allowed {
		t.Fatalf("NaN resource: %+v %v", d, err)
	}
	// A change of the user (their attributes) drops every resource's answer.
	f.change(client.Change{Type: "user", Op: "put", UserID: "u"}, nil)
	for end := time.Now().Add(5 * time.Second); cache.Len() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d decisions kept after the user changed", cache.Len())
		}
	}
}

// BenchmarkCacheHit: a check answered from memory, without a resource and
// with one of three attributes (its canonical encoding is part of the key).
func BenchmarkCacheHit(b *testing.B) {
	f := &fakeFeed{rev: 1, allowed: map[string]bool{"u": true}, wake: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"))
	cache := client.NewCache(c, client.CacheOptions{})
	defer cache.Close()
	ctx := context.Background()
	for name, res := range map[string]map[string]any{"none": nil, "resource": {"amount": 1200, "currency": "EUR", "tags": []any{"a", "b"}}} {
		b.Run(name, func(b *testing.B) {
			r := client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "payable", Action: "approve", Resource: res}
			for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				n := f.count()
				cache.Check(ctx, r)
				if f.count() == n {
					break
				}
				if time.Now().After(end) {
					b.Fatal("not served from memory")
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cache.Check(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			if f.count() > 100 {
				b.Fatalf("%d checks reached the server", f.count())
			}
		})
	}
}

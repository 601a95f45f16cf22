package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
)

// TestRedirectKeepsToken: a server (or something posing as it) that
// redirects to another host never receives the token there: the client
// follows no redirect, and says so.
func TestRedirectKeepsToken(t *testing.T) {
	var leaked atomic.Value
	leaked.Store("")
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization") + r.Header.Get("Cookie"))
		w.Write([]byte(`{"allowed":true,"permission":"allowed","revision":1}`))
	}))
	defer thief.Close()
	for _, status := range []int{301, 302, 307, 308} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, thief.URL+r.URL.Path, status)
		}))
		// same host, other port: Go's own client would forward the header
		for _, opts := range [][]client.Option{
			{client.WithToken("secret-token-secret-token-secret-1")},
			{client.WithToken("secret-token-secret-token-secret-1"), client.WithHTTPClient(&http.Client{})},
		} {
			c, err := client.New(redirector.URL, opts...)
			if err != nil {
				t.Fatal(err)
			}
			d, err := c.Check(context.Background(), client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "o", Action: "a"})
			if err == nil || d.Allowed {
				t.Fatalf("%d: a redirect was followed to an allow: %+v", status, d)
			}
			if !client.IsStatus(err, status) || !strings.Contains(err.Error(), "redirect") {
				t.Fatalf("%d: error %v", status, err)
			}
		}
		// client credentials: the secret must not travel either
		c, _ := client.New(redirector.URL, client.WithClientCredentials("id", "the-client-secret"))
		if _, err := c.ListEntities(context.Background(), client.ListOptions{}); err == nil {
			t.Fatalf("%d: a redirected token request succeeded", status)
		}
		redirector.Close()
		if l := leaked.Load().(string); l != "" {
			t.Fatalf("%d: the other host received %q", status, l)
		}
	}
}

// TestRetriesStopAtDeadline: a server that always answers 503 with a long
// Retry-After is not waited for past the caller's deadline.
func TestRetriesStopAtDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(503)
		w.Write([]byte(`{"error":{"code":"storage_unavailable","message":"down"}}`))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"), client.WithRetries(100, time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.GetEntity(ctx, "acme")
	if !client.IsCode(err, "storage_unavailable") {
		t.Fatalf("error %v", err)
	}
	// Retry-After 2 s, deadline 3 s: the first retry fits, the second
	// does not, so the call returns before the deadline with the answer.
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	if ctx.Err() != nil {
		t.Fatalf("returned after the deadline (%v)", time.Since(start))
	}
	// A canceled context stops at once.
	calls.Store(0)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c.GetEntity(ctx2, "acme"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	// A bounded number of retries without a deadline.
	calls.Store(0)
	srv429 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(429)
		w.Write([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
	}))
	defer srv429.Close()
	c3, _ := client.New(srv429.URL, client.WithToken("t"), client.WithRetries(2, time.Millisecond))
	if _, err := c3.GetEntity(context.Background(), "acme"); !client.IsStatus(err, 429) || calls.Load() != 3 {
		t.Fatalf("retries: %d calls, %v", calls.Load(), err)
	}
}

// TestWriteNotRetriedWhenMaybeApplied: a create answered 503 by the storage
// may have been applied: it is not sent again. One answered rate_limited or
// server_busy was not applied, and is.
func TestWriteNotRetriedWhenMaybeApplied(t *testing.T) {
	var mu sync.Mutex
	var posts int
	code := "storage_unavailable"
	count := func() int { mu.Lock(); defer mu.Unlock(); return posts }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		posts++
		if posts == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
			w.Write([]byte(`{"error":{"code":"` + code + `","message":"x"}}`))
			return
		}
		w.WriteHeader(201)
		w.Write([]byte(`{"id":"acme","name":"","revision":1}`))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, client.WithToken("t"), client.WithRetries(3, time.Millisecond))
	if _, err := c.CreateEntity(context.Background(), "acme", ""); !client.IsCode(err, "storage_unavailable") || count() != 1 {
		t.Fatalf("ambiguous 503: %d posts, %v", count(), err)
	}
	for _, next := range []string{"server_busy", "rate_limited"} {
		mu.Lock()
		posts, code = 0, next
		mu.Unlock()
		if _, err := c.CreateEntity(context.Background(), "acme", ""); err != nil || count() != 2 {
			t.Fatalf("%s: %d posts, %v", next, count(), err)
		}
	}
}

// TestMalformedCheckAnswer: a check whose answer is not Rolegate's is an
// error, never a decision.
func TestMalformedCheckAnswer(t *testing.T) {
	for _, body := range []string{``, `not json`, `{}`, `{"allowed":true}`, `{"allowed":"yes","permission":"allowed","revision":1}`,
		`{"allowed":true,"permission":"denied","revision":1}`, `{"allowed":true,"permission":"maybe","revision":1}`, `[]`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		c, _ := client.New(srv.URL, client.WithToken("t"))
		d, err := c.Check(context.Background(), client.CheckRequest{EntityID: "e", UserID: "u", ObjectType: "o", Action: "a"})
		if err == nil || d.Allowed {
			t.Errorf("%q: %+v %v", body, d, err)
		}
		ds, err := c.CheckBatch(context.Background(), []client.CheckRequest{{EntityID: "e"}})
		if err == nil || ds != nil {
			t.Errorf("batch %q: %+v %v", body, ds, err)
		}
		srv.Close()
	}
}

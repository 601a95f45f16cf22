package systemtest

// Attacks on the token endpoints (POST /v1/auth/token, Dintero's
// POST /v1/accounts/{oid}/auth/token), which anyone may call:
//
//   - hole 2, unauthenticated memory exhaustion: a rate limiter was kept per
//     raw client_id before any check, client_ids of ~1 MiB included, and the
//     whole store was reset at 10,000 ids, so that a flood of fresh ids also
//     refilled every other caller's limiter;
//   - hole 3, bcrypt as a CPU weapon: every unknown client id cost a full
//     bcrypt, each fresh id got a fresh burst, and the bound on concurrent
//     comparisons was the machine's CPU count.
//
// The attacker's requests come from addresses of their own (127.0.0.x other
// than 127.0.0.1, which the loopback interface accepts), so that the tests
// also show what one address's junk does to another's.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/api"
)

// fromAddr is an HTTP client whose connections come from ip.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return withContract(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}})
}

// tokenTry posts client credentials in a form body, as an attacker would.
func (s *server) tokenTry(hc *http.Client, path, id, secret string) (int, http.Header, map[string]any) {
	s.t.Helper()
	st, h, out, err := s.tokenPost(hc, path, id, secret)
	if err != nil {
		s.t.Fatal(err)
	}
	return st, h, out
}

func (s *server) tokenPost(hc *http.Client, path, id, secret string) (int, http.Header, map[string]any, error) {
	form := "grant_type=client_credentials&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret)
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out, nil
}

// flood sends n token requests from hc over 32 connections, the i-th with
// the credentials cred(i), and counts the answers by status.
func (s *server) flood(hc *http.Client, n int, cred func(i int) (id, secret string)) map[int]int {
	s.t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id, secret := cred(i)
				st, h, out, err := s.tokenPost(hc, "/v1/auth/token", id, secret)
				for try := 0; err != nil && try < 2; try++ {
					// A keep-alive connection closed as it was reused.
					st, h, out, err = s.tokenPost(hc, "/v1/auth/token", id, secret)
				}
				if err != nil {
					s.t.Errorf("request %d: %v", i, err)
				}
				if st == 429 && (h.Get("Retry-After") == "" || out["error"] == nil) {
					s.t.Errorf("429 without Retry-After or an error body: %v %v", h, out)
				}
				mu.Lock()
				got[st]++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return got
}

// scrape returns the value of one series of the server's /metrics.
func (s *server) scrape(series string) float64 {
	s.t.Helper()
	st, text := s.get(testToken, "/metrics")
	if st != 200 {
		s.t.Fatalf("GET /metrics: %d %s", st, text)
	}
	return metric(s.t, text, series)
}

// malformedID is the i-th of ids no client can have: too long, too short,
// upper case, with a space, not hex.
func malformedID(i int) string {
	u := uuid.NewString()
	switch i % 5 {
	case 0:
		return u + strconv.Itoa(i)
	case 1:
		return u[:35]
	case 2:
		return strings.ToUpper(u)
	case 3:
		return u[:35] + " "
	}
	return "client-" + strconv.Itoa(i)
}

// Hole 2: client_ids of a megabyte and floods of distinct ones keep no state
// per id: ids that cannot exist are refused before anything is kept, and the
// only store the endpoint keeps (failure budgets by remote address) holds one
// entry for the one address the attack came from.
func TestAttackTokenHugeAndDistinctIDsKeepNoState(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_TOKEN_FAILURES_PER_ADDRESS": "0.001"})
	attacker := fromAddr("127.0.0.2")

	// 40 client_ids of almost 1 MiB (the body limit), each one distinct.
	huge := strings.Repeat("A", 1<<20-200)
	heap := func() uint64 { // live heap of this process, the server's included
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	hugeMalformed := 0 // the huge ids refused as malformed rather than as too large
	for i := 0; i < 40; i++ {
		st, h, out := s.tokenTry(attacker, "/v1/auth/token", strconv.Itoa(i)+huge, "secret")
		if st == 401 {
			hugeMalformed++
		}
		// Refused before any state: 413 (token endpoints' bodies are 16 KiB
		// at most), or 401 for an id that cannot exist.
		if !((st == 413 && out["error"] == "invalid_request") || (st == 401 && out["error"] == "invalid_client" && h.Get("WWW-Authenticate") != "")) {
			t.Fatalf("1 MiB client_id: %d %v", st, out)
		}
	}
	// 3,000 distinct malformed ids and 3,000 distinct well-formed unknown ones.
	got := s.flood(attacker, 6000, func(i int) (string, string) {
		if i%2 == 0 {
			return malformedID(i), "secret"
		}
		return uuid.NewString(), "secret"
	})
	if got[401]+got[429] != 6000 || got[429] < 2990 {
		t.Fatalf("answers by status: %v", got)
	}
	if grown := int64(heap()) - int64(before); grown > 16<<20 {
		t.Fatalf("the live heap grew by %d MiB after 40 client_ids of 1 MiB and 6,000 distinct ones", grown>>20)
	}
	if n := s.scrape("rolegate_token_guard_addresses"); n != 1 {
		t.Fatalf("%v address buckets held after a flood of 6,040 client ids from one address, want 1", n)
	}
	if n := s.scrape(`rolegate_token_refusals_total{reason="malformed"}`); n != float64(3000+hugeMalformed) {
		t.Fatalf("%v requests refused as malformed, want %d", n, 3000+hugeMalformed)
	}
	// One address with a budget of 0.001 failures per second: the first
	// unknown id costs a bcrypt, the others are 429.
	if n := s.scrape("rolegate_client_secret_checks_total"); n > 2 {
		t.Fatalf("%v bcrypt comparisons for unknown ids from one address, want at most 2", n)
	}
}

// Hole 2: one caller cannot reset another's limiter. An attacker spends the
// failure budget of its address guessing a real client's secret; a flood of
// 12,000 fresh client ids from another address (the old store reset itself
// at 10,000) does not give it back, and the real client, from its own
// address, still gets its token.
func TestAttackTokenFloodDoesNotResetLimiters(t *testing.T) {
	// The global budget out of the way: what holds the guesser back is its
	// address's budget.
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_TOKEN_FAILURES_PER_ADDRESS": "0.001", "ROLEGATE_TOKEN_FAILURE_CPU": "1000"})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "victim", "scopes": []string{"check"}})
	id, secret := cl.ClientID, cl.Secret
	guesser, flooder := fromAddr("127.0.0.2"), fromAddr("127.0.0.3")

	drained := false
	for i := 0; i < 30 && !drained; i++ {
		st, _, out := s.tokenTry(guesser, "/v1/auth/token", id, "rgs_guess"+strconv.Itoa(i))
		switch st {
		case 401:
		case 429:
			drained = true
		default:
			t.Fatalf("guess %d: %d %v", i, st, out)
		}
	}
	if !drained {
		t.Fatal("30 wrong secrets for one client were never limited")
	}

	got := s.flood(flooder, 12000, func(i int) (string, string) {
		if i%2 == 0 {
			return malformedID(i), "secret"
		}
		return uuid.NewString(), "secret"
	})
	if got[401]+got[429] != 12000 {
		t.Fatalf("flood: answers by status %v", got)
	}
	for i := 0; i < 3; i++ {
		if st, _, out := s.tokenTry(guesser, "/v1/auth/token", id, "rgs_again"+strconv.Itoa(i)); st != 429 {
			t.Fatalf("after a flood of fresh ids, the guesser's spent budget was given back: %d %v", st, out)
		}
	}
	if n := s.scrape(`rolegate_token_refusals_total{reason="rate_global"}`); n != 0 {
		t.Fatalf("%v refusals by the global budget, want none", n)
	}
	if n := s.scrape("rolegate_token_guard_addresses"); n > 2 {
		t.Fatalf("%v address buckets held, want at most 2", n)
	}
	// The real client, from its own address, never verified before.
	if st, _, out := s.tokenTry(http.DefaultClient, "/v1/auth/token", id, secret); st != 200 || out["access_token"] == nil {
		t.Fatalf("the real client held back: %d %v", st, out)
	}
}

// Hole 3: junk from many addresses at once (unknown ids, a real client's id
// with wrong secrets) spends the global failure budget, and past it every
// attempt that would need a bcrypt is 429, whatever its id. A real client that
// got a token before keeps getting tokens (its secret is known good and
// costs no bcrypt); a client not yet seen on this instance waits with the
// junk (documented in docs/auth.md).
func TestAttackTokenGlobalFailureBudget(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t),
		"ROLEGATE_TOKEN_FAILURE_CPU": "0.0001"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T12345678"}) // Dintero's account
	real := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "real", "scopes": []string{"check"}})
	cold := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "cold", "scopes": []string{"check"}})
	id, secret := real.ClientID, real.Secret
	if st, _, out := s.tokenTry(http.DefaultClient, "/v1/auth/token", id, secret); st != 200 {
		t.Fatalf("the real client before the attack: %d %v", st, out)
	}

	// 20 addresses, each sending an unknown id and the real id with a wrong
	// secret: 40 attempts that each need a bcrypt, against a global budget
	// of a ten-thousandth of a processor, which the first failure spends.
	limited := 0
	for a := 0; a < 20; a++ {
		hc := fromAddr("127.0.1." + strconv.Itoa(10+a))
		for _, try := range [][2]string{{uuid.NewString(), "rgs_junk"}, {id, "rgs_wrong"}} {
			st, h, out := s.tokenTry(hc, "/v1/auth/token", try[0], try[1])
			switch st {
			case 401:
			case 429:
				limited++
				if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || out["error"] != "invalid_request" {
					t.Fatalf("429 without Retry-After or the OAuth error body: %v %v", h, out)
				}
			default:
				t.Fatalf("%d %v", st, out)
			}
		}
	}
	if limited < 39 {
		t.Fatalf("%d of 40 attempts past the global budget were limited, want 39", limited)
	}
	if n := s.scrape(`rolegate_token_refusals_total{reason="rate_global"}`); n < 39 {
		t.Fatalf("rate_global refusals: %v", n)
	}
	if n := s.scrape("rolegate_client_secret_checks_total"); n > 2 {
		t.Fatalf("%v bcrypt comparisons, want at most 2 (1 token, 1 failure)", n)
	}

	// The real client keeps getting tokens, on both endpoints, from any address.
	for _, path := range []string{"/v1/auth/token", "/v1/accounts/T12345678/auth/token"} {
		for _, hc := range []*http.Client{http.DefaultClient, fromAddr("127.0.1.10")} {
			if st, _, out := s.tokenTry(hc, path, id, secret); st != 200 || out["access_token"] == nil {
				t.Fatalf("%s: the real client held back during the attack: %d %v", path, st, out)
			}
		}
	}
	// A client whose secret this instance has not verified yet needs a bcrypt,
	// and waits with the junk while the budget is spent.
	if st, h, out := s.tokenTry(http.DefaultClient, "/v1/auth/token", cold.ClientID, cold.Secret); st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("a client not yet verified during the attack: %d %v", st, out)
	}
}

// Hole 3: ids no client can have (and secrets longer than bcrypt reads)
// cost no bcrypt, no lookup and no state, however many arrive.
func TestAttackTokenIDsThatCannotExistCostNoBcrypt(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "real", "scopes": []string{"check"}})
	id := cl.ClientID
	const n = 5000
	got := s.flood(fromAddr("127.0.0.2"), n, func(i int) (string, string) {
		switch i % 4 {
		case 0:
			return id, strings.Repeat("s", 73+i) // longer than any secret
		case 1:
			return strings.ToUpper(id), "secret" // the real id, in another case
		case 2:
			return id + " ", "secret"
		}
		return malformedID(i), "secret"
	})
	if got[401] != n {
		t.Fatalf("answers by status: %v, want %d of 401", got, n)
	}
	if c := s.scrape("rolegate_client_secret_checks_total"); c != 0 {
		t.Fatalf("%v bcrypt comparisons for %d ids that cannot exist, want 0", c, n)
	}
	if c := s.scrape(`rolegate_token_refusals_total{reason="malformed"}`); c != n {
		t.Fatalf("%v refused as malformed, want %d", c, n)
	}
	if c := s.scrape("rolegate_token_guard_addresses"); c != 0 {
		t.Fatalf("%v address buckets held, want 0", c)
	}
}

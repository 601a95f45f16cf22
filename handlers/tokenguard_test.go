package handlers

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// The outcomes told to done.
const wrongSecret, rightSecret = true, false

// enter runs g's gate for addr and returns the done function, or the reason
// it refused.
func enter(t *testing.T, g *tokenGuard, addr string) (func(bool), string) {
	t.Helper()
	done, err := g.gate(addr)()
	if err != nil {
		var th *throttled
		if !errors.As(err, &th) || th.retry <= 0 {
			t.Fatalf("refusal %v is not a throttled with a retry", err)
		}
		return nil, th.reason
	}
	return done, ""
}

// guardClock makes g's clock one the test moves.
func guardClock(g *tokenGuard) *time.Time {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return now }
	g.global.at = now
	return &now
}

// Only failures spend an address's budget: a right secret gives its token
// back, and one address's failures leave another's budget alone.
func TestTokenGuardFailuresSpendPerAddress(t *testing.T) {
	g := newTokenGuard(TokenLimits{FailureCPU: 1000, FailuresPerAddress: 0.001}) // burst 1 per address
	g.slots = make(chan struct{}, 4)
	for i := 0; i < 5; i++ {
		done, why := enter(t, g, "10.0.0.1")
		if why != "" {
			t.Fatalf("success %d refused: %s", i, why)
		}
		done(rightSecret)
	}
	done, _ := enter(t, g, "10.0.0.1")
	done(wrongSecret)
	if _, why := enter(t, g, "10.0.0.1"); why != refusedAddress {
		t.Fatalf("after a failure with a budget of 1: %q, want %q", why, refusedAddress)
	}
	done, why := enter(t, g, "10.0.0.2")
	if why != "" {
		t.Fatalf("another address refused: %s", why)
	}
	// An attempt in flight holds its token: a concurrent one is refused.
	if _, why := enter(t, g, "10.0.0.2"); why != refusedAddress {
		t.Fatalf("second attempt while the first is in flight, budget 1: %q", why)
	}
	done(wrongSecret)
}

// The global budget is comparison time: failures that take longer (a busy
// machine) are fewer. At a tenth of a processor, failures of 0.5 s each get
// through about once every 5 s, from any number of addresses.
func TestTokenGuardGlobalBudgetIsTime(t *testing.T) {
	g := newTokenGuard(TokenLimits{FailureCPU: 0.1, FailuresPerAddress: 1000})
	now := guardClock(g)
	end := now.Add(100 * time.Second)
	passed := 0
	for i := 0; now.Before(end); i++ {
		done, why := enter(t, g, "10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256))
		switch why {
		case "":
			passed++
			*now = now.Add(500 * time.Millisecond)
			done(wrongSecret)
		case refusedGlobal:
			*now = now.Add(100 * time.Millisecond)
		default:
			t.Fatalf("attempt %d: %s", i, why)
		}
	}
	// 100 s x 0.1 + the 1 s burst, 0.5 s each.
	if passed < 21 || passed > 23 {
		t.Fatalf("%d failures of 0.5 s in 100 s at a tenth of a processor, want about 20", passed)
	}
	// Only those addresses got a bucket, whatever the others sent.
	if n := g.addrs.len(); n != passed {
		t.Fatalf("%d address buckets held, want %d", n, passed)
	}
	// Right secrets spend nothing.
	g2 := newTokenGuard(TokenLimits{FailureCPU: 0.1, FailuresPerAddress: 1000})
	now = guardClock(g2)
	for i := 0; i < 100; i++ {
		done, why := enter(t, g2, "10.0.0.1")
		if why != "" {
			t.Fatalf("right secret %d refused: %s", i, why)
		}
		*now = now.Add(500 * time.Millisecond)
		done(rightSecret)
	}
}

// The store of address buckets stays under its bound however many
// addresses fail.
func TestTokenGuardStoreBounded(t *testing.T) {
	g := newTokenGuard(TokenLimits{FailureCPU: 1e9, FailuresPerAddress: 1})
	for i := 0; i < 2*tokenAddresses; i++ {
		done, why := enter(t, g, "addr-"+strconv.Itoa(i))
		if why != "" {
			t.Fatalf("address %d: %s", i, why)
		}
		done(wrongSecret)
	}
	if n := g.addrs.len(); n > tokenAddresses {
		t.Fatalf("%d address buckets held, bound %d", n, tokenAddresses)
	}
}

// With every bcrypt slot taken the answer is busy, and the refused attempt
// spends no budget.
func TestTokenGuardBusy(t *testing.T) {
	g := newTokenGuard(TokenLimits{FailureCPU: 1, FailuresPerAddress: 0.001}) // burst 1 per address
	var held []func(bool)
	for len(held) < cap(g.slots) {
		g.slots <- struct{}{}
		held = append(held, func(bool) { <-g.slots })
	}
	if _, why := enter(t, g, "10.0.0.1"); why != refusedBusy {
		t.Fatalf("all slots taken: %q, want %q", why, refusedBusy)
	}
	for _, d := range held {
		d(wrongSecret)
	}
	done, why := enter(t, g, "10.0.0.1")
	if why != "" {
		t.Fatalf("a busy refusal spent the address's budget: %s", why)
	}
	done(wrongSecret)
}

// The address of a caller is the connection's, never X-Forwarded-For; IPv6
// addresses count by their /64.
func TestTokenGuardAddressKey(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[::ffff:192.0.2.7]:5555":    "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":      "2001:db8:1:3::/64",
		"[fe80::1%eth0]:443":         "fe80::/64",
	} {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/v1/auth/token", nil)
		c.Request.RemoteAddr = remote
		c.Request.Header.Set("X-Forwarded-For", "203.0.113.9")
		c.Request.Header.Set("X-Real-IP", "203.0.113.9")
		if got := addressKey(c); got != want {
			t.Errorf("%s: key %q, want %q", remote, got, want)
		}
	}
}

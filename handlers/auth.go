package handlers

// API clients and tokens: POST/GET/DELETE /v1/clients (platform admins),
// the OAuth 2 client-credentials token endpoints (native and Monite's
// POST /v1/auth/token, Dintero's POST /v1/accounts/{oid}/auth/token), and the
// public key set of the tokens at /.well-known/jwks.json.

import (
	"context"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/gin-gonic/gin"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// TokenIssuer issues tokens to API clients and publishes their keys.
type TokenIssuer interface {
	Issue(ctx context.Context, clientID, secret, bindTo string) (string, time.Duration, error)
	JWKS() []byte
}

func registerAuth(r *gin.Engine, v1 *gin.RouterGroup, a *api, d Deps) {
	v1.POST("/clients", a.createClient)
	v1.GET("/clients", a.listClients)
	v1.GET("/clients/:client", a.getClient)
	v1.DELETE("/clients/:client", a.deleteClient)
	if d.Tokens == nil {
		return
	}
	t := &tokenAPI{issuer: d.Tokens, guard: newTokenGuard(d.TokenLimits)}
	if d.Metrics != nil {
		for _, c := range t.guard.collectors(d.Tokens) {
			if err := d.Metrics.Register(c); err != nil {
				d.Logger.Warn("metrics: collector not registered", "error", err)
			}
		}
	}
	r.GET("/.well-known/jwks.json", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", d.Tokens.JWKS())
	})
	r.POST("/v1/auth/token", t.token)
	dintero := &dinteroAPI{svc: a.svc}
	r.POST("/v1/accounts/:oid/auth/token", dintero.account, t.dinteroToken)
}

func clientOf(c auth.Client) wire.APIClient {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return wire.APIClient{ClientID: c.ID, Name: c.Name, EntityID: nullable(c.EntityID), Scopes: scopes,
		CreatedAt: timeString(c.CreatedAt), CreatedBy: c.CreatedBy}
}

func (a *api) createClient(c *gin.Context) {
	var req wire.APIClientInput
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	cl, secret, err := a.svc.CreateClient(c.Request.Context(), auth.ClientInput{Name: req.Name, EntityID: req.EntityID, Scopes: req.Scopes})
	if err != nil {
		writeError(c, err)
		return
	}
	out := clientOf(cl)
	out.Secret = secret // shown once
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/v1/clients/"+url.PathEscape(cl.ID))
	c.JSON(http.StatusCreated, out)
}

func (a *api) getClient(c *gin.Context) {
	cl, err := a.svc.GetClient(c.Request.Context(), c.Param("client"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, clientOf(cl))
}

func (a *api) listClients(c *gin.Context) {
	q, tok, limit, err := pageRequest(c, "clients", "")
	if err != nil {
		writeError(c, err)
		return
	}
	rows, next, _, err := keyset("clients", "", q, tok, policy.Page{Limit: limit, Sort: "id"}, func(p policy.Page) ([]auth.Client, error) {
		if p.Desc {
			return nil, invalidToken() // clients page forward only
		}
		after := ""
		if p.After != nil {
			after = p.After.ID
		}
		return a.svc.ListClients(c.Request.Context(), after, p.Limit)
	}, func(cl auth.Client) policy.Cursor { return policy.Cursor{Value: cl.ID, ID: cl.ID} })
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.Page[wire.APIClient]{Data: make([]wire.APIClient, 0, len(rows)), NextPaginationToken: next}
	for _, cl := range rows {
		out.Data = append(out.Data, clientOf(cl))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) deleteClient(c *gin.Context) {
	if err := a.svc.DeleteClient(c.Request.Context(), c.Param("client")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ---- token endpoints ----

type tokenAPI struct {
	issuer TokenIssuer
	guard  *tokenGuard
}

// TokenLimits ration the secret checks (bcrypt, tens of milliseconds of CPU
// each, far more on a busy machine) that the token endpoints make for
// callers whose credentials fail.
type TokenLimits struct {
	// FailureCPU is the share of one processor that the comparisons of
	// failing attempts may take, all callers together (0.1 is a tenth),
	// burst ten seconds' worth. It is measured by their duration, so that a
	// busy machine, where each takes longer, allows fewer. 0 means
	// DefaultTokenFailureCPU.
	FailureCPU float64
	// FailuresPerAddress is the failing attempts per second of one remote
	// address (an IPv6 address counts by its /64), burst five seconds' worth
	// (at least 1); 0 means DefaultTokenFailuresPerAddress.
	FailuresPerAddress float64
}

// Defaults of TokenLimits.
const (
	DefaultTokenFailureCPU         = 0.1
	DefaultTokenFailuresPerAddress = 0.5
)

// tokenGuard keeps secret checking from being used to burn the CPU or to
// guess secrets. An id or a secret that cannot be valid is refused before
// anything is kept or checked (auth.WellFormedClientID,
// MaxClientSecretLen). Every other attempt that needs a bcrypt comparison
// (an unknown client's dummy one, or a known client's) must find budget
// left in a global bucket of comparison time and in its remote address's
// bucket of attempts before the client is even looked up, and spends them
// only when the secret turns out wrong. Attempts in flight count against the
// buckets, so concurrent ones cannot overdraw them. Budgets are per address
// and global, never per client id: junk from elsewhere aimed at a client's id
// does not spend that client's address budget. A client presenting the
// secret it last got a token with on this instance is checked without bcrypt
// and never asks the guard, so it keeps getting tokens however much junk is
// refused; one this instance has not verified yet needs a budgeted bcrypt,
// and waits (429) while junk keeps the global budget spent. At most half the
// Go processors (at least one) run bcrypt at a time, so that checks keep the
// rest.
//
// The address buckets are kept in the registry of every limit (bucketSet,
// ratelimit.go), bounded, and dropped once unused long enough to be full
// again, by the wall clock (now is the budgets' clock, which tests move). An
// address gets a bucket only when the global budget let its attempt through,
// so that at the default budget no more than a few exist at once, far fewer
// than the bound: a bucket is not evicted while it is short of tokens, so no
// caller can reset another's.
type tokenGuard struct {
	mu       sync.Mutex
	global   cpuBudget
	addrs    *bucketSet // of failures and the attempts in flight (pending, under mu)
	slots    chan struct{}
	refusals *prometheus.CounterVec
	now      func() time.Time // tests: the clock
}

// free reports whether a new attempt may start at now against an address's
// bucket of failures, and otherwise how long until one may.
func (b *bucket) free(now time.Time) (bool, time.Duration) {
	t := b.TokensAt(now) - float64(b.pending)
	if t >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - t) / float64(b.Limit()) * float64(time.Second))
}

// cpuBudget is a bucket of comparison time (seconds), refilled at share
// seconds per second up to burst. An attempt may start while the balance,
// less the expected cost of those in flight, is above zero; a failed one is
// charged what it took, which may leave a debt that later attempts wait out.
// The guard's mutex guards it.
type cpuBudget struct {
	share, burst float64
	balance      float64
	at           time.Time
	pending      int
	cost         float64 // expected cost of one comparison: a moving average
}

func (b *cpuBudget) refill(now time.Time) {
	if now.After(b.at) {
		b.balance = min(b.burst, b.balance+now.Sub(b.at).Seconds()*b.share)
		b.at = now
	}
}

func (b *cpuBudget) free(now time.Time) (bool, time.Duration) {
	b.refill(now)
	left := b.balance - float64(b.pending)*b.cost
	if left > 0 {
		return true, 0
	}
	return false, time.Duration((b.cost - left) / b.share * float64(time.Second))
}

func (b *cpuBudget) charge(now time.Time, took time.Duration) {
	b.refill(now)
	b.balance -= took.Seconds()
}

func (b *cpuBudget) observe(took time.Duration) {
	b.cost += (took.Seconds() - b.cost) / 8
}

// tokenAddresses bounds the address buckets held.
const tokenAddresses = 1 << 14

// Why token attempts are refused, the label of rolegate_token_refusals_total.
const (
	refusedMalformed = "malformed"    // an id or secret that cannot be valid: 401, nothing kept or checked
	refusedInvalid   = "invalid"      // checked and wrong, or an unknown client: 401
	refusedAddress   = "rate_address" // the address's failure budget is spent: 429
	refusedGlobal    = "rate_global"  // the global failure budget is spent: 429
	refusedBusy      = "busy"         // every bcrypt slot is taken: 429
)

func newTokenGuard(l TokenLimits) *tokenGuard {
	if l.FailureCPU <= 0 {
		l.FailureCPU = DefaultTokenFailureCPU
	}
	if l.FailuresPerAddress <= 0 {
		l.FailuresPerAddress = DefaultTokenFailuresPerAddress
	}
	addrBurst := max(1, int(math.Min(math.Ceil(5*l.FailuresPerAddress), math.MaxInt32)))
	// Unused this long, an address's bucket is full again: dropping it
	// changes nothing.
	ttl := time.Duration(float64(addrBurst)/l.FailuresPerAddress*float64(time.Second)) + time.Second
	g := &tokenGuard{
		// Ten seconds' worth, and a first comparison's 100 ms expected.
		global: cpuBudget{share: l.FailureCPU, burst: 10 * l.FailureCPU, balance: 10 * l.FailureCPU, at: time.Now(), cost: 0.1},
		addrs:  newBuckets(rate.Limit(l.FailuresPerAddress), addrBurst, ttl, tokenAddresses),
		slots:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		now:    time.Now,
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rolegate_token_refusals_total",
			Help: "Token requests refused, by reason: malformed (an id or secret that cannot be valid), invalid (wrong secret or unknown client), rate_address, rate_global (failure budgets spent), busy (every bcrypt slot taken)."},
			[]string{"reason"}),
	}
	for _, r := range []string{refusedMalformed, refusedInvalid, refusedAddress, refusedGlobal, refusedBusy} {
		g.refusals.WithLabelValues(r)
	}
	return g
}

// collectors are the guard's metrics, and the issuer's count of bcrypt
// comparisons when it keeps one.
func (g *tokenGuard) collectors(issuer TokenIssuer) []prometheus.Collector {
	cs := []prometheus.Collector{g.refusals,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rolegate_token_guard_addresses",
			Help: "Remote addresses whose token failure budget is held (bounded)."},
			func() float64 { g.addrs.sweep(time.Now()); return float64(g.addrs.len()) })}
	if sc, ok := issuer.(interface{ SecretChecks() uint64 }); ok {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rolegate_client_secret_checks_total",
			Help: "bcrypt comparisons made for client secrets by the token endpoints."},
			func() float64 { return float64(sc.SecretChecks()) }))
	}
	return cs
}

// throttled refuses a token attempt with 429.
type throttled struct {
	reason string
	retry  time.Duration
}

func (e *throttled) Error() string { return "token attempts throttled: " + e.reason }

// gate is the auth.SecretGate of one request from addr.
func (g *tokenGuard) gate(addr string) auth.SecretGate {
	return func() (func(bool), error) {
		select {
		case g.slots <- struct{}{}:
		default:
			return nil, &throttled{refusedBusy, time.Second}
		}
		now, wall := g.now(), time.Now()
		g.mu.Lock()
		a := g.addrs.peek(addr, wall)
		if a != nil {
			if ok, wait := a.free(now); !ok {
				g.mu.Unlock()
				<-g.slots
				return nil, &throttled{refusedAddress, wait}
			}
		}
		if ok, wait := g.global.free(now); !ok {
			g.mu.Unlock()
			<-g.slots
			return nil, &throttled{refusedGlobal, wait}
		}
		if a == nil {
			a = g.addrs.newBucket()
		}
		a.pending++
		g.global.pending++
		g.addrs.put(addr, a, wall) // used now: dropped once idle from now
		g.mu.Unlock()
		start := now
		return func(failed bool) {
			now := g.now()
			took := now.Sub(start)
			g.mu.Lock()
			a.pending--
			g.global.pending--
			g.global.observe(took)
			if failed { // only failures spend the budgets
				a.ReserveN(now, 1) // below empty when others spent it meanwhile: a debt
				g.global.charge(now, took)
				g.addrs.put(addr, a, time.Now()) // kept while short of tokens
			}
			g.mu.Unlock()
			<-g.slots
		}, nil
	}
}

// addressKey is the key of a caller's address bucket: the address of the
// connection (not X-Forwarded-For, which anyone can write), an IPv6 one cut
// to its /64 (what one host is usually given).
func addressKey(c *gin.Context) string {
	a, err := netip.ParseAddr(c.RemoteIP())
	if err != nil {
		return c.RemoteIP()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// oauthError answers as RFC 6749 section 5.2 says.
func oauthError(c *gin.Context, status int, code, description string) {
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="rolegate"`)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, wire.OAuthError{Error: code, Description: description})
}

// credentials reads the grant and the client's credentials: HTTP Basic
// (RFC 6749 2.3.1, form-encoded id and secret) or the body, as a form or JSON.
func credentials(c *gin.Context) (wire.TokenRequest, error) {
	var req wire.TokenRequest
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := c.Request.ParseForm(); err != nil {
			return req, err
		}
		f := c.Request.PostForm
		req = wire.TokenRequest{GrantType: f.Get("grant_type"), ClientID: f.Get("client_id"),
			ClientSecret: f.Get("client_secret"), Audience: f.Get("audience"), Scope: f.Get("scope")}
	case "application/json", "":
		if c.Request.ContentLength != 0 {
			if err := decodeJSON(c, &req); err != nil {
				return req, err
			}
		}
	default:
		return req, unsupportedMedia("send a form or JSON")
	}
	if id, secret, ok := c.Request.BasicAuth(); ok {
		uid, err1 := url.QueryUnescape(id)
		usecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || (req.ClientID != "" && req.ClientID != uid) {
			return req, badRequest("invalid_request", "the client credentials are malformed")
		}
		req.ClientID, req.ClientSecret = uid, usecret
	}
	return req, nil
}

func (t *tokenAPI) issue(c *gin.Context, bindTo string) (string, time.Duration, bool) {
	req, err := credentials(c)
	if err != nil {
		status, e := classify(c, err)
		switch {
		case status >= 500:
			oauthError(c, status, "server_error", "try again")
		case status == http.StatusRequestEntityTooLarge || status == http.StatusUnsupportedMediaType:
			oauthError(c, status, "invalid_request", e.Message)
		default:
			oauthError(c, http.StatusBadRequest, "invalid_request", e.Message)
		}
		return "", 0, false
	}
	if req.GrantType != "client_credentials" {
		oauthError(c, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		return "", 0, false
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		oauthError(c, http.StatusUnauthorized, "invalid_client", "client_id and client_secret are required (HTTP Basic or the body)")
		return "", 0, false
	}
	if !auth.WellFormedClientID(req.ClientID) || len(req.ClientSecret) > auth.MaxClientSecretLen {
		// No client has such an id or secret: refused before anything is
		// kept or checked.
		t.guard.refusals.WithLabelValues(refusedMalformed).Inc()
		oauthError(c, http.StatusUnauthorized, "invalid_client", "the client id or secret is not valid")
		return "", 0, false
	}
	ctx := auth.WithSecretGate(c.Request.Context(), t.guard.gate(addressKey(c)))
	tok, ttl, err := t.issuer.Issue(ctx, req.ClientID, req.ClientSecret, bindTo)
	if err != nil {
		var th *throttled
		if errors.As(err, &th) {
			t.guard.refusals.WithLabelValues(th.reason).Inc()
			c.Header("Retry-After", strconv.Itoa(min(60, max(1, ceilSeconds(th.retry)))))
			oauthError(c, http.StatusTooManyRequests, "invalid_request", "too many failed token requests; try again shortly")
			return "", 0, false
		}
		status, e := classify(c, err)
		switch {
		case status == http.StatusUnauthorized:
			t.guard.refusals.WithLabelValues(refusedInvalid).Inc()
			oauthError(c, status, "invalid_client", e.Message)
		case status >= 500:
			oauthError(c, status, "server_error", e.Message)
		default:
			oauthError(c, http.StatusBadRequest, "invalid_request", e.Message)
		}
		return "", 0, false
	}
	return tok, ttl, true
}

// token is POST /v1/auth/token, native and Monite-style (which sends
// x-monite-version; it is echoed).
func (t *tokenAPI) token(c *gin.Context) {
	tok, ttl, ok := t.issue(c, "")
	if !ok {
		return
	}
	if v := c.GetHeader("x-monite-version"); v != "" && moniteVersionRe.MatchString(v) {
		c.Header("x-monite-version", v)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, wire.Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second)})
}

// dinteroToken is Dintero's POST /v1/accounts/{oid}/auth/token: the token is
// bound to the account.
func (t *tokenAPI) dinteroToken(c *gin.Context) {
	tok, ttl, ok := t.issue(c, c.Param("oid"))
	if !ok {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second)})
}

package handlers

// API clients and tokens: POST/GET/DELETE /v1/clients (platform admins),
// the OAuth 2 client-credentials token endpoints (native and Monite's
// POST /v1/auth/token, Dintero's POST /v1/accounts/{oid}/auth/token), and the
// public key set of the tokens at /.well-known/jwks.json.

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gin-gonic/gin"
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
	t := &tokenAPI{issuer: d.Tokens, guard: newTokenGuard()}
	r.GET("/.well-known/jwks.json", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", d.Tokens.JWKS())
	})
	r.POST("/v1/auth/token", t.token)
	dintero := &dinteroAPI{svc: a.svc}
	r.POST("/v1/accounts/:oid/auth/token", dintero.account, t.dinteroToken)
}

type clientRequest struct {
	Name     string   `json:"name"`
	EntityID string   `json:"entity_id"`
	Scopes   []string `json:"scopes"`
}

type clientJSON struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Name         string   `json:"name"`
	EntityID     *string  `json:"entity_id"`
	Scopes       []string `json:"scopes"`
	CreatedAt    string   `json:"created_at"`
	CreatedBy    string   `json:"created_by"`
}

func clientOf(c policy.Client) clientJSON {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return clientJSON{ClientID: c.ID, Name: c.Name, EntityID: nullable(c.EntityID), Scopes: scopes,
		CreatedAt: timeString(c.CreatedAt), CreatedBy: c.CreatedBy}
}

func (a *api) createClient(c *gin.Context) {
	var req clientRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	cl, secret, err := a.svc.CreateClient(c.Request.Context(), policy.ClientInput{Name: req.Name, EntityID: req.EntityID, Scopes: req.Scopes})
	if err != nil {
		writeError(c, err)
		return
	}
	out := clientOf(cl)
	out.ClientSecret = secret // shown once
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/v1/clients/"+cl.ID)
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
	rows, next, _, err := keyset("clients", "", q, tok, policy.Page{Limit: limit, Sort: "id"}, func(p policy.Page) ([]policy.Client, error) {
		if p.Desc {
			return nil, invalidToken() // clients page forward only
		}
		after := ""
		if p.After != nil {
			after = p.After.ID
		}
		return a.svc.ListClients(c.Request.Context(), after, p.Limit)
	}, func(cl policy.Client) policy.Cursor { return policy.Cursor{Value: cl.ID, ID: cl.ID} })
	if err != nil {
		writeError(c, err)
		return
	}
	out := page[clientJSON]{Data: make([]clientJSON, 0, len(rows)), NextPaginationToken: next}
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

// tokenGuard keeps secret checking (bcrypt, tens of milliseconds of CPU each)
// from being used to burn the CPU or to guess secrets: each client id gets
// tokenRate attempts per second (burst tokenBurst), and at most one check per
// core runs at a time.
type tokenGuard struct {
	mu    sync.Mutex
	per   map[string]*rate.Limiter
	slots chan struct{}
}

const (
	tokenRate  = 2
	tokenBurst = 10
	// tokenClients bounds the limiters kept; past it they start afresh.
	tokenClients = 10000
)

func newTokenGuard() *tokenGuard {
	return &tokenGuard{per: map[string]*rate.Limiter{}, slots: make(chan struct{}, runtime.NumCPU())}
}

// enter reports whether an attempt for clientID may run now; leave must
// follow a true answer.
func (g *tokenGuard) enter(clientID string) bool {
	g.mu.Lock()
	l := g.per[clientID]
	if l == nil {
		if len(g.per) >= tokenClients {
			g.per = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(tokenRate, tokenBurst)
		g.per[clientID] = l
	}
	ok := l.Allow()
	g.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case g.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (g *tokenGuard) leave() { <-g.slots }

// tokenRequest is a client-credentials request, from a form or JSON body.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Audience     string `json:"audience"`
	Scope        string `json:"scope"`
}

// oauthError answers as RFC 6749 section 5.2 says.
func oauthError(c *gin.Context, status int, code, description string) {
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="rolegate"`)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"error": code, "error_description": description})
}

// credentials reads the grant and the client's credentials: HTTP Basic
// (RFC 6749 2.3.1, form-encoded id and secret) or the body, as a form or JSON.
func credentials(c *gin.Context) (tokenRequest, error) {
	var req tokenRequest
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := c.Request.ParseForm(); err != nil {
			return req, err
		}
		f := c.Request.PostForm
		req = tokenRequest{GrantType: f.Get("grant_type"), ClientID: f.Get("client_id"),
			ClientSecret: f.Get("client_secret"), Audience: f.Get("audience"), Scope: f.Get("scope")}
	case "application/json", "":
		if c.Request.ContentLength != 0 {
			if err := decodeJSON(c, &req); err != nil {
				return req, err
			}
		}
	default:
		return req, policy.Errorf(kindUnsupportedMedia, "unsupported_media_type", "send a form or JSON")
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
	if !t.guard.enter(req.ClientID) {
		c.Header("Retry-After", "1")
		oauthError(c, http.StatusTooManyRequests, "invalid_request", "too many token requests; try again shortly")
		return "", 0, false
	}
	tok, ttl, err := t.issuer.Issue(c.Request.Context(), req.ClientID, req.ClientSecret, bindTo)
	t.guard.leave()
	if err != nil {
		status, e := classify(c, err)
		switch {
		case status == http.StatusUnauthorized:
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
	c.JSON(http.StatusOK, gin.H{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second)})
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

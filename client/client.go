// Package client is Rolegate's Go client: typed calls for the native API
// (checks, entities, roles, users, assignments, clients, audit events, the
// changes feed), tokens fetched and renewed by itself, retries on 429 and 503
// honouring Retry-After, errors as *Error values, an optional decision cache
// (cache.go) and middleware guarding net/http routes (middleware.go; Gin's is
// in the ginguard package).
//
//	c, err := client.New("https://rolegate.internal", client.WithClientCredentials(id, secret))
//	d, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "approve"})
//	if err != nil || !d.Allowed { /* refuse */ }
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate/api"
)

// Client calls one Rolegate server. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	hc         *http.Client
	tokens     tokenSource
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration
	userAgent  string
	now        func() time.Time
}

// Option configures a Client.
type Option func(*Client) error

// WithToken authenticates every call with a fixed bearer token (the admin
// token, or one fetched elsewhere).
func WithToken(token string) Option {
	return func(c *Client) error {
		token = strings.TrimSpace(token)
		if token == "" || strings.ContainsAny(token, " \r\n\t") {
			return errors.New("rolegate: the token must be one word")
		}
		c.tokens = staticToken(token)
		return nil
	}
}

// WithClientCredentials authenticates as an API client: tokens are fetched
// from POST /v1/auth/token with the client's id and secret and fetched anew
// before they expire.
func WithClientCredentials(clientID, secret string) Option {
	return func(c *Client) error {
		if clientID == "" || secret == "" {
			return errors.New("rolegate: client id and secret are required")
		}
		c.tokens = &credentials{c: c, id: clientID, secret: secret}
		return nil
	}
}

// WithHTTPClient sends the requests through hc (its transport and timeout).
// The client never follows redirects, whatever hc's CheckRedirect says: the
// token must not travel to another host.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		cp := *hc
		c.hc = &cp
		return nil
	}
}

// WithRetries sets how many times a call answered 429 or 503 is tried again
// (default 3; 0 never retries), and the first pause between tries (default
// 200 ms, doubling up to 5 s, unless the server's Retry-After says otherwise).
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) error {
		if n < 0 || backoff < 0 {
			return errors.New("rolegate: retries and backoff must not be negative")
		}
		c.maxRetries = n
		if backoff > 0 {
			c.backoff = backoff
		}
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// WithClock sets the clock token renewal reads (default time.Now), so that a
// test can move past a token's lifetime without waiting it out.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("rolegate: the clock must not be nil")
		}
		c.now = now
		return nil
	}
}

// New makes a client of the server at baseURL (e.g. "http://localhost:8080").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rolegate: server %q must be an http:// or https:// URL", baseURL)
	}
	if u.User != nil {
		return nil, errors.New("rolegate: the server URL must not carry credentials")
	}
	c := &Client{base: u, hc: &http.Client{Timeout: 60 * time.Second}, maxRetries: 3,
		backoff: 200 * time.Millisecond, maxBackoff: 5 * time.Second, userAgent: "rolegate-go-client", now: time.Now}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	// Never follow a redirect: the API has none, and following one would
	// send the token (or the client secret) wherever it points.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// Server returns the base URL the client calls.
func (c *Client) Server() string { return c.base.String() }

// request is one call.
type request struct {
	method string
	path   string // already escaped
	query  url.Values
	body   any
	header http.Header
	// idempotent calls may be retried on any 429/503; others only when the
	// server said the request was not applied.
	idempotent bool
	noAuth     bool
}

// response is a successful answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) revision() int64 {
	n, _ := strconv.ParseInt(r.header.Get("X-Rolegate-Revision"), 10, 64)
	return n
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 20

// do sends req, retrying as allowed, and returns a 2xx answer or an error.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	var body []byte
	if req.body != nil {
		var err error
		if body, err = json.Marshal(req.body); err != nil {
			return nil, fmt.Errorf("rolegate: encoding the request: %w", err)
		}
	}
	renewed := false
	for attempt := 0; ; attempt++ {
		res, err := c.once(ctx, req, body)
		if err != nil {
			return nil, err
		}
		if res.status >= 200 && res.status < 300 {
			return res, nil
		}
		apiErr := parseError(res)
		if res.status == http.StatusUnauthorized && !renewed && !req.noAuth {
			// A fetched token may have been revoked (its key rotated,
			// the client re-created): fetch a new one, once.
			if r, ok := c.tokens.(renewer); ok {
				r.invalidate()
				renewed = true
				attempt--
				continue
			}
		}
		if attempt >= c.maxRetries || !retryable(req, apiErr) {
			return nil, apiErr
		}
		wait := apiErr.RetryAfter
		if wait <= 0 {
			wait = c.backoff << attempt
			if wait > c.maxBackoff || wait <= 0 {
				wait = c.maxBackoff
			}
			wait = wait/2 + rand.N(wait/2+1) // jitter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Waiting would outlive the caller: give the answer now.
			return nil, apiErr
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(ctx.Err(), apiErr)
		case <-t.C:
		}
	}
}

// retryable: 429 and 503, for writes only when the server said it did not
// apply the request (rate limit, body budget, policy not ready for a check).
func retryable(req request, e *Error) bool {
	if e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
		return false
	}
	if req.idempotent {
		return true
	}
	switch e.Code {
	case "rate_limited", "server_busy":
		return true
	}
	return false
}

func (c *Client) once(ctx context.Context, req request, body []byte) (*response, error) {
	u := *c.base
	// req.path is escaped (seg): it is the raw path, and Path its decoded
	// form, so that the URL is sent as escaped here and not escaped again.
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + req.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("rolegate: %w", err)
	}
	u.Path = p
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("rolegate: %w", err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", c.userAgent)
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if !req.noAuth {
		if c.tokens == nil {
			return nil, errors.New("rolegate: no credentials: use WithToken or WithClientCredentials")
		}
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return nil, err
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("rolegate: %s %s: %w", req.method, req.path, unwrapURLError(err))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("rolegate: %s %s: reading the answer: %w", req.method, req.path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}, nil
}

// unwrapURLError drops url.Error's copy of the URL (it may be long) but keeps
// the cause for errors.Is.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseError reads the native error body {"error":{"code","message"}} and the
// token endpoint's RFC 6749 {"error":"...","error_description":"..."}.
func parseError(res *response) *Error {
	e := &Error{Status: res.status, RequestID: res.header.Get("X-Request-Id"), RetryAfter: retryAfter(res.header)}
	var native api.ErrorBody
	var oauth api.OAuthError
	switch {
	case json.Unmarshal(res.body, &native) == nil && native.Error.Code != "":
		e.Code, e.Message, e.Details = native.Error.Code, native.Error.Message, native.Error.Details
		e.Violations = native.Error.Violations
	case json.Unmarshal(res.body, &oauth) == nil && oauth.Error != "":
		e.Code, e.Message = oauth.Error, oauth.Description
	default:
		e.Code = "http_" + strconv.Itoa(res.status)
		if res.status >= 300 && res.status < 400 {
			e.Message = "the server redirected to " + res.header.Get("Location") + "; the client does not follow redirects"
		}
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date; at most a minute.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		d = 0
	}
	if d > time.Minute {
		d = time.Minute
	}
	return d
}

// decode reads a JSON answer into out.
func decode(res *response, out any) error {
	if err := json.Unmarshal(res.body, out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedAnswer, err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, req request, out any) (*response, error) {
	res, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := decode(res, out); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// seg escapes one path segment, dots included: "." and ".." would be
// resolved away by whatever normalises the path on the way ("%2E%2E" is not
// by Go or the server).
func seg(s string) string { return strings.ReplaceAll(url.PathEscape(s), ".", "%2E") }

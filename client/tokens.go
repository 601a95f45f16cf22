package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rolegate/rolegate/api"
)

// tokenSource gives the bearer token of the next request.
type tokenSource interface {
	token(ctx context.Context) (string, error)
}

// renewer is a source whose token can be dropped and fetched anew.
type renewer interface{ invalidate() }

type staticToken string

func (s staticToken) token(context.Context) (string, error) { return string(s), nil }

// credentials fetches client-credentials tokens and renews them before they
// expire: when less than a fifth of their lifetime (at most a minute) is
// left.
type credentials struct {
	c          *Client
	id, secret string

	mu      sync.Mutex
	current string
	renewAt time.Time
	expires time.Time
}

func (s *credentials) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != "" && s.c.now().Before(s.renewAt) {
		return s.current, nil
	}
	tok, ttl, err := s.fetch(ctx)
	if err != nil {
		if s.current != "" && s.c.now().Before(s.expires) {
			// The old token still holds: use it, try again next call.
			return s.current, nil
		}
		return "", err
	}
	margin := ttl / 5
	if margin > time.Minute {
		margin = time.Minute
	}
	t := s.c.now()
	s.current, s.renewAt, s.expires = tok, t.Add(ttl-margin), t.Add(ttl)
	return tok, nil
}

func (s *credentials) invalidate() {
	s.mu.Lock()
	s.current = ""
	s.mu.Unlock()
}

// fetch is POST /v1/auth/token with HTTP Basic client authentication.
func (s *credentials) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	u := *s.c.base
	u.Path = strings.TrimRight(s.c.base.Path, "/") + "/v1/auth/token"
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("rolegate: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.c.userAgent)
	// RFC 6749 2.3.1: form-encode before Basic.
	req.SetBasicAuth(url.QueryEscape(s.id), url.QueryEscape(s.secret))
	// The token request is not retried by do(): a refused secret is final,
	// and the guard's 429 says to come back later.
	res, err := s.c.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("rolegate: fetching a token: %w", unwrapURLError(err))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("rolegate: fetching a token: %w", err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: data}
	if res.StatusCode != http.StatusOK {
		return "", 0, parseError(r)
	}
	var out api.Token
	if err := json.Unmarshal(r.body, &out); err != nil || out.AccessToken == "" || !strings.EqualFold(out.TokenType, "bearer") {
		return "", 0, fmt.Errorf("%w: the token endpoint gave no bearer token", ErrMalformedAnswer)
	}
	ttl := time.Duration(out.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Minute
	}
	return out.AccessToken, ttl, nil
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// Rule is what a guarded route checks: the user (and entity, owner, scope)
// are read from the request by the caller's functions; object type and
// action are fixed per route.
type Rule struct {
	ObjectType string
	Action     string
	// Subject returns the entity and the user of the request; an error
	// answers 401 (nobody to check).
	Subject func(r *http.Request) (entity, user string, err error)
	// Owner, when set, returns the owner of the object (allowed_for_own).
	Owner func(r *http.Request) string
	// Scope, when set, returns the scope of the check (e.g. "team:42").
	Scope func(r *http.Request) string
}

// Request builds the check of r.
func (rule Rule) Request(r *http.Request) (CheckRequest, error) {
	if rule.Subject == nil {
		return CheckRequest{}, errors.New("rolegate: the rule has no Subject function")
	}
	entity, user, err := rule.Subject(r)
	if err != nil {
		return CheckRequest{}, err
	}
	if entity == "" || user == "" {
		return CheckRequest{}, errors.New("rolegate: no entity or user in the request")
	}
	cr := CheckRequest{EntityID: entity, UserID: user, ObjectType: rule.ObjectType, Action: rule.Action}
	if rule.Owner != nil {
		cr.OwnerID = rule.Owner(r)
	}
	if rule.Scope != nil {
		cr.Scope = rule.Scope(r)
	}
	return cr, nil
}

type decisionKey struct{}

// DecisionFrom returns the decision that let the request through.
func DecisionFrom(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(Decision)
	return d, ok
}

// WithDecision puts d in ctx (for other middleware, e.g. ginguard).
func WithDecision(ctx context.Context, d Decision) context.Context {
	return context.WithValue(ctx, decisionKey{}, d)
}

// Outcome is what a guard decided about a request.
type Outcome int

const (
	// Allow: the check allowed it.
	Allow Outcome = iota
	// Deny: 403.
	Deny
	// Unauthenticated: no subject in the request, 401.
	Unauthenticated
	// Failed: the check could not be answered, 503; never an allow.
	Failed
)

// Decide runs rule's check for r: only an answer that says allowed is Allow.
func Decide(ctx context.Context, ch Checker, rule Rule, r *http.Request) (Outcome, Decision, error) {
	cr, err := rule.Request(r)
	if err != nil {
		return Unauthenticated, Decision{}, err
	}
	d, err := ch.Check(ctx, cr)
	if err != nil {
		return Failed, Decision{}, err
	}
	if !d.Allowed {
		return Deny, d, nil
	}
	return Allow, d, nil
}

// StatusOf is the HTTP status a guard answers for o (0 for Allow).
func StatusOf(o Outcome) int {
	switch o {
	case Deny:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case Failed:
		return http.StatusServiceUnavailable
	}
	return 0
}

// ErrorBody is what a guard answers when it refuses: {"error":{"code","message"}}.
func ErrorBody(o Outcome) []byte {
	code, msg := "forbidden", "the permission service denied this request"
	switch o {
	case Unauthenticated:
		code, msg = "unauthenticated", "no user to check"
	case Failed:
		code, msg = "authorization_unavailable", "the permission service could not be asked; try again"
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return b
}

// Middleware guards an http.Handler with rule, checked through ch (a *Client
// or a *Cache): 403 on deny, 401 without a subject, 503 when the check fails
// (the server is down, answers an error, or answers something unreadable);
// the handler runs only on an allow, with the decision in its context.
func Middleware(ch Checker, rule Rule) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o, d, _ := Decide(r.Context(), ch, rule, r)
			if o != Allow {
				w.Header().Set("Content-Type", "application/json")
				if o == Failed {
					w.Header().Set("Retry-After", "1")
				}
				w.WriteHeader(StatusOf(o))
				_, _ = w.Write(ErrorBody(o))
				return
			}
			next.ServeHTTP(w, r.WithContext(WithDecision(r.Context(), d)))
		})
	}
}

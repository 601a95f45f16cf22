package client

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	// Resource, when set, returns the attributes of the object the request
	// is about, which conditions read as resource (e.g. {"amount": 1200}).
	// Without it, or when it returns nothing, a conditional right that
	// reads resource cannot be evaluated: its allow does not count, its
	// deny applies.
	Resource func(r *http.Request) map[string]any
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
	if rule.Resource != nil {
		cr.Resource = rule.Resource(r)
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
	// Failed: Rolegate could not be asked (down, overloaded, an answer
	// that is not Rolegate's), 503 with Retry-After; never an allow.
	Failed
	// Refused: Rolegate answered the check with an error that trying again
	// will not mend: this service's credentials were refused, its client may
	// not check that entity, or the question is malformed. A
	// misconfiguration, not an outage: 500, logged; never an allow.
	Refused
)

// Decide runs rule's check for r: only an answer that says allowed is Allow.
// A check that fails is Refused when Rolegate answered it with a 4xx other
// than 408 and 429 (see IsRefusal), else Failed.
func Decide(ctx context.Context, ch Checker, rule Rule, r *http.Request) (Outcome, Decision, error) {
	cr, err := rule.Request(r)
	if err != nil {
		return Unauthenticated, Decision{}, err
	}
	d, err := ch.Check(ctx, cr)
	if err != nil {
		if IsRefusal(err) {
			return Refused, Decision{}, err
		}
		return Failed, Decision{}, err
	}
	if !d.Allowed {
		return Deny, d, nil
	}
	return Allow, d, nil
}

// IsRefusal reports whether err is Rolegate refusing a call in a way that
// trying again will not change: a 4xx answer other than 408 (timeout) and 429
// (rate limited). Credentials refused (401), a client bound to another entity
// or without the scope (403), an unknown entity (404), a malformed question
// (400, 422) are refusals; a server that does not answer, a 5xx or an answer
// that is not Rolegate's are not (they may pass).
func IsRefusal(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
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
	case Refused:
		return http.StatusInternalServerError
	}
	return 0
}

// ErrorBody is what a guard answers when it refuses: {"error":{"code","message"}}.
// It never carries Rolegate's own error text: that goes to the log and the
// error hook (GuardOption).
func ErrorBody(o Outcome) []byte {
	code, msg := "forbidden", "the permission service denied this request"
	switch o {
	case Unauthenticated:
		code, msg = "unauthenticated", "no user to check"
	case Failed:
		code, msg = "authorization_unavailable", "the permission service could not be asked; try again"
	case Refused:
		code, msg = "authorization_misconfigured", "the permission service refused this service's check; see this service's log"
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return b
}

// GuardOption configures Middleware and ginguard.Require.
type GuardOption func(*Guard)

// WithErrorHook calls f for every request whose check failed (Failed) or
// was refused (Refused), with the error, before the guard answers: to count
// it, alert on it, or log it your way.
func WithErrorHook(f func(r *http.Request, o Outcome, err error)) GuardOption {
	return func(g *Guard) { g.hook = f }
}

// WithLogger sets where the guard logs failed and refused checks (Refused
// at error level, Failed at warn); the default is slog.Default().
// slog.New(slog.DiscardHandler) logs nothing.
func WithLogger(l *slog.Logger) GuardOption {
	return func(g *Guard) { g.log = l }
}

// Guard checks requests against one rule; Middleware and ginguard.Require
// are built on it.
type Guard struct {
	ch   Checker
	rule Rule
	log  *slog.Logger
	hook func(r *http.Request, o Outcome, err error)
}

// NewGuard is a guard of rule, checked through ch (a *Client or a *Cache).
func NewGuard(ch Checker, rule Rule, opts ...GuardOption) *Guard {
	g := &Guard{ch: ch, rule: rule}
	for _, o := range opts {
		o(g)
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	return g
}

// Decide checks r (Decide), logs a failed or refused check and calls the
// error hook.
func (g *Guard) Decide(r *http.Request) (Outcome, Decision) {
	o, d, err := Decide(r.Context(), g.ch, g.rule, r)
	if o != Failed && o != Refused {
		return o, d
	}
	attrs := []any{"object_type", g.rule.ObjectType, "action", g.rule.Action, "error", err}
	var e *Error
	if errors.As(err, &e) {
		attrs = append(attrs, "status", e.Status, "code", e.Code, "request_id", e.RequestID)
	}
	if o == Refused {
		g.log.ErrorContext(r.Context(), "rolegate refused the check: fix this service's credentials or configuration (the request was refused with 500)", attrs...)
	} else {
		g.log.WarnContext(r.Context(), "rolegate could not be asked (the request was refused with 503)", attrs...)
	}
	if g.hook != nil {
		g.hook(r, o, err)
	}
	return o, d
}

// Refuse writes the answer of a refused request: StatusOf(o) and ErrorBody(o),
// with Retry-After on Failed.
func Refuse(w http.ResponseWriter, o Outcome) {
	w.Header().Set("Content-Type", "application/json")
	if o == Failed {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(StatusOf(o))
	_, _ = w.Write(ErrorBody(o))
}

// Middleware guards an http.Handler with rule, checked through ch (a *Client
// or a *Cache): 403 on deny, 401 without a subject, 503 when Rolegate cannot
// be asked (down, an error of its own, an answer that is not Rolegate's), 500
// when it refuses the check (misconfigured credentials or client; logged,
// and given to WithErrorHook); the handler runs only on an allow, with the
// decision in its context.
func Middleware(ch Checker, rule Rule, opts ...GuardOption) func(http.Handler) http.Handler {
	g := NewGuard(ch, rule, opts...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o, d := g.Decide(r)
			if o != Allow {
				Refuse(w, o)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithDecision(r.Context(), d)))
		})
	}
}

package auth

import "context"

// Actor is who makes a call. ID names it in created_by, updated_by and the
// audit log ("admin", "client:<client_id>", "user:<user_id>"). EntityID binds
// it to one entity (empty: every entity). When UserID is set, the caller is
// that user of EntityID and may give only rights it holds itself. Scopes are
// what the caller's token allows: ScopeCheck, ScopeManage, ScopeAdmin.
type Actor struct {
	ID       string
	EntityID string
	UserID   string
	ClientID string
	Scopes   []string
	// internal marks Rolegate's own calls (InternalActor): only code in this
	// module can make one, never a token.
	internal bool
}

// InternalActor is the caller of Rolegate's own calls that no request makes:
// commands (doctor, migrate, seeding), provisioning and tests. It may do
// everything. Every Service call needs a caller: one whose context carries
// none is refused (401), so that a route or a tool that forgets to
// authenticate fails closed.
func InternalActor() Actor {
	return Actor{ID: "internal", Scopes: []string{ScopeAdmin}, internal: true}
}

// Internal returns ctx carrying InternalActor.
func Internal(ctx context.Context) context.Context { return WithActor(ctx, InternalActor()) }

// Token scopes.
const (
	ScopeCheck  = "check"  // may call the check endpoints
	ScopeManage = "manage" // may manage roles, users and assignments
	ScopeAdmin  = "admin"  // everything, every entity
)

// Has reports whether the actor's token carries scope (admin carries all).
func (a Actor) Has(scope string) bool {
	for _, s := range a.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

type actorKey struct{}

// WithActor returns a context carrying the caller.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the caller carried by ctx (the zero Actor when none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// IsInternal reports whether a is InternalActor: a Rolegate call no request
// made, which authorization lets through.
func (a Actor) IsInternal() bool { return a.internal }

package policy

import (
	"context"

	"github.com/rolegate/rolegate/auth"
)

// The caller (Actor, its scopes, the context that carries it) is auth's.
// These names stay so that policy's many callers need not change while the
// code base is split; new code says auth.X.

// Actor is auth.Actor.
type Actor = auth.Actor

// Token scopes (auth's).
const (
	ScopeCheck  = auth.ScopeCheck
	ScopeManage = auth.ScopeManage
	ScopeAdmin  = auth.ScopeAdmin
)

// InternalActor is auth.InternalActor.
func InternalActor() Actor { return auth.InternalActor() }

// Internal is auth.Internal.
func Internal(ctx context.Context) context.Context { return auth.Internal(ctx) }

// WithActor is auth.WithActor.
func WithActor(ctx context.Context, a Actor) context.Context { return auth.WithActor(ctx, a) }

// ActorFrom is auth.ActorFrom.
func ActorFrom(ctx context.Context) Actor { return auth.ActorFrom(ctx) }

// actorOf returns the caller carried by ctx and whether there is one.
func actorOf(ctx context.Context) (Actor, bool) {
	a := auth.ActorFrom(ctx)
	return a, a.ID != ""
}

package auth

import (
	"context"
	"errors"

	"github.com/rolegate/rolegate"
)

// ClientStore keeps API clients. Methods return rolegate.ErrNotFound
// (wrapped) for a missing row.
type ClientStore interface {
	InsertClient(c *Client) error
	GetClient(id string) (Client, error) // ErrNotFound
	// ListClients returns clients ordered by id, those after the given id.
	ListClients(afterID string, limit int) ([]Client, error)
	DeleteClient(id string) error // ErrNotFound
	// DeleteEntityClients removes every client bound to the entity and
	// returns them.
	DeleteEntityClients(entityID string) ([]Client, error)
}

// SettingStore keeps settings: here the signing keys and the hash of the
// generated bootstrap admin token.
type SettingStore interface {
	// GetSetting returns a stored setting; ErrNotFound when unset.
	GetSetting(key string) (string, error)
	// PutSetting stores a setting; ErrDuplicate when it is already set.
	PutSetting(key, value string) error
	// ReplaceSetting stores value in place of old; ErrNotFound when the
	// setting is unset or no longer old (someone changed it meanwhile).
	ReplaceSetting(key, old, value string) error
}

// EntityReader reads the entity a client or a token is bound to.
type EntityReader interface {
	GetEntity(id string) (rolegate.Entity, error) // ErrNotFound
}

// Tx is what auth reads and writes in one transaction; policy.Tx is one.
type Tx interface {
	ClientStore
	SettingStore
	EntityReader
}

// Store runs functions in transactions of the service's store, whose tx is
// a T: policy.Store is a Store[policy.Tx], so that its callers pass it as it
// is and auth needs nothing of policy.
type Store[T Tx] interface {
	// Update runs fn in one read-write transaction.
	Update(ctx context.Context, fn func(tx T) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx T) error) error
}

// narrowed is a Store[T] seen as a Store[Tx], so that Tokens is not generic.
type narrowed[T Tx] struct{ s Store[T] }

func (n narrowed[T]) Update(ctx context.Context, fn func(Tx) error) error {
	return n.s.Update(ctx, func(tx T) error { return fn(tx) })
}

func (n narrowed[T]) View(ctx context.Context, fn func(Tx) error) error {
	return n.s.View(ctx, func(tx T) error { return fn(tx) })
}

func narrow[T Tx](s Store[T]) Store[Tx] {
	if n, ok := s.(Store[Tx]); ok {
		return n
	}
	return narrowed[T]{s}
}

func isNotFound(err error) bool { return errors.Is(err, rolegate.ErrNotFound) }

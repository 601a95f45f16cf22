package policy

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"

	"github.com/rolegate/rolegate/engine"
)

// Config configures a Service.
type Config struct {
	Store     Store
	Engine    *engine.Engine
	Templates []RoleTemplate // nil: DefaultTemplates
	Catalog   *Catalog       // nil: any object type and action
	// Syncer, when set, is told of every committed write so that other
	// instances hear of it.
	Syncer *changes.Syncer
	Logger *slog.Logger
	Now    func() time.Time
	Quotas Quotas // what one entity may hold; zero fields take the defaults
	// MaxChangeWaiters and MaxChangeWaitersPerEntity bound the Changes calls
	// waiting for a write (0: changes.DefaultMaxWaiters, ...PerEntity).
	MaxChangeWaiters          int
	MaxChangeWaitersPerEntity int
	// MaxChangeWaitersPerCaller is each caller's share of an entity's
	// waiting calls (0: changes.DefaultMaxWaitersPerCaller); past it 429.
	MaxChangeWaitersPerCaller int
	// HistoryRetention is how long the history is kept (0: forever, or
	// unknown): as-of answers never take an instant older than it from
	// their cache (historycache.go), whichever instance sweeps.
	HistoryRetention time.Duration
}

// Service is what every caller goes through: the admins' writes and the
// checkers' questions.
type Service struct {
	store     Store
	engine    *engine.Engine
	templates []RoleTemplate
	catalog   *Catalog
	sync      *changes.Syncer
	log       *slog.Logger
	now       func() time.Time
	quotas    Quotas
	feed      *changes.Feed // the changes feed and its waiting calls
	asOfs     *asOfCache    // AsOfs resolved (historycache.go)

	dry *DryRunResult // set on a DryRun copy: its writes roll back and land here

	onClientDeleted func(id string)
	onEntityDeleted func(id string)
}

// NewService returns a service over a store and an engine.
func NewService(cfg Config) *Service {
	s := &Service{store: cfg.Store, engine: cfg.Engine, templates: cfg.Templates,
		catalog: cfg.Catalog, sync: cfg.Syncer, log: cfg.Logger, now: cfg.Now, quotas: cfg.Quotas.withDefaults(),
		feed:  changes.NewFeed(cfg.MaxChangeWaiters, cfg.MaxChangeWaitersPerEntity, cfg.MaxChangeWaitersPerCaller),
		asOfs: newAsOfCache(cfg.HistoryRetention)}
	// Other instances' changes, heard or swept, wake the feed's waiters too.
	s.sync.Watch(s.feed)
	if s.templates == nil {
		s.templates = DefaultTemplates()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Catalog returns the object-type catalog, nil when there is none.
func (s *Service) Catalog() *Catalog { return s.catalog }

// Engine returns the check engine.
func (s *Service) Engine() *engine.Engine { return s.engine }

// Syncer returns what keeps this instance in step with others; nil when none.
func (s *Service) Syncer() *changes.Syncer { return s.sync }

// Ready reports whether storage answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// clock returns the current time as stored: UTC, milliseconds.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// write runs fn in one transaction after bumping the entity's revision, then,
// once committed, applies what fn changed (recorded as a Delta) to the
// entity's policy held in memory so that the next check on this instance sees
// the change, and tells the other instances. It returns the revision the
// commit took the entity to (0 for a dry run, which commits nothing).
//
// Every Service write returns that revision to its caller, who may pass it
// back as a check's MinRevision (the transport answers it as a header): the
// role, user and assignment writes and DeleteEntity as the value before the
// error; CreateEntity and ImportUsers in their result, which carries it
// already (Entity.Revision, ImportResult.Revision).
func (s *Service) write(ctx context.Context, entityID string, fn func(tx recordingTx, now time.Time) error) (int64, error) {
	now := s.clock()
	dry := s.dry
	if dry != nil {
		// A dry run tells what users would gain and lose: it reveals users'
		// rights, which the caller must be allowed to read.
		if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
			return 0, err
		}
	}
	var rev int64
	var rec *recorder
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		rev, err = tx.BumpRevision(entityID, now)
		if err != nil {
			if rolegate.IsNotFound(err) {
				return EntityNotFound(entityID)
			}
			return err
		}
		rec = &recorder{tx: tx, entityID: entityID}
		if err := s.quotas.guard(rec, entityID, func() error { return fn(rec, now) }); err != nil {
			return err
		}
		if err := s.enforceConstraints(ctx, tx, entityID, rev, now, rec.delta); err != nil {
			return err
		}
		// The entity's history keeps what the write changed (a dry run
		// rolls back: it keeps nothing).
		if dry == nil {
			at := rolegate.Revision{EntityID: entityID, Revision: rev, At: now, Actor: auth.ActorFrom(ctx).ID}
			if err := tx.AppendHistory(at, rec.change, rec.delta); err != nil {
				return err
			}
		}
		if err := logChange(tx, entityID, rev, now, rec.delta, &rec.touched); err != nil {
			return err
		}
		if dry != nil {
			return rolledBack{rev: rev, delta: rec.delta}
		}
		return nil
	})
	if rb := (rolledBack{}); dry != nil && errors.As(err, &rb) {
		dry.Gained, dry.Lost, err = s.engine.DryRun(context.WithoutCancel(ctx), entityID, rb.rev, rb.delta)
		if err != nil {
			return 0, unavailable(err)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s.apply(ctx, entityID, rev, rec.delta)
	s.committed(entityID, rev)
	return rev, nil
}

// committed tells the changes feed's waiters and the other instances of the
// revision a committed write took its entity to.
func (s *Service) committed(entityID string, rev int64) {
	s.feed.Signal(entityID, rev)
	s.sync.Committed(entityID, rev)
}

// apply brings the engine to the write's revision with the delta it recorded.
func (s *Service) apply(ctx context.Context, entityID string, rev int64, d engine.Delta) {
	if err := s.engine.Apply(context.WithoutCancel(ctx), entityID, rev, d); err != nil {
		s.log.Warn("refresh entity policy after write", "entity_id", entityID, "error", err)
	}
}

// unavailable turns a failure to load a policy into 503: the answer is
// unknown, which is never an allow.
func unavailable(err error) error {
	if rolegate.IsKind(err, rolegate.KindUnavailable) {
		return err
	}
	return &rolegate.Error{Kind: rolegate.KindUnavailable, Code: "policy_unavailable", Message: "the entity's policy cannot be loaded now, try again", Err: err}
}

// nfc is a name normalized as stored (NormalizeName); nil stays nil.
func nfc(name *string) *string {
	if name == nil {
		return nil
	}
	n := NormalizeName(*name)
	return &n
}

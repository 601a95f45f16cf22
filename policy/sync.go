package policy

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate/engine"
)

// Keeping instances in step. Every committed write takes its entity to a new
// revision; the instance that wrote refreshes its own engine and tells the
// others through a Notifier (Redis pub/sub). An instance that hears of a
// revision newer than the one it holds reloads that entity only. Messages can
// be lost (pub/sub keeps nothing for a disconnected subscriber), so a periodic
// sweep also reads the revisions of every entity held, in one query per
// sweepBatch entities, and reloads those that moved: no instance stays stale
// past the sweep interval, with or without a notifier.

// Change says that a committed write took an entity to a revision.
type Change struct {
	EntityID string
	Revision int64
	// At is when the write committed, by the writing instance's clock: the
	// receiver measures the notification lag from it.
	At time.Time
	// Origin is the instance that wrote; it ignores its own messages.
	Origin string
}

// Notifier carries changes between instances. adapters.Redis implements it.
type Notifier interface {
	// Publish tells every subscribed instance of a change.
	Publish(ctx context.Context, c Change) error
	// Subscribe calls fn with every change any instance publishes until ctx
	// ends, and up(true) each time the subscription is (re)established,
	// up(false) when it is lost; it reconnects by itself. Changes published
	// while it was not subscribed are lost.
	Subscribe(ctx context.Context, fn func(Change), up func(bool)) error
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	Engine *engine.Engine
	Store  Store
	// Notifier, when set, carries changes between instances; without one
	// only the sweep keeps instances in step.
	Notifier Notifier
	// SweepInterval is how often the revisions of the entities held are
	// compared with the store's. 0 means 10 s; negative turns the sweep off.
	SweepInterval time.Duration
	// Instance names this process in its messages; "" means a new UUID.
	Instance string
	Logger   *slog.Logger
}

// SyncStats are the Syncer's counters for operators.
type SyncStats struct {
	Published     int64 // changes published
	PublishErrors int64 // changes that could not be published (the write still stands)
	Dropped       int64 // changes not published because too many were waiting
	Received      int64 // changes heard from other instances
	// Reloads counts the entities reloaded (or dropped, when deleted)
	// because another instance's change was heard ("notification") or the
	// sweep found them moved ("sweep").
	Reloads      map[string]int64
	ReloadErrors int64
	Sweeps       int64
	SweepErrors  int64
	Subscribed   bool // the notifier's subscription is up
}

// LagBuckets are the upper bounds, in seconds, of the notification lag
// histogram.
var LagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// LagHistogram is the distribution of notification lags: the time from a
// write's commit on one instance to the end of the reload it caused on this
// one (clocks of different machines included).
type LagHistogram struct {
	Count   uint64
	Sum     float64   // seconds
	Buckets []float64 // upper bounds, LagBuckets
	Counts  []uint64  // cumulative: observations <= Buckets[i]
}

// Syncer keeps an instance's engine in step with the store and the other
// instances: it publishes this instance's changes, reloads on changes heard,
// and sweeps. Run runs it.
type Syncer struct {
	engine   *engine.Engine
	store    Store
	notifier Notifier
	interval time.Duration
	instance string
	log      *slog.Logger

	queue chan Change // changes to publish
	sweep chan struct{}
	ctx   atomic.Pointer[context.Context]
	slots chan struct{} // bounds concurrent reloads

	mu      sync.Mutex
	pending map[string]wanted // entity -> the newest change not yet applied
	running map[string]bool   // entities with a reloading goroutine

	published, publishErrors, dropped, received atomic.Int64
	notifiedReloads, sweepReloads, reloadErrors atomic.Int64
	sweeps, sweepErrors                         atomic.Int64
	subscribed                                  atomic.Bool
	lastPublishLog                              atomic.Int64
	onChange                                    atomic.Pointer[func(entityID string, revision int64, exists bool)]
	waits                                       atomic.Pointer[waiters] // the changes feed's, woken by what is heard or swept

	lagMu     sync.Mutex
	lagCounts []uint64
	lagSum    float64
	lagCount  uint64
}

// wanted is a reload owed to an entity: up to revision, for a change that
// committed at (zero for the sweep's).
type wanted struct {
	revision int64
	at       time.Time
	sweep    bool
}

// sweepBatch is how many entities one sweep query asks about.
const sweepBatch = 500

// NewSyncer returns a Syncer; Run starts it.
func NewSyncer(cfg SyncConfig) *Syncer {
	s := &Syncer{engine: cfg.Engine, store: cfg.Store, notifier: cfg.Notifier, interval: cfg.SweepInterval,
		instance: cfg.Instance, log: cfg.Logger, queue: make(chan Change, 4096), sweep: make(chan struct{}, 1),
		slots: make(chan struct{}, 8), pending: map[string]wanted{}, running: map[string]bool{},
		lagCounts: make([]uint64, len(LagBuckets))}
	if s.interval == 0 {
		s.interval = 10 * time.Second
	}
	if s.instance == "" {
		s.instance = uuid.NewString()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	bg := context.Background()
	s.ctx.Store(&bg)
	return s
}

// Committed is told of every committed write of this instance; the change is
// published in the background, so that a slow or absent notifier never
// delays nor fails a write (a change that cannot be published is logged and
// counted, and the sweep repairs it on the other instances).
func (s *Syncer) Committed(entityID string, revision int64) {
	if s == nil || s.notifier == nil {
		return
	}
	select {
	case s.queue <- Change{EntityID: entityID, Revision: revision, At: time.Now(), Origin: s.instance}:
	default:
		s.dropped.Add(1)
		s.logPublishFailure("too many changes waiting to be published", nil)
	}
}

// Run publishes, listens and sweeps until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	s.ctx.Store(&ctx)
	var wg sync.WaitGroup
	if s.notifier != nil {
		wg.Add(2)
		go func() { defer wg.Done(); s.publish(ctx) }()
		go func() {
			defer wg.Done()
			err := s.notifier.Subscribe(ctx, s.heard, func(up bool) {
				s.subscribed.Store(up)
				if up {
					// Changes published while unsubscribed are lost: look now.
					s.SweepSoon()
				}
			})
			s.subscribed.Store(false)
			if err != nil && ctx.Err() == nil {
				s.log.Error("change notifications stopped; only the revision sweep keeps this instance in step", "error", err)
			}
		}()
	}
	if s.interval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.sweepLoop(ctx) }()
	}
	wg.Wait()
}

// publish sends queued changes until ctx ends, then what is left for a moment.
func (s *Syncer) publish(ctx context.Context) {
	send := func(c Change) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := s.notifier.Publish(pctx, c); err != nil {
			s.publishErrors.Add(1)
			s.logPublishFailure("publishing a change failed", err)
			return
		}
		s.published.Add(1)
	}
	for {
		select {
		case c := <-s.queue:
			send(c)
		case <-ctx.Done():
			// Shutting down: what is queued goes out if it can, briefly.
			end := time.Now().Add(time.Second)
			for time.Now().Before(end) {
				select {
				case c := <-s.queue:
					send(c)
				default:
					return
				}
			}
			return
		}
	}
}

// logPublishFailure logs at most one publishing failure every 10 s.
func (s *Syncer) logPublishFailure(msg string, err error) {
	now := time.Now().UnixNano()
	last := s.lastPublishLog.Load()
	if now-last < int64(10*time.Second) || !s.lastPublishLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn(msg+"; other instances catch up at their next revision sweep", "error", err,
		"publish_errors", s.publishErrors.Load(), "dropped", s.dropped.Load())
}

// heard handles a change another instance published.
func (s *Syncer) heard(c Change) {
	if c.Origin == s.instance || c.EntityID == "" {
		return
	}
	s.received.Add(1)
	s.tell(c.EntityID, c.Revision, true)
	if w := s.waits.Load(); w != nil {
		w.signal(c.EntityID, c.Revision)
	}
	if held, ok := s.engine.Held(c.EntityID); !ok || held >= c.Revision {
		return // not held (it loads fresh on first use), or already there
	}
	s.want(c.EntityID, wanted{revision: c.Revision, at: c.At})
}

// want owes the entity a reload up to w.revision. One goroutine per entity
// applies them, each reload starting after the change was heard, so that a
// reload that began before a write never stands for it.
func (s *Syncer) want(entityID string, w wanted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.pending[entityID]; ok {
		if cur.revision > w.revision {
			w.revision = cur.revision
		}
		if !cur.at.IsZero() && (w.at.IsZero() || cur.at.Before(w.at)) {
			w.at = cur.at // the lag of the oldest change covered
		}
		w.sweep = w.sweep && cur.sweep
	}
	s.pending[entityID] = w
	if !s.running[entityID] {
		s.running[entityID] = true
		go s.apply(entityID)
	}
}

// apply reloads an entity until nothing more is owed to it.
func (s *Syncer) apply(entityID string) {
	for {
		s.mu.Lock()
		w, ok := s.pending[entityID]
		delete(s.pending, entityID)
		if !ok {
			delete(s.running, entityID)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if held, ok := s.engine.Held(entityID); !ok || held >= w.revision {
			continue
		}
		s.slots <- struct{}{}
		ctx, cancel := context.WithTimeout(*s.ctx.Load(), 10*time.Second)
		err := s.engine.Refresh(ctx, entityID)
		cancel()
		<-s.slots
		if w.sweep {
			s.sweepReloads.Add(1)
		} else {
			s.notifiedReloads.Add(1)
		}
		if err != nil {
			s.reloadErrors.Add(1)
			s.log.Warn("reload of a changed entity failed; it loads again on its next check", "entity_id", entityID, "error", err)
			continue
		}
		if !w.at.IsZero() {
			s.observeLag(time.Since(w.at))
		}
	}
}

func (s *Syncer) observeLag(d time.Duration) {
	sec := d.Seconds()
	if sec < 0 {
		sec = 0 // clocks of different machines
	}
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	s.lagCount++
	s.lagSum += sec
	for i, b := range LagBuckets {
		if sec <= b {
			s.lagCounts[i]++
		}
	}
}

// SweepSoon asks for a sweep now rather than at the next tick.
func (s *Syncer) SweepSoon() {
	select {
	case s.sweep <- struct{}{}:
	default:
	}
}

func (s *Syncer) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var failingSince, lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sweep:
		}
		err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Logged when it starts failing, then once a minute.
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(lastLog) >= time.Minute {
				lastLog = time.Now()
				s.log.Warn("revision sweep failed; trying again at each interval", "error", err,
					"failing_for", time.Since(failingSince).Round(time.Second).String())
			}
		case !failingSince.IsZero():
			s.log.Info("revision sweep works again", "failed_for", time.Since(failingSince).Round(time.Second).String())
			failingSince, lastLog = time.Time{}, time.Time{}
		}
	}
}

// Sweep compares the revisions of the entities held with the store's and
// reloads those that moved (dropping those deleted or made anew). It also
// reads those the changes feed waits on, and wakes their waiters when the
// store's revision moved past what they read, or the entity is gone.
func (s *Syncer) Sweep(ctx context.Context) error {
	s.sweeps.Add(1)
	held := s.engine.Loaded()
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	var watched map[string]int64
	if w := s.waits.Load(); w != nil {
		watched = w.watched()
		for id := range watched {
			if _, ok := held[id]; !ok {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	for len(ids) > 0 {
		n := min(len(ids), sweepBatch)
		batch := ids[:n]
		ids = ids[n:]
		var revs map[string]int64
		err := s.store.View(ctx, func(tx Tx) (err error) {
			revs, err = tx.EntityRevisions(batch)
			return err
		})
		if err != nil {
			s.sweepErrors.Add(1)
			return err
		}
		for _, id := range batch {
			stored, exists := revs[id]
			if seen, ok := watched[id]; ok && seen > 0 && (!exists || stored != seen) {
				s.waits.Load().signal(id, 0)
			}
			h, ok := held[id]
			if !ok {
				continue // only waited on
			}
			switch {
			case exists && stored > h:
				s.want(id, wanted{revision: stored, sweep: true})
			case exists && stored < h, !exists && h > 0:
				// Made anew under the same id, or deleted: what is held
				// is newer than what is stored, so it cannot be refreshed.
				s.engine.Forget(id)
				s.sweepReloads.Add(1)
				s.tell(id, stored, exists)
			}
		}
	}
	return nil
}

// OnEntityChange registers fn to hear of every change another instance
// published (exists true: the entity may also have been deleted, or deleted
// and made again, since) and of every entity the sweep finds deleted
// (exists false) or made anew (its revision went back). The token verifier
// forgets what it holds of such entities.
func (s *Syncer) OnEntityChange(fn func(entityID string, revision int64, exists bool)) {
	if s != nil {
		s.onChange.Store(&fn)
	}
}

func (s *Syncer) tell(entityID string, revision int64, exists bool) {
	if fn := s.onChange.Load(); fn != nil {
		(*fn)(entityID, revision, exists)
	}
}

// Stats returns the Syncer's counters.
func (s *Syncer) Stats() SyncStats {
	return SyncStats{Published: s.published.Load(), PublishErrors: s.publishErrors.Load(), Dropped: s.dropped.Load(),
		Received: s.received.Load(), ReloadErrors: s.reloadErrors.Load(), Sweeps: s.sweeps.Load(),
		SweepErrors: s.sweepErrors.Load(), Subscribed: s.subscribed.Load(),
		Reloads: map[string]int64{"notification": s.notifiedReloads.Load(), "sweep": s.sweepReloads.Load()}}
}

// Lag returns the notification lag histogram.
func (s *Syncer) Lag() LagHistogram {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	return LagHistogram{Count: s.lagCount, Sum: s.lagSum, Buckets: LagBuckets, Counts: append([]uint64(nil), s.lagCounts...)}
}

// watch makes what is heard and swept wake the changes feed's waiters.
func (s *Syncer) watch(w *waiters) {
	if s != nil {
		s.waits.Store(w)
	}
}

// HasNotifier reports whether changes travel between instances by messages
// (else only the sweep keeps them in step).
func (s *Syncer) HasNotifier() bool { return s.notifier != nil }

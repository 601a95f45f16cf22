package policy

import (
	"context"
	"sync"
	"time"

	"github.com/rolegate/rolegate"
)

// The changes feed: what changed in an entity after a revision, read from the
// change log (the items each write logged, feeditems.go), one page at a
// time, waiting up to a bound for a write when nothing is newer (long poll).
// A waiter holds no database connection: it is woken by the revision signals
// this instance already has (its own commits, the changes other instances
// publish, the revision sweep) and then reads the log again.

// MaxChangesWait is the longest a Changes call waits for a write.
const MaxChangesWait = 25 * time.Second

// MaxChangesLimit is the largest page of the feed.
const MaxChangesLimit = 1000

// The default bounds on waiting Changes calls.
const (
	DefaultMaxChangeWaiters          = 1000
	DefaultMaxChangeWaitersPerEntity = 100
	DefaultMaxChangeWaitersPerCaller = 25
)

// ChangesQuery asks for the changes after a revision.
type ChangesQuery struct {
	Since int64         // the revision the caller has seen (0: none)
	Limit int           // most items (1..MaxChangesLimit; 0: 100)
	Wait  time.Duration // how long to wait for a write when nothing is newer (at most MaxChangesWait)
}

// ChangesPage is one page of the feed.
type ChangesPage struct {
	Items []ChangeItem
	// Revision is what the caller passes as the next Since: the entity's
	// revision when HasMore is false, else the last revision in Items.
	Revision int64
	HasMore  bool
	// Busy says the call could not wait, as too many calls were waiting
	// already: it answered at once.
	Busy bool
}

// ChangeReader reads the change log for the feed. Stores that keep a change
// log implement it.
type ChangeReader interface {
	// ReadChangeItems returns the entity's current revision and incarnation;
	// when the revision is past after by 1 to window, it also calls each
	// with the log entries of the revisions after `after`, in order (at most
	// maxRows of them) until each returns false. items is nil for an entry
	// logged without them. ErrNotFound for an unknown entity.
	ReadChangeItems(ctx context.Context, entityID string, after int64, window, maxRows int,
		each func(rev int64, items []byte) bool) (revision int64, incarnation string, err error)
}

// Changes returns the changes of the entity after q.Since. Nothing newer and
// q.Wait > 0: it waits for a write (or the entity's deletion) up to q.Wait,
// then answers with no items and the current revision. Guarded as the audit
// log is. Errors: 404 for an unknown entity, 422 unknown_revision for a
// revision the entity has not reached, 410 changes_expired when the log no
// longer reaches back to q.Since+1; ctx's error when it ends while waiting.
func (s *Service) Changes(ctx context.Context, entityID string, q ChangesQuery) (ChangesPage, error) {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectAuditEvent, ActionRead); err != nil {
		return ChangesPage{}, err
	}
	if q.Since < 0 {
		return ChangesPage{}, rolegate.Invalid("invalid_since", "since", "since must be an integer >= 0")
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxChangesLimit)
	q.Wait = min(q.Wait, MaxChangesWait)
	reader, ok := s.store.(ChangeReader)
	if !ok {
		return ChangesPage{}, rolegate.Errorf(rolegate.KindNotFound, "changes_unavailable", "this store keeps no change log")
	}
	var deadline time.Time
	if q.Wait > 0 {
		deadline = time.Now().Add(q.Wait)
	}
	who := ActorFrom(ctx).ID
	first, incarnation := true, ""
	busy, told := false, int64(0)
	for {
		// Join the waiters before reading, so that a write committed after
		// the read wakes this call.
		var w *waitSet
		if !deadline.IsZero() && !busy {
			var got joined
			w, got = s.waits.join(entityID, who)
			switch {
			case got == joinOverShare && first:
				// One caller may not take every slot of an entity.
				return ChangesPage{}, rolegate.Errorf(rolegate.KindTooMany, "rate_limited",
					"this caller already holds %d waiting calls of the changes feed of entity %q: wait for one to end, or poll without wait", s.waits.maxPerCaller, entityID)
			case got != joinOK:
				busy = true
			}
		}
		page, inc, err := s.readChanges(ctx, reader, entityID, q)
		if !first && (rolegate.IsNotFound(err) || (inc != "" && inc != incarnation)) {
			// Deleted (and maybe made again) while waiting: the caller's
			// revisions are of the entity that went.
			s.waits.leave(entityID, who, w)
			return gone(q.Since, told), nil
		}
		if err != nil {
			s.waits.leave(entityID, who, w)
			if rolegate.IsNotFound(err) {
				return ChangesPage{}, EntityNotFound(entityID)
			}
			return ChangesPage{}, err
		}
		first, incarnation = false, inc
		page.Busy = busy && page.Revision == q.Since // answered empty, without waiting
		if page.Revision > q.Since || w == nil {
			s.waits.leave(entityID, who, w)
			return page, nil
		}
		s.waits.saw(w, page.Revision)
		woke, err := s.waits.wait(ctx, w, deadline)
		s.waits.leave(entityID, who, w)
		if err != nil {
			return ChangesPage{}, err
		}
		if !woke {
			return page, nil // waited long enough, or shutting down
		}
		told = max(told, w.told) // written before w was signalled

	}
}

// cut marks a page that more follow: the caller goes on from its last
// item's revision (or, when it holds none, past the empty revisions read).
func (p ChangesPage) cut() ChangesPage {
	p.HasMore = true
	if n := len(p.Items); n > 0 {
		p.Revision = p.Items[n-1].Revision
	}
	return p
}

// gone is the answer to a caller waiting on an entity that was deleted; told
// is the revision of the deletion when a signal named it.
func gone(since, told int64) ChangesPage {
	rev := max(since+1, told)
	return ChangesPage{Items: []ChangeItem{{Revision: rev, Type: ItemEntity, Op: ItemDelete}}, Revision: rev}
}

// readChanges reads one page of the log after q.Since, and the entity's
// incarnation (also with a 410 or 422, so that a waiter tells a deleted and
// remade entity from a bad revision).
func (s *Service) readChanges(ctx context.Context, reader ChangeReader, entityID string, q ChangesQuery) (ChangesPage, string, error) {
	var page ChangesPage
	page.Revision = q.Since
	next := q.Since + 1 // the first revision not yet accounted for
	rows, full := 0, false
	var decodeErr error
	// An entry with no items (a write that changed nothing) takes no room,
	// so limit+1 entries are read at most: enough to fill a page and know
	// whether more follow.
	rev, inc, err := reader.ReadChangeItems(ctx, entityID, q.Since, ChangeLogKeep, q.Limit+1, func(r int64, b []byte) bool {
		// A revision is never cut: it goes whole into this page or the next
		// (a page holds at least one).
		fits := func(n int) bool { return len(page.Items) == 0 || len(page.Items)+n <= q.Limit }
		if r > next {
			// Revisions the log holds no entry of (written by an older
			// version): refetch everything.
			if !fits(1) {
				full = true
				return false
			}
			page.Items = append(page.Items, ChangeItem{Revision: r - 1, Type: ItemEntity, Op: ItemPut})
			page.Revision, next = r-1, r
		}
		var items []ChangeItem
		if b == nil {
			items = []ChangeItem{{Revision: r, Type: ItemEntity, Op: ItemPut}}
		} else {
			var err error
			if items, err = DecodeItems(r, b); err != nil {
				decodeErr = err
				return false
			}
		}
		if !fits(len(items)) {
			full = true
			return false
		}
		rows++
		page.Items = append(page.Items, items...)
		page.Revision, next = r, r+1
		return true
	})
	switch {
	case err != nil:
		return ChangesPage{}, "", err
	case decodeErr != nil:
		return ChangesPage{}, inc, decodeErr
	case q.Since > rev:
		return ChangesPage{}, inc, rolegate.Invalid("unknown_revision", "since",
			"since %d is newer than any revision of entity %q (%d): pass back a revision the feed or a write returned", q.Since, entityID, rev)
	case rev-q.Since > ChangeLogKeep:
		return ChangesPage{}, inc, rolegate.Errorf(rolegate.KindGone, "changes_expired",
			"the change log of entity %q no longer reaches back to revision %d: fetch everything again, then follow the feed from revision %d", entityID, q.Since+1, rev)
	case full, rows == q.Limit+1 && next <= rev:
		return page.cut(), inc, nil
	}
	if next <= rev {
		// No entry for the last revisions: refetch everything.
		if len(page.Items) >= q.Limit {
			return page.cut(), inc, nil
		}
		page.Items = append(page.Items, ChangeItem{Revision: rev, Type: ItemEntity, Op: ItemPut})
	}
	page.Revision = rev
	return page, inc, nil
}

// waiters are the Changes calls waiting for a write, per entity, within
// bounds: a call that finds them full answers at once instead of waiting,
// one whose caller holds its share of the entity's already is refused.
// signal wakes every waiter of an entity.
type waiters struct {
	maxTotal, maxPerEntity, maxPerCaller int

	mu       sync.Mutex
	byEntity map[string]*waitSet
	byCaller map[callerWait]int // waiting calls per caller and entity
	total    int
	closed   bool
	done     chan struct{} // closed when the service stops waiting (shutdown)
}

// waitSet is the waiters of one entity until the next signal.
type waitSet struct {
	ch chan struct{} // closed by signal
	n  int
	// seen is the lowest revision its waiters read (0: none yet): the sweep
	// wakes them when the store's moved past it.
	seen int64
	// told is the revision signal named (0: not known); written before ch
	// is closed.
	told int64
}

// callerWait keys a caller's waiting calls on one entity: the caller is the
// token's subject (Actor.ID: "client:<id>", "user:<id>", "admin").
type callerWait struct{ entity, caller string }

// joined is what join made of a call.
type joined int

const (
	joinOK        joined = iota
	joinBusy             // the bounds are reached or the service stops waiting
	joinOverShare        // the caller holds its share of the entity's waiters
)

func newWaiters(maxTotal, maxPerEntity, maxPerCaller int) *waiters {
	if maxTotal <= 0 {
		maxTotal = DefaultMaxChangeWaiters
	}
	if maxPerEntity <= 0 {
		maxPerEntity = DefaultMaxChangeWaitersPerEntity
	}
	if maxPerCaller <= 0 {
		maxPerCaller = DefaultMaxChangeWaitersPerCaller
	}
	return &waiters{maxTotal: maxTotal, maxPerEntity: maxPerEntity, maxPerCaller: maxPerCaller,
		byEntity: map[string]*waitSet{}, byCaller: map[callerWait]int{}, done: make(chan struct{})}
}

// join adds a waiter of the entity for the caller, unless the bounds are
// reached, the service stops waiting or the caller holds its share.
func (w *waiters) join(entityID, caller string) (*waitSet, joined) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.total >= w.maxTotal {
		return nil, joinBusy
	}
	key := callerWait{entityID, caller}
	if w.byCaller[key] >= w.maxPerCaller {
		return nil, joinOverShare
	}
	ws := w.byEntity[entityID]
	if ws == nil {
		ws = &waitSet{ch: make(chan struct{})}
		w.byEntity[entityID] = ws
	}
	if ws.n >= w.maxPerEntity {
		return nil, joinBusy
	}
	ws.n++
	w.total++
	w.byCaller[key]++
	return ws, joinOK
}

// leave removes a waiter join added for the caller (nil: none).
func (w *waiters) leave(entityID, caller string, ws *waitSet) {
	if ws == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ws.n--
	w.total--
	if ws.n == 0 && w.byEntity[entityID] == ws {
		delete(w.byEntity, entityID)
	}
	key := callerWait{entityID, caller}
	if w.byCaller[key]--; w.byCaller[key] <= 0 {
		delete(w.byCaller, key)
	}
}

// saw records the revision a waiter read before waiting.
func (w *waiters) saw(ws *waitSet, rev int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ws.seen == 0 || rev < ws.seen {
		ws.seen = rev
	}
}

// wait blocks until the entity is signalled (true), the deadline passes or
// the service stops waiting (false), or ctx ends (its error).
func (w *waiters) wait(ctx context.Context, ws *waitSet, deadline time.Time) (bool, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ws.ch:
		return true, nil
	case <-t.C:
		return false, nil
	case <-w.done:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// signal wakes the waiters of the entity: a write committed (rev, 0 when
// not known), or the entity is gone.
func (w *waiters) signal(entityID string, rev int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.byEntity[entityID]
	if ws == nil {
		return
	}
	delete(w.byEntity, entityID)
	ws.told = rev
	close(ws.ch)
}

// watched returns the entities waited on and the lowest revision their
// waiters read (0: not read yet).
func (w *waiters) watched() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int64, len(w.byEntity))
	for id, ws := range w.byEntity {
		out[id] = ws.seen
	}
	return out
}

// count returns how many calls wait.
func (w *waiters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total
}

// stop ends every wait and refuses new ones.
func (w *waiters) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.done)
	}
}

// StopWaiting ends every Changes call waiting for a write (they answer at
// once) and makes new ones answer without waiting: the first step of a
// shutdown, so that long polls do not hold it up.
func (s *Service) StopWaiting() { s.waits.stop() }

// ChangeWaiters returns how many Changes calls wait for a write.
func (s *Service) ChangeWaiters() int { return s.waits.count() }

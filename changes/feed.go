package changes

import (
	"context"
	"sync"
	"time"

	"github.com/rolegate/rolegate"
)

// The changes feed: what changed in an entity after a revision, read from the
// log's items one page at a time, waiting up to a bound for a write when
// nothing is newer (long poll). A waiter holds no database connection: the
// revision signals this instance already has wake it (its own commits,
// other instances' changes, the sweep), and it reads the log again.

// MaxWait is the longest a feed call waits for a write.
const MaxWait = 25 * time.Second

// MaxLimit is the largest page of the feed.
const MaxLimit = 1000

// The default bounds on waiting feed calls.
const (
	DefaultMaxWaiters          = 1000
	DefaultMaxWaitersPerEntity = 100
	DefaultMaxWaitersPerCaller = 25
)

// Query asks for the changes after a revision.
type Query struct {
	Since int64         // the revision the caller has seen (0: none)
	Limit int           // most items (1..MaxLimit; 0: 100)
	Wait  time.Duration // how long to wait for a write when nothing is newer (at most MaxWait)
}

// Page is one page of the feed.
type Page struct {
	Items []Item
	// Revision is what the caller passes as the next Since: the entity's
	// revision when HasMore is false, else the last revision in Items.
	Revision int64
	HasMore  bool
	// Busy says the call could not wait, too many calls waiting already: it
	// answered at once.
	Busy bool
}

// ItemReader reads the log's items for the feed. Stores that keep a change
// log implement it.
type ItemReader interface {
	// ReadChangeItems returns the entity's current revision and incarnation;
	// when the revision is past after by 1 to window, it also calls each
	// with the log entries of the revisions after `after`, in order (at most
	// maxRows of them) until each returns false. items is nil for an entry
	// logged without them. ErrNotFound for an unknown entity.
	ReadChangeItems(ctx context.Context, entityID string, after int64, window, maxRows int,
		each func(rev int64, items []byte) bool) (revision int64, incarnation string, err error)
}

// Feed serves the changes feed and holds its waiting calls. Signal wakes
// them; a Syncer watching it wakes them on other instances' changes too.
type Feed struct {
	waits *waiters
}

// NewFeed returns a feed whose waiting calls are bounded in all, per entity
// and per caller on one entity (0: the defaults).
func NewFeed(maxWaiters, maxPerEntity, maxPerCaller int) *Feed {
	return &Feed{waits: newWaiters(maxWaiters, maxPerEntity, maxPerCaller)}
}

// Changes returns the changes of the entity after q.Since, read from r (nil:
// the store keeps no log). Nothing newer and q.Wait > 0: it waits for a
// write (or the entity's deletion) up to q.Wait, then answers with no items
// and the current revision. caller names who asks, for its share of the
// waiters. Errors: the store's not-found for an unknown entity, 422
// unknown_revision for a revision the entity has not reached, 410
// changes_expired when the log no longer reaches back to q.Since+1; ctx's
// error when it ends while waiting.
func (f *Feed) Changes(ctx context.Context, r ItemReader, entityID, caller string, q Query) (Page, error) {
	if q.Since < 0 {
		return Page{}, rolegate.Invalid("invalid_since", "since", "since must be an integer >= 0")
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxLimit)
	q.Wait = min(q.Wait, MaxWait)
	if r == nil {
		return Page{}, rolegate.Errorf(rolegate.KindNotFound, "changes_unavailable", "this store keeps no change log")
	}
	var deadline time.Time
	if q.Wait > 0 {
		deadline = time.Now().Add(q.Wait)
	}
	first, incarnation := true, ""
	busy, told := false, int64(0)
	for {
		// Join the waiters before reading, so that a write committed after
		// the read wakes this call.
		var w *waitSet
		if !deadline.IsZero() && !busy {
			var got joined
			w, got = f.waits.join(entityID, caller)
			switch {
			case got == joinOverShare && first:
				// One caller may not take every slot of an entity.
				return Page{}, rolegate.Errorf(rolegate.KindTooMany, "rate_limited",
					"this caller already holds %d waiting calls of the changes feed of entity %q: wait for one to end, or poll without wait", f.waits.maxPerCaller, entityID)
			case got != joinOK:
				busy = true
			}
		}
		page, inc, err := readPage(ctx, r, entityID, q)
		if !first && (rolegate.IsNotFound(err) || (inc != "" && inc != incarnation)) {
			// Deleted (and maybe made again) while waiting: the caller's
			// revisions are of the entity that went.
			f.waits.leave(entityID, caller, w)
			return gone(q.Since, told), nil
		}
		if err != nil {
			f.waits.leave(entityID, caller, w)
			return Page{}, err
		}
		first, incarnation = false, inc
		page.Busy = busy && page.Revision == q.Since // answered empty, without waiting
		if page.Revision > q.Since || w == nil {
			f.waits.leave(entityID, caller, w)
			return page, nil
		}
		f.waits.saw(w, page.Revision)
		woke, err := f.waits.wait(ctx, w, deadline)
		f.waits.leave(entityID, caller, w)
		if err != nil {
			return Page{}, err
		}
		if !woke {
			return page, nil // waited long enough, or shutting down
		}
		told = max(told, w.told) // written before w was signalled
	}
}

// Signal wakes the waiters of the entity: a write committed (rev, 0 when not
// known), or the entity is gone.
func (f *Feed) Signal(entityID string, rev int64) { f.waits.signal(entityID, rev) }

// Stop ends every waiting call (they answer at once) and makes new ones
// answer without waiting: the first step of a shutdown.
func (f *Feed) Stop() { f.waits.stop() }

// Waiters returns how many calls wait for a write.
func (f *Feed) Waiters() int { return f.waits.count() }

// cut marks a page that more follow: the caller goes on from its last
// item's revision (or, when it holds none, past the empty revisions read).
func (p Page) cut() Page {
	p.HasMore = true
	if n := len(p.Items); n > 0 {
		p.Revision = p.Items[n-1].Revision
	}
	return p
}

// gone is the answer to a caller waiting on an entity that was deleted; told
// is the revision of the deletion when a signal named it.
func gone(since, told int64) Page {
	rev := max(since+1, told)
	return Page{Items: []Item{{Revision: rev, Type: ItemEntity, Op: ItemDelete}}, Revision: rev}
}

// readPage reads one page of the log after q.Since, and the entity's
// incarnation (also with a 410 or 422, so that a waiter tells a deleted and
// remade entity from a bad revision).
func readPage(ctx context.Context, reader ItemReader, entityID string, q Query) (Page, string, error) {
	var page Page
	page.Revision = q.Since
	next := q.Since + 1 // the first revision not yet accounted for
	rows, full := 0, false
	var decodeErr error
	// An entry with no items (a write that changed nothing) takes no room,
	// so limit+1 entries are read at most: enough to fill a page and know
	// whether more follow.
	rev, inc, err := reader.ReadChangeItems(ctx, entityID, q.Since, Keep, q.Limit+1, func(r int64, b []byte) bool {
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
			page.Items = append(page.Items, Item{Revision: r - 1, Type: ItemEntity, Op: ItemPut})
			page.Revision, next = r-1, r
		}
		var items []Item
		if b == nil {
			items = []Item{{Revision: r, Type: ItemEntity, Op: ItemPut}}
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
		return Page{}, "", err
	case decodeErr != nil:
		return Page{}, inc, decodeErr
	case q.Since > rev:
		return Page{}, inc, rolegate.Invalid("unknown_revision", "since",
			"since %d is newer than any revision of entity %q (%d): pass back a revision the feed or a write returned", q.Since, entityID, rev)
	case rev-q.Since > Keep:
		return Page{}, inc, rolegate.Errorf(rolegate.KindGone, "changes_expired",
			"the change log of entity %q no longer reaches back to revision %d: fetch everything again, then follow the feed from revision %d", entityID, q.Since+1, rev)
	case full, rows == q.Limit+1 && next <= rev:
		return page.cut(), inc, nil
	}
	if next <= rev {
		// No entry for the last revisions: refetch everything.
		if len(page.Items) >= q.Limit {
			return page.cut(), inc, nil
		}
		page.Items = append(page.Items, Item{Revision: rev, Type: ItemEntity, Op: ItemPut})
	}
	page.Revision = rev
	return page, inc, nil
}

// waiters are the feed calls waiting for a write, per entity, within
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
	done     chan struct{} // closed when the feed stops waiting (shutdown)
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
	joinBusy             // the bounds are reached or the feed stops waiting
	joinOverShare        // the caller holds its share of the entity's waiters
)

func newWaiters(maxTotal, maxPerEntity, maxPerCaller int) *waiters {
	if maxTotal <= 0 {
		maxTotal = DefaultMaxWaiters
	}
	if maxPerEntity <= 0 {
		maxPerEntity = DefaultMaxWaitersPerEntity
	}
	if maxPerCaller <= 0 {
		maxPerCaller = DefaultMaxWaitersPerCaller
	}
	return &waiters{maxTotal: maxTotal, maxPerEntity: maxPerEntity, maxPerCaller: maxPerCaller,
		byEntity: map[string]*waitSet{}, byCaller: map[callerWait]int{}, done: make(chan struct{})}
}

// join adds a waiter of the entity for the caller, unless the bounds are
// reached, the feed stops waiting or the caller holds its share.
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
// the feed stops waiting (false), or ctx ends (its error).
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

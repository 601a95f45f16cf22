package changes

import (
	"context"
	"time"
)

// The change log: every write appends, in its own transaction, what it
// changed in the entity's policy (the engine's delta, encoded) under the
// revision it took the entity to, and the items it touched (feeditems.go).
// An instance holding an older revision applies the entries after it instead
// of reloading; it reloads in full when the log does not reach back (entries
// trimmed, a revision written without one, or an EntryReload: an entity made
// or repaired by the doctor, a change too large to carry).

// Entry is one entry of the change log.
type Entry struct {
	EntityID string
	Revision int64
	Kind     string // EntryDelta or EntryReload
	Payload  []byte // the encoded delta (EntryDelta)
	At       time.Time
	// Items are what the write touched, encoded; nil in entries logged
	// before they were kept. The feed reads them; catching up does not.
	Items []byte
}

// The kinds of entries.
const (
	// EntryDelta carries the write's delta.
	EntryDelta = "delta"
	// EntryReload marks a change too large to carry (or not a delta):
	// readers reload the entity in full.
	EntryReload = "reload"
)

// Keep is how many revisions of an entity the log keeps; a write trims what
// is older.
const Keep = 1000

// maxPayload bounds a logged delta; a larger change is logged as EntryReload.
const maxPayload = 256 << 10

// LogStore appends to the change log, inside a write's transaction.
type LogStore interface {
	// AppendPolicyChange appends an entry and removes the entity's entries
	// older than its last keep revisions.
	AppendPolicyChange(c Entry, keep int) error
}

// LogReader reads the change log. Stores that keep one implement it; the
// engine catches up from it when its loader does.
type LogReader interface {
	// PolicyChanges returns the entity's current revision and creation time,
	// and the logged changes of the revisions after `after` up to the
	// current one, in order (at most max of them; none when more than max
	// revisions separate them). ErrNotFound for an unknown entity.
	PolicyChanges(ctx context.Context, entityID string, after int64, max int) (revision int64, created time.Time, changes []Entry, err error)
}

// Append logs a write: payload is its encoded delta, nil when it cannot be
// carried as one (readers reload); t is what it touched.
func Append(tx LogStore, entityID string, rev int64, now time.Time, payload []byte, t *Touched) error {
	items, err := encodeItems(t.items, t.all)
	if err != nil {
		return err
	}
	c := Entry{EntityID: entityID, Revision: rev, Kind: EntryReload, At: now, Items: items}
	if payload != nil && len(payload) <= maxPayload {
		c.Kind, c.Payload = EntryDelta, payload
	}
	return tx.AppendPolicyChange(c, Keep)
}

// Deltas returns the logged deltas that take an entity held at revision
// held (made at created) to the store's current revision, in order. ok is
// false when the log cannot: unknown now, made anew under the same id, or an
// entry missing or not a delta. The caller then reloads in full.
func Deltas(ctx context.Context, log LogReader, entityID string, held int64, created time.Time) (deltas [][]byte, ok bool) {
	rev, made, entries, err := log.PolicyChanges(ctx, entityID, held, Keep)
	if err != nil || !made.Equal(created) || rev < held {
		return nil, false
	}
	next := held
	for _, c := range entries {
		if c.Revision != next+1 || c.Kind != EntryDelta {
			return nil, false
		}
		deltas = append(deltas, c.Payload)
		next = c.Revision
	}
	if next != rev {
		return nil, false
	}
	return deltas, true
}

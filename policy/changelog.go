package policy

import (
	"context"
	"time"

	"github.com/rolegate/rolegate/engine"
)

// The change log: every write through the Service appends, in its own
// transaction, what it changed in the entity's policy (its Delta) under the
// revision it took the entity to. An instance holding an older revision reads
// the entries after it and applies them in order instead of reloading the
// entity; it reloads in full only when the log does not reach back (entries
// trimmed, a revision written without one, or one marked ChangeReload: an
// entity made or repaired by the doctor, a change too large to carry). Each
// entry also carries what the write touched (feeditems.go): the changes feed
// for clients (feed.go) reads those.

// PolicyChange is one entry of the change log.
type PolicyChange struct {
	EntityID string
	Revision int64
	Kind     string // ChangeDelta or ChangeReload
	Payload  []byte // the Delta, encoded (ChangeDelta)
	At       time.Time
	// Items are what the write touched (roles, users, assignments: see
	// feeditems.go), encoded; nil in entries logged before they were kept.
	// The changes feed reads them; catching up does not.
	Items []byte
}

// The kinds of change log entries.
const (
	// ChangeDelta carries the write's Delta.
	ChangeDelta = "delta"
	// ChangeReload marks a change too large to carry (or not expressible as a
	// delta): readers reload the entity in full.
	ChangeReload = "reload"
)

// ChangeLogKeep is how many revisions of an entity the log keeps; a write
// trims what is older.
const ChangeLogKeep = 1000

// maxChangePayload bounds a logged delta; a larger change is logged as
// ChangeReload.
const maxChangePayload = 256 << 10

// ChangeLog reads the change log. Stores that keep one implement it; the
// engine uses it when its loader does.
type ChangeLog interface {
	// PolicyChanges returns the entity's current revision and creation time,
	// and the logged changes of the revisions after `after` up to the
	// current one, in order (at most max of them; none when more than max
	// revisions separate them). ErrNotFound for an unknown entity.
	PolicyChanges(ctx context.Context, entityID string, after int64, max int) (revision int64, created time.Time, changes []PolicyChange, err error)
}

// logChange appends a write's delta and the items it touched to the change
// log, inside its transaction.
func logChange(tx Tx, entityID string, rev int64, now time.Time, d engine.Delta, t *touched) error {
	items, err := encodeItems(t.items, t.all)
	if err != nil {
		return err
	}
	c := PolicyChange{EntityID: entityID, Revision: rev, Kind: ChangeReload, At: now, Items: items}
	if !d.Full {
		b, err := d.Encode()
		if err != nil {
			return err
		}
		if len(b) <= maxChangePayload {
			c.Kind, c.Payload = ChangeDelta, b
		}
	}
	return tx.AppendPolicyChange(c, ChangeLogKeep)
}

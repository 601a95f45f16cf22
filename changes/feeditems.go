package changes

import (
	"encoding/json"
	"fmt"

	"github.com/rolegate/rolegate"
)

// What a write touched, for the changes feed. The service's recorder notes,
// from the very store calls a write makes, each role, user and assignment it
// stored or removed; Append logs the list with the write's revision, so that
// a client following the feed learns what to fetch again. A role with no
// rules or a user's new email show there although no rule changed.

// The types and ops of feed items.
const (
	ItemRole       = "role"
	ItemUser       = "user"
	ItemAssignment = "assignment"
	// ItemEntity with ItemPut: refetch everything of the entity (a change
	// the log does not detail); with ItemDelete: the entity is gone.
	ItemEntity = "entity"

	ItemPut    = "put"
	ItemDelete = "delete"
)

// maxItems bounds the items of one revision: a write touching more is logged
// as one entity put, so that a revision always fits the largest page.
const maxItems = 1000

// Item is one object a write touched.
type Item struct {
	Revision int64
	Type     string // ItemRole, ItemUser, ItemAssignment, ItemEntity
	Op       string // ItemPut, ItemDelete
	UserID   string // users and assignments
	RoleID   string // roles and assignments
	Scope    string // scoped assignments
}

// storedItem is an Item as the log keeps it (its revision is the entry's).
type storedItem struct {
	T string `json:"t"`
	O string `json:"o"`
	U string `json:"u,omitempty"`
	R string `json:"r,omitempty"`
	S string `json:"s,omitempty"`
}

type itemKey struct{ typ, user, role, scope string }

// Touched collects the items of one write: one per object, its last op, in
// the order the objects were first touched.
type Touched struct {
	items []Item
	index map[itemKey]int
	// all: too many to list, or the whole entity changed.
	all bool
}

// Add notes an object the write stored (ItemPut) or removed (ItemDelete).
func (t *Touched) Add(typ, op, user, role, scope string) {
	if t.all {
		return
	}
	k := itemKey{typ, user, role, scope}
	if i, ok := t.index[k]; ok {
		t.items[i].Op = op
		return
	}
	if len(t.items) >= maxItems {
		t.Everything()
		return
	}
	if t.index == nil {
		t.index = map[itemKey]int{}
	}
	t.index[k] = len(t.items)
	t.items = append(t.items, Item{Type: typ, Op: op, UserID: user, RoleID: role, Scope: scope})
}

// Everything marks the write as one that changed the whole entity.
func (t *Touched) Everything() { t.all, t.items, t.index = true, nil, nil }

// Role notes a role stored; one no longer active is a delete.
func (t *Touched) Role(r *rolegate.Role) {
	op := ItemPut
	if r.Status != rolegate.StatusActive {
		op = ItemDelete
	}
	t.Add(ItemRole, op, "", r.ID, "")
}

// Assignment notes an assignment stored or removed.
func (t *Touched) Assignment(a *rolegate.Assignment, op string) {
	t.Add(ItemAssignment, op, a.UserID, a.RoleID, a.Scope)
}

// encodeItems returns what the log keeps of a write's items.
func encodeItems(items []Item, all bool) ([]byte, error) {
	out := make([]storedItem, 0, len(items))
	if all {
		out = append(out, storedItem{T: ItemEntity, O: ItemPut})
	}
	for _, it := range items {
		out = append(out, storedItem{T: it.Type, O: it.Op, U: it.UserID, R: it.RoleID, S: it.Scope})
	}
	return json.Marshal(out)
}

// EntityItems is the logged items of a revision that changed (or made) the
// whole entity.
func EntityItems() []byte {
	b, _ := encodeItems(nil, true)
	return b
}

// DecodeItems reads the items of one log entry at revision rev.
func DecodeItems(rev int64, b []byte) ([]Item, error) {
	var in []storedItem
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode change items: %w", err)
	}
	out := make([]Item, 0, len(in))
	for _, s := range in {
		if s.T == ItemEntity {
			return []Item{{Revision: rev, Type: ItemEntity, Op: s.O}}, nil
		}
		out = append(out, Item{Revision: rev, Type: s.T, Op: s.O, UserID: s.U, RoleID: s.R, Scope: s.S})
	}
	return out, nil
}

package policy

import (
	"encoding/json"
	"fmt"

	"github.com/rolegate/rolegate"
)

// What a write touched, for the changes feed. The Service's recorder notes,
// from the very Tx calls a write makes, each role, user and assignment it
// stored or removed; the list goes into the change log entry of the write's
// revision, in the same transaction, so that a client following the feed
// learns which objects to fetch again. A role with no rules or a user's new
// email show there although no rule changed.

// The types and ops of feed items.
const (
	ItemRole       = "role"
	ItemUser       = "user"
	ItemAssignment = "assignment"
	// ItemEntity with ItemPut: refetch everything of the entity (a change the
	// log does not detail: too large, a repair, the entity made); with
	// ItemDelete: the entity is gone.
	ItemEntity = "entity"

	ItemPut    = "put"
	ItemDelete = "delete"
)

// maxChangeItems bounds the items of one revision: a write touching more is
// logged as one entity put (refetch everything), so that one revision always
// fits in the largest page of the feed.
const maxChangeItems = 1000

// ChangeItem is one object a write touched.
type ChangeItem struct {
	Revision int64
	Type     string // ItemRole, ItemUser, ItemAssignment, ItemEntity
	Op       string // ItemPut, ItemDelete
	UserID   string // users and assignments
	RoleID   string // roles and assignments
	Scope    string // scoped assignments
}

// storedItem is a ChangeItem as the change log keeps it (its revision is the
// entry's).
type storedItem struct {
	T string `json:"t"`
	O string `json:"o"`
	U string `json:"u,omitempty"`
	R string `json:"r,omitempty"`
	S string `json:"s,omitempty"`
}

type itemKey struct{ typ, user, role, scope string }

// touched collects the items of one write: one per object, its last op, in
// the order the objects were first touched.
type touched struct {
	items []ChangeItem
	index map[itemKey]int
	// all: too many to list, or the whole entity changed.
	all bool
}

func (t *touched) add(typ, op, user, role, scope string) {
	if t.all {
		return
	}
	k := itemKey{typ, user, role, scope}
	if i, ok := t.index[k]; ok {
		t.items[i].Op = op
		return
	}
	if len(t.items) >= maxChangeItems {
		t.everything()
		return
	}
	if t.index == nil {
		t.index = map[itemKey]int{}
	}
	t.index[k] = len(t.items)
	t.items = append(t.items, ChangeItem{Type: typ, Op: op, UserID: user, RoleID: role, Scope: scope})
}

// everything marks the write as one that changed the whole entity.
func (t *touched) everything() { t.all, t.items, t.index = true, nil, nil }

func (t *touched) role(r *rolegate.Role) {
	op := ItemPut
	if r.Status != rolegate.StatusActive {
		op = ItemDelete
	}
	t.add(ItemRole, op, "", r.ID, "")
}

func (t *touched) assignment(a *rolegate.Assignment, op string) {
	t.add(ItemAssignment, op, a.UserID, a.RoleID, a.Scope)
}

// encodeItems returns what the change log keeps of a write's items.
func encodeItems(items []ChangeItem, all bool) ([]byte, error) {
	out := make([]storedItem, 0, len(items))
	if all {
		out = append(out, storedItem{T: ItemEntity, O: ItemPut})
	}
	for _, it := range items {
		out = append(out, storedItem{T: it.Type, O: it.Op, U: it.UserID, R: it.RoleID, S: it.Scope})
	}
	return json.Marshal(out)
}

// entityItems is the log's items of a revision that changed (or made) the
// whole entity.
func entityItems() []byte {
	b, _ := encodeItems(nil, true)
	return b
}

// DecodeItems reads the items of one change log entry at revision rev.
func DecodeItems(rev int64, b []byte) ([]ChangeItem, error) {
	var in []storedItem
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode change items: %w", err)
	}
	out := make([]ChangeItem, 0, len(in))
	for _, s := range in {
		if s.T == ItemEntity {
			return []ChangeItem{{Revision: rev, Type: ItemEntity, Op: s.O}}, nil
		}
		out = append(out, ChangeItem{Revision: rev, Type: s.T, Op: s.O, UserID: s.U, RoleID: s.R, Scope: s.S})
	}
	return out, nil
}

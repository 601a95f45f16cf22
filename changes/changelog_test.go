package changes

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// memLog is a change log in memory for Append and Deltas.
type memLog struct {
	rev     int64
	created time.Time
	entries []Entry
	keep    int
}

func (l *memLog) AppendPolicyChange(c Entry, keep int) error {
	l.entries, l.keep, l.rev = append(l.entries, c), keep, c.Revision
	return nil
}

func (l *memLog) PolicyChanges(_ context.Context, entityID string, after int64, max int) (int64, time.Time, []Entry, error) {
	if entityID != "e" {
		return 0, time.Time{}, nil, fmt.Errorf("entity %q: %w", entityID, rolegate.ErrNotFound)
	}
	var out []Entry
	for _, c := range l.entries {
		if c.Revision > after && len(out) < max {
			out = append(out, c)
		}
	}
	return l.rev, l.created, out, nil
}

// TestAppend: a write's delta is logged as one while it is small enough; none
// (a write that cannot be carried as a delta) or too large is a reload.
func TestAppend(t *testing.T) {
	now := time.Unix(100, 0)
	l := &memLog{}
	var tc Touched
	tc.Add(ItemUser, ItemPut, "u1", "", "")
	for i, c := range []struct {
		payload []byte
		kind    string
	}{
		{[]byte(`{"ops":[]}`), EntryDelta},
		{nil, EntryReload},
		{make([]byte, maxPayload), EntryDelta},
		{make([]byte, maxPayload+1), EntryReload},
	} {
		rev := int64(i + 1)
		if err := Append(l, "e", rev, now, c.payload, &tc); err != nil {
			t.Fatal(err)
		}
		got := l.entries[i]
		if got.Kind != c.kind || got.Revision != rev || got.EntityID != "e" || !got.At.Equal(now) || l.keep != Keep {
			t.Fatalf("entry %d: %+v (keep %d), want kind %s", i, got, l.keep, c.kind)
		}
		if (c.kind == EntryDelta) != (got.Payload != nil) {
			t.Fatalf("entry %d: payload %d bytes with kind %s", i, len(got.Payload), got.Kind)
		}
		if items, err := DecodeItems(rev, got.Items); err != nil || !reflect.DeepEqual(short(items), []string{fmt.Sprintf("%d:user:put:u1", rev)}) {
			t.Fatalf("entry %d items: %v %v", i, short(items), err)
		}
	}
}

// TestDeltas: the logged deltas after the revision held, in order, only when
// they lead without a gap to the store's revision of the same entity.
func TestDeltas(t *testing.T) {
	ctx := context.Background()
	made := time.Unix(50, 0)
	delta := func(rev int64) Entry {
		return Entry{EntityID: "e", Revision: rev, Kind: EntryDelta, Payload: []byte(fmt.Sprint(rev))}
	}
	full := &memLog{rev: 4, created: made, entries: []Entry{delta(2), delta(3), delta(4)}}
	cases := []struct {
		name    string
		log     *memLog
		id      string
		held    int64
		created time.Time
		want    []string // nil: not from the log
	}{
		{"complete", full, "e", 1, made, []string{"2", "3", "4"}},
		{"from the middle", full, "e", 3, made, []string{"4"}},
		{"at the revision", full, "e", 4, made, []string{}},
		{"made anew", full, "e", 1, made.Add(time.Millisecond), nil},
		{"unknown", full, "x", 1, made, nil},
		{"held newer", full, "e", 5, made, nil},
		{"a gap", &memLog{rev: 4, created: made, entries: []Entry{delta(2), delta(4)}}, "e", 1, made, nil},
		{"trimmed", &memLog{rev: 4, created: made, entries: []Entry{delta(3), delta(4)}}, "e", 1, made, nil},
		{"short of the revision", &memLog{rev: 5, created: made, entries: []Entry{delta(2), delta(3)}}, "e", 1, made, nil},
		{"a reload", &memLog{rev: 3, created: made, entries: []Entry{delta(2), {EntityID: "e", Revision: 3, Kind: EntryReload}}}, "e", 1, made, nil},
	}
	for _, c := range cases {
		deltas, ok := Deltas(ctx, c.log, c.id, c.held, c.created)
		if c.want == nil {
			if ok || deltas != nil {
				t.Errorf("%s: %q %v, want none", c.name, deltas, ok)
			}
			continue
		}
		got := []string{}
		for _, d := range deltas {
			got = append(got, string(d))
		}
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q %v, want %q", c.name, got, ok, c.want)
		}
	}
}

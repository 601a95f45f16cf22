package changes

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// fakeLog is a change log in memory: the entity's revision, incarnation and
// the items logged per revision (nil: an entry without items; absent: no
// entry).
type fakeLog struct {
	rev   int64
	inc   string
	items map[int64][]byte
	reads int
	mu    sync.Mutex
}

// set changes the log under its lock (waiting calls read it).
func (f *fakeLog) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeLog) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeLog) ReadChangeItems(_ context.Context, _ string, after int64, window, maxRows int, each func(int64, []byte) bool) (int64, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.rev <= after || f.rev-after > int64(window) {
		return f.rev, f.inc, nil
	}
	n := 0
	for r := after + 1; r <= f.rev && n < maxRows; r++ {
		b, ok := f.items[r]
		if !ok {
			continue
		}
		n++
		if !each(r, b) {
			break
		}
	}
	return f.rev, f.inc, nil
}

// service calls the feed as the Service does: over one log, for one caller
// (the internal actor's unless as says).
type service struct {
	*Feed
	log    ItemReader
	caller string
}

func newService(log ItemReader, maxWaiters, maxPerEntity, maxPerCaller int) service {
	return service{Feed: NewFeed(maxWaiters, maxPerEntity, maxPerCaller), log: log, caller: "internal"}
}

func (s service) as(caller string) service { s.caller = caller; return s }

func (s service) Changes(ctx context.Context, entityID string, q Query) (Page, error) {
	return s.Feed.Changes(ctx, s.log, entityID, s.caller, q)
}

// waitWaiters waits until the feed holds n waiting calls.
func waitWaiters(t *testing.T, f *Feed, n int) {
	t.Helper()
	for start := time.Now(); f.Waiters() != n; time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d waiters, want %d", f.Waiters(), n)
		}
	}
}

func itemsJSON(t *testing.T, items ...Item) []byte {
	t.Helper()
	b, err := encodeItems(items, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// short writes items as "rev:type:op:user:role:scope" for comparing.
func short(items []Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, strings.TrimRight(fmt.Sprintf("%d:%s:%s:%s:%s:%s", it.Revision, it.Type, it.Op, it.UserID, it.RoleID, it.Scope), ":"))
	}
	return out
}

// TestFeedPages: pages are whole revisions in order, at most limit items
// (a revision larger than limit alone), the next since is the last revision
// of a cut page or the entity's revision; revisions without an entry or
// without items are "refetch everything"; empty revisions take no room;
// 410 past the log's reach, 422 past the entity's revision.
func TestFeedPages(t *testing.T) {
	role := func(id, op string) Item { return Item{Type: ItemRole, Op: op, RoleID: id} }
	user := func(id, op string) Item { return Item{Type: ItemUser, Op: op, UserID: id} }
	asg := func(u, r, scope, op string) Item {
		return Item{Type: ItemAssignment, Op: op, UserID: u, RoleID: r, Scope: scope}
	}
	log := &fakeLog{rev: 9, inc: "i1", items: map[int64][]byte{
		1: EntityItems(),
		2: itemsJSON(t, role("r1", ItemPut)),
		3: itemsJSON(t, user("u1", ItemPut), asg("u1", "r1", "", ItemPut), asg("u1", "r1", "team:1", ItemPut)),
		4: itemsJSON(t), // a write that changed nothing
		// 5: no entry (an older version wrote it)
		6: nil, // an entry without items
		7: itemsJSON(t, asg("u1", "r1", "team:1", ItemDelete), role("r1", ItemDelete)),
		// 8, 9: no entries
	}}
	svc := newService(log, 0, 0, 0)
	ctx := context.Background()
	cases := []struct {
		since   int64
		limit   int
		want    []string
		rev     int64
		hasMore bool
	}{
		{0, 100, []string{"1:entity:put", "2:role:put::r1", "3:user:put:u1", "3:assignment:put:u1:r1", "3:assignment:put:u1:r1:team:1",
			"5:entity:put", "6:entity:put", "7:assignment:delete:u1:r1:team:1", "7:role:delete::r1", "9:entity:put"}, 9, false},
		{0, 2, []string{"1:entity:put", "2:role:put::r1"}, 2, true},
		{2, 2, []string{"3:user:put:u1", "3:assignment:put:u1:r1", "3:assignment:put:u1:r1:team:1"}, 3, true}, // never cut
		{3, 1, []string{"5:entity:put"}, 5, true},
		{3, 2, []string{"5:entity:put", "6:entity:put"}, 6, true},
		{6, 2, []string{"7:assignment:delete:u1:r1:team:1", "7:role:delete::r1"}, 7, true},
		{7, 1, []string{"9:entity:put"}, 9, false},
		{7, 100, []string{"9:entity:put"}, 9, false},
		{9, 100, []string{}, 9, false},
	}
	for _, c := range cases {
		p, err := svc.Changes(ctx, "e", Query{Since: c.since, Limit: c.limit})
		if err != nil {
			t.Fatalf("since %d limit %d: %v", c.since, c.limit, err)
		}
		if got := short(p.Items); !reflect.DeepEqual(got, c.want) || p.Revision != c.rev || p.HasMore != c.hasMore {
			t.Errorf("since %d limit %d: %v at %d more=%v; want %v at %d more=%v", c.since, c.limit, got, p.Revision, p.HasMore, c.want, c.rev, c.hasMore)
		}
	}
	// Following the feed page by page gives every item once, whatever the limit.
	all, _ := svc.Changes(ctx, "e", Query{Since: 0, Limit: 100})
	for limit := 1; limit <= 4; limit++ {
		var got []Item
		since := int64(0)
		for pages := 0; ; pages++ {
			p, err := svc.Changes(ctx, "e", Query{Since: since, Limit: limit})
			if err != nil || pages > 20 || p.Revision < since {
				t.Fatalf("limit %d: page after %d: %+v %v", limit, since, p, err)
			}
			got = append(got, p.Items...)
			since = p.Revision
			if !p.HasMore {
				break
			}
		}
		if !reflect.DeepEqual(short(got), short(all.Items)) || since != 9 {
			t.Errorf("limit %d: followed %v to %d; want %v to 9", limit, short(got), since, short(all.Items))
		}
	}

	// Empty revisions take no room: a page reads at most limit+1 entries and
	// says whether more follow.
	empty := &fakeLog{rev: 5, inc: "i1", items: map[int64][]byte{1: itemsJSON(t), 2: itemsJSON(t), 3: itemsJSON(t), 4: itemsJSON(t),
		5: itemsJSON(t, role("r2", ItemPut))}}
	svc2 := newService(empty, 0, 0, 0)
	p, err := svc2.Changes(ctx, "e", Query{Since: 0, Limit: 2})
	if err != nil || len(p.Items) != 0 || p.Revision != 3 || !p.HasMore {
		t.Fatalf("empty revisions: %+v %v; want none up to 3, more", p, err)
	}
	p, err = svc2.Changes(ctx, "e", Query{Since: 3, Limit: 2})
	if err != nil || !reflect.DeepEqual(short(p.Items), []string{"5:role:put::r2"}) || p.Revision != 5 || p.HasMore {
		t.Fatalf("after empty revisions: %+v %v", p, err)
	}

	// Past the entity's revision: 422; past the log's reach: 410.
	if _, err := svc.Changes(ctx, "e", Query{Since: 10}); !rolegate.IsKind(err, rolegate.KindInvalid) || rolegate.AsError(err).Code != "unknown_revision" {
		t.Fatalf("since past the revision: %v", err)
	}
	long := &fakeLog{rev: Keep + 5, inc: "i1", items: map[int64][]byte{}}
	for r := int64(6); r <= long.rev; r++ {
		long.items[r] = itemsJSON(t, user("u", ItemPut))
	}
	svc3 := newService(long, 0, 0, 0)
	for _, since := range []int64{0, 4} {
		if _, err := svc3.Changes(ctx, "e", Query{Since: since}); !rolegate.IsKind(err, rolegate.KindGone) || rolegate.AsError(err).Code != "changes_expired" {
			t.Fatalf("since %d, log trimmed: %v", since, err)
		}
	}
	if p, err := svc3.Changes(ctx, "e", Query{Since: 5, Limit: 3}); err != nil || len(p.Items) != 3 || p.Revision != 8 {
		t.Fatalf("since the oldest revision kept: %+v %v", p, err)
	}
	if _, err := svc3.Changes(ctx, "e", Query{Since: -1}); !rolegate.IsKind(err, rolegate.KindInvalid) {
		t.Fatalf("negative since: %v", err)
	}
}

// TestTouchedItems: one item per object, its last op, in the order first
// touched; past maxItems the write is one "refetch everything".
func TestTouchedItems(t *testing.T) {
	var tc Touched
	tc.Role(&rolegate.Role{ID: "r1", Status: rolegate.StatusActive})
	tc.Add(ItemUser, ItemPut, "u1", "", "")
	tc.Assignment(&rolegate.Assignment{UserID: "u1", RoleID: "r1", Scope: "team:1"}, ItemPut)
	tc.Assignment(&rolegate.Assignment{UserID: "u1", RoleID: "r1"}, ItemPut)
	tc.Assignment(&rolegate.Assignment{UserID: "u1", RoleID: "r1", Scope: "team:1"}, ItemDelete)
	tc.Role(&rolegate.Role{ID: "r1", Status: rolegate.StatusDeleted})
	b, err := encodeItems(tc.items, tc.all)
	if err != nil {
		t.Fatal(err)
	}
	items, err := DecodeItems(4, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"4:role:delete::r1", "4:user:put:u1", "4:assignment:delete:u1:r1:team:1", "4:assignment:put:u1:r1"}
	if got := short(items); !reflect.DeepEqual(got, want) {
		t.Fatalf("items %v, want %v", got, want)
	}
	var big Touched
	for i := 0; i <= maxItems; i++ {
		big.Add(ItemUser, ItemPut, fmt.Sprint(i), "", "")
	}
	b, _ = encodeItems(big.items, big.all)
	if items, _ := DecodeItems(9, b); !reflect.DeepEqual(short(items), []string{"9:entity:put"}) {
		t.Fatalf("a write past %d items: %v", maxItems, short(items))
	}
}

// TestFeedWaiters: a waiting call wakes on a signal of its entity (not of
// another), answers empty after its wait, and at once when the bounds are
// full (Busy) or when the service stops waiting; every waiter leaves.
func TestFeedWaiters(t *testing.T) {
	log := &fakeLog{rev: 3, inc: "i1", items: map[int64][]byte{3: EntityItems()}}
	svc := newService(log, 3, 2, 0)
	ctx := context.Background()
	type answer struct {
		p   Page
		err error
		in  time.Duration
	}
	poll := func(entity string, since int64, wait time.Duration) chan answer {
		ch := make(chan answer, 1)
		go func() {
			start := time.Now()
			p, err := svc.Changes(ctx, entity, Query{Since: since, Wait: wait})
			ch <- answer{p, err, time.Since(start)}
		}()
		return ch
	}
	waitFor := func(n int) { t.Helper(); waitWaiters(t, svc.Feed, n) }
	a1, a2 := poll("e", 3, 20*time.Second), poll("e", 3, 20*time.Second)
	waitFor(2)
	// The entity's bound is full: at once, Busy.
	if got := <-poll("e", 3, 20*time.Second); got.err != nil || !got.p.Busy || got.p.Revision != 3 || len(got.p.Items) != 0 {
		t.Fatalf("past the entity's bound: %+v", got)
	}
	b1 := poll("f", 3, 20*time.Second)
	waitFor(3)
	if got := <-poll("g", 3, 20*time.Second); !got.p.Busy {
		t.Fatalf("past the overall bound: %+v", got)
	}
	// A signal without a change (the sweep's, a message of an older
	// revision): the waiter reads, finds nothing, waits on.
	reads := log.readCount()
	svc.waits.signal("f", 0)
	for start := time.Now(); log.readCount() == reads; time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the signalled waiter did not read again")
		}
	}
	waitFor(3)
	select {
	case got := <-b1:
		t.Fatalf("answered without a change: %+v", got)
	default:
	}
	// Another entity's write wakes nobody here; this entity's wakes both.
	svc.waits.signal("x", 9)
	item := itemsJSON(t, Item{Type: ItemUser, Op: ItemPut, UserID: "u"})
	log.set(func() { log.rev, log.items[4] = 4, item })
	svc.waits.signal("e", 4)
	for _, a := range []chan answer{a1, a2} {
		if got := <-a; got.err != nil || !reflect.DeepEqual(short(got.p.Items), []string{"4:user:put:u"}) || got.p.Revision != 4 {
			t.Fatalf("woken: %+v", got)
		}
	}
	waitFor(1)
	// Shutting down: waiters answer at once, new calls do not wait.
	svc.Stop()
	if got := <-b1; got.err != nil || got.p.Revision != 3 || len(got.p.Items) != 0 || got.in > 15*time.Second {
		t.Fatalf("on shutdown: %+v", got)
	}
	if got := <-poll("f", 3, 20*time.Second); got.err != nil || got.p.Revision != 4 {
		t.Fatalf("after shutdown: %+v", got)
	}
	waitFor(0)

	// A short wait ends empty at the current revision; a cancelled one
	// ends with the context's error.
	svc = newService(log, 0, 0, 0)
	if got := <-poll("e", 4, time.Second); got.err != nil || len(got.p.Items) != 0 || got.p.Revision != 4 || got.in < time.Second {
		t.Fatalf("after the wait: %+v", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := svc.Changes(cctx, "e", Query{Since: 4, Wait: 20 * time.Second})
		done <- err
	}()
	waitFor(1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
	waitFor(0)

	// Deleted while waiting: one "entity delete" item at the deletion's revision.
	go func() {
		p, err := svc.Changes(ctx, "e", Query{Since: 4, Wait: 20 * time.Second})
		done <- err
		if err == nil && !reflect.DeepEqual(short(p.Items), []string{"5:entity:delete"}) {
			t.Errorf("deleted while waiting: %v", short(p.Items))
		}
	}()
	waitFor(1)
	log.set(func() { log.inc = "i2" }) // deleted and made again
	svc.waits.signal("e", 5)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

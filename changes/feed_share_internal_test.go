package changes

import (
	"context"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// TestFeedWaitersPerCaller: one caller may hold at most its share of an
// entity's waiting calls; one more is 429 rate_limited at once, while other
// callers still wait, and the caller's share is back once a call ends.
func TestFeedWaitersPerCaller(t *testing.T) {
	log := &fakeLog{rev: 3, inc: "i1", items: map[int64][]byte{3: EntityItems()}}
	svc := newService(log, 10, 5, 2)
	ctx := context.Background()
	type answer struct {
		p   Page
		err error
	}
	poll := func(who, entity string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			p, err := svc.as(who).Changes(ctx, entity, Query{Since: 3, Wait: 20 * time.Second})
			ch <- answer{p, err}
		}()
		return ch
	}
	waitFor := func(n int) { t.Helper(); waitWaiters(t, svc.Feed, n) }
	m1, m2 := poll("client:mallory", "e"), poll("client:mallory", "e")
	waitFor(2)
	got := <-poll("client:mallory", "e")
	if e := rolegate.AsError(got.err); got.err == nil || e.Kind != rolegate.KindTooMany || e.Code != "rate_limited" {
		t.Fatalf("past the caller's share: %+v", got)
	}
	// Without wait it still reads the feed.
	if p, err := svc.as("client:mallory").Changes(ctx, "e", Query{Since: 0}); err != nil || p.Revision != 3 {
		t.Fatalf("no wait: %+v %v", p, err)
	}
	// Another entity, and another caller on this one, still wait.
	o1, a1 := poll("client:mallory", "f"), poll("client:alice", "e")
	waitFor(4)
	// A write on e wakes mallory's two and alice's; then mallory may wait again.
	log.set(func() { log.rev, log.items[4] = 4, itemsJSON(t, Item{Type: ItemUser, Op: ItemPut, UserID: "u"}) })
	svc.waits.signal("e", 4)
	for _, ch := range []chan answer{m1, m2, a1} {
		if got := <-ch; got.err != nil || got.p.Revision != 4 {
			t.Fatalf("woken: %+v", got)
		}
	}
	waitFor(1)
	log.set(func() { log.rev, log.items[5] = 5, itemsJSON(t, Item{Type: ItemUser, Op: ItemPut, UserID: "v"}) })
	svc.waits.signal("f", 5)
	if got := <-o1; got.err != nil || got.p.Revision != 5 {
		t.Fatalf("f woken: %+v", got)
	}
	waitFor(0)
	if n := len(svc.waits.byCaller); n != 0 {
		t.Fatalf("%d callers still counted", n)
	}
}

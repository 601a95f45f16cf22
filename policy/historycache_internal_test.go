package policy

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// AsOfTTL is how long an as-of resolution is kept, for the tests of
// package policy_test.
const AsOfTTL = asOfTTL

// TestAsOfCacheBounds: the cache holds asOfCacheSize resolutions at most; a
// resolution read between two others put survives the hand; an expired one
// is not answered; drop forgets an entity's, and a resolution read from the
// store before a drop is not kept after it.
func TestAsOfCacheBounds(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newAsOfCache(0)
	rev := func(entity string, n int64) asOfKey { return asOfKey{entity: entity, rev: n} }
	res := func(n int64) resolvedAsOf { return resolvedAsOf{rev: n, at: now.Add(-time.Hour), incarnation: "i"} }
	hot := rev("hot", 1)
	c.put(hot, res(1), now, c.snapshot())
	for i := range 3 * asOfCacheSize {
		if _, ok := c.get(hot, now); !ok {
			t.Fatalf("the resolution read before each put was evicted at put %d", i)
		}
		c.put(rev(fmt.Sprint("e", i%7), int64(i+1)), res(int64(i+1)), now, c.snapshot())
		if len(c.m) > asOfCacheSize || len(c.ring) != len(c.m) {
			t.Fatalf("put %d: %d kept, %d in the ring", i, len(c.m), len(c.ring))
		}
	}
	consistent := func() {
		t.Helper()
		for i, e := range c.ring {
			if e.slot != i || c.m[e.key] != e {
				t.Fatalf("ring slot %d holds %+v, kept as %p", i, e.key, c.m[e.key])
			}
		}
		if len(c.ring) != len(c.m) {
			t.Fatalf("%d kept, %d in the ring", len(c.m), len(c.ring))
		}
	}
	consistent()
	if _, ok := c.get(hot, now.Add(asOfTTL)); ok {
		t.Fatal("an expired resolution was answered")
	}
	c.drop("e3", "e5")
	consistent()
	for k := range c.m {
		if k.entity == "e3" || k.entity == "e5" {
			t.Fatalf("%+v kept after its entity was dropped", k)
		}
	}
	epoch := c.snapshot()
	c.drop("e1")
	c.put(rev("e1", 1), res(1), now, epoch)
	if _, ok := c.get(rev("e1", 1), now); ok {
		t.Fatal("a resolution read before a drop was kept after it")
	}
	c.put(rev("e1", 1), res(1), now, c.snapshot())
	if r, ok := c.get(rev("e1", 1), now); !ok || r.rev != 1 {
		t.Fatal("a resolution read after the drop was not kept")
	}
	consistent()
}

// TestAsOfCacheRetention: an instant within asOfSettle of now is not kept;
// one older than the retention (less asOfSettle) neither, nor answered once
// a retention that makes it so is noted; the shortest retention noted holds.
func TestAsOfCacheRetention(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newAsOfCache(0)
	at := func(d time.Duration) (asOfKey, resolvedAsOf) {
		t := now.Add(-d)
		return asOfKey{entity: "e", sec: t.Unix()}, resolvedAsOf{rev: 1, at: t}
	}
	k, r := at(asOfSettle / 2)
	c.put(k, r, now, c.snapshot())
	if _, ok := c.get(k, now); ok {
		t.Fatal("an instant a write may still commit at or before was kept")
	}
	k, r = at(3 * time.Hour)
	c.put(k, r, now, c.snapshot())
	if _, ok := c.get(k, now); !ok {
		t.Fatal("a settled instant was not kept")
	}
	c.retain(4 * time.Hour)
	c.retain(2 * time.Hour)
	c.retain(5 * time.Hour)
	if _, ok := c.get(k, now); ok {
		t.Fatal("an instant older than the retention was answered")
	}
	k, r = at(2*time.Hour - asOfSettle/2)
	c.put(k, r, now, c.snapshot())
	if _, ok := c.get(k, now); ok {
		t.Fatal("an instant within asOfSettle of the retention was kept")
	}
	k, r = at(time.Hour)
	c.put(k, r, now, c.snapshot())
	if _, ok := c.get(k, now); !ok {
		t.Fatal("an instant within the retention was not kept")
	}
}

// TestAsOfCacheConcurrent: reads, puts, drops and retentions at once (for
// the race detector): every answer is one that was put for its key.
func TestAsOfCacheConcurrent(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newAsOfCache(0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20_000 {
				k := asOfKey{entity: fmt.Sprint("e", i%13), rev: int64(1 + i%5000)}
				switch {
				case g == 0 && i%1000 == 0:
					c.drop(k.entity)
				case g == 1 && i%5000 == 0:
					c.retain(time.Duration(100-i/1000) * time.Hour)
				case i%3 == 0:
					c.put(k, resolvedAsOf{rev: k.rev, at: now.Add(-time.Hour)}, now, c.snapshot())
				default:
					if r, ok := c.get(k, now); ok && r.rev != k.rev {
						t.Errorf("%+v answered %+v", k, r)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(c.m) > asOfCacheSize || len(c.ring) != len(c.m) {
		t.Fatalf("%d kept, %d in the ring", len(c.m), len(c.ring))
	}
}

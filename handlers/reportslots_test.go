package handlers

import "testing"

// TestReportSlots: the bounds in all and per entity, and a slot given back
// once however often release is called.
func TestReportSlots(t *testing.T) {
	s := newReportSlots(3, 2)
	take := func(e string) func() {
		t.Helper()
		r, err := s.take(e)
		if err != nil {
			t.Fatalf("take %s: %v", e, err)
		}
		return r
	}
	busy := func(e string) {
		t.Helper()
		if _, err := s.take(e); err == nil {
			t.Fatalf("take %s: a slot past the bound", e)
		}
	}
	a1, a2 := take("a"), take("a")
	busy("a") // per entity
	b1 := take("b")
	busy("b") // in all
	busy("c")
	a1()
	a1() // twice gives back one slot only
	c1 := take("c")
	busy("c")
	busy("a")
	a2()
	b1()
	c1()
	if s.total != 0 || len(s.perEntity) != 0 {
		t.Fatalf("after every release: %d %v", s.total, s.perEntity)
	}
	// Defaults.
	if d := newReportSlots(0, 0); d.max != DefaultMaxReports || d.per != DefaultMaxReportsPerEntity {
		t.Fatalf("defaults: %d %d", d.max, d.per)
	}
}

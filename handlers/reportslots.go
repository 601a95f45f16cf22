package handlers

import (
	"errors"
	"sync"

	"github.com/rolegate/rolegate"
)

// An access report streams for as long as its reader takes, and holds a
// snapshot of its entity's policy all that time (a snapshot a write has
// replaced is kept alive by it). Reports streamed at once are bounded, in all
// and per entity, so that slow readers cannot pin snapshots without end nor
// one entity's admins take every slot: a report past a bound is 503
// server_busy with Retry-After, at once.

// Defaults of the bounds.
const (
	DefaultMaxReports          = 4
	DefaultMaxReportsPerEntity = 2
)

var errReportsBusy = errors.New("too many access reports streaming")

// reportSlots counts the reports streaming, in all and per entity.
type reportSlots struct {
	mu        sync.Mutex
	max, per  int
	total     int
	perEntity map[string]int
}

func newReportSlots(max, perEntity int) *reportSlots {
	if max <= 0 {
		max = DefaultMaxReports
	}
	if perEntity <= 0 {
		perEntity = DefaultMaxReportsPerEntity
	}
	return &reportSlots{max: max, per: perEntity, perEntity: map[string]int{}}
}

// take holds a slot for a report of entity; release gives it back.
func (s *reportSlots) take(entity string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max || s.perEntity[entity] >= s.per {
		return nil, &rolegate.Error{Kind: rolegate.KindUnavailable, Code: "server_busy",
			Message: "too many access reports are being downloaded; try again", Err: errReportsBusy}
	}
	s.total++
	s.perEntity[entity]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.total--
			if s.perEntity[entity]--; s.perEntity[entity] == 0 {
				delete(s.perEntity, entity)
			}
		})
	}, nil
}

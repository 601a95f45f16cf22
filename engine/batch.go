package engine

import (
	"context"

	"github.com/rolegate/rolegate"
)

// CheckBatch answers several questions, in order: its i-th decision and
// error are what Check answers reqs[i] (a deny on error).
//
// The checks of one entity share its snapshot: looked up once, and caught
// up to the highest MinRevision they ask as they come (an entity whose
// lookup fails is looked up again by its next check, as single checks
// would). Each check then runs the decision code of Check: the decision
// cache, Casbin on a miss, the explanation.
//
// The checks run one after the other on the caller's goroutine. (Shared out
// between goroutines, a batch waits for its slowest share, and on a busy
// machine for a thread to be scheduled: batches measured slower so.)
func (e *Engine) CheckBatch(ctx context.Context, reqs []Request) ([]Decision, []error) {
	out := make([]Decision, len(reqs))
	errs := make([]error, len(reqs))
	// A batch names a few entities (the HTTP API allows 10): a list
	// searched from its end beats a map.
	type held struct {
		id string
		s  *snapshot
	}
	entities := make([]held, 0, 10)
	for i, req := range reqs {
		var s *snapshot
		k := len(entities) - 1
		for ; k >= 0; k-- {
			if entities[k].id == req.EntityID {
				s = entities[k].s
				break
			}
		}
		var err error
		if s == nil {
			s, err = e.snapshot(ctx, req.EntityID)
		}
		if err == nil && s.revision < req.MinRevision {
			s, err = e.catchUp(ctx, req.EntityID, req.MinRevision)
		}
		if err != nil {
			e.checkErrors.Add(1)
			out[i], errs[i] = Decision{Permission: rolegate.NotAllowed}, err
			if k >= 0 {
				entities = append(entities[:k], entities[k+1:]...) // looked up afresh by the next
			}
			continue
		}
		if k >= 0 {
			entities[k].s = s
		} else {
			entities = append(entities, held{req.EntityID, s})
		}
		out[i], errs[i] = e.decide(s, req)
	}
	return out, errs
}

package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// maxCachedConditions bounds the compiled conditions the engine shares
// between entities (condition.Cache); past it each snapshot compiles its own.
const maxCachedConditions = 10_000

// condEntry is one condition of a snapshot: its source, compiled on first
// use and shared by the snapshots a delta makes of it. A source that does
// not compile keeps its error, which every evaluation reports.
type condEntry struct {
	source string
	once   sync.Once
	prg    *condition.Program
	err    error
}

func newCondEntry(source string) *condEntry { return &condEntry{source: source} }

// program returns the compiled condition, compiling it once through the
// engine's cache (nil: compiled alone).
func (c *condEntry) program(cache *condition.Cache) (*condition.Program, error) {
	c.once.Do(func() {
		if cache != nil {
			c.prg, c.err = cache.Get(c.source)
		} else {
			c.prg, c.err = condition.Compile(c.source)
		}
		if c.err != nil {
			c.err = fmt.Errorf("the condition does not compile: %w", c.err)
		}
	})
	return c.prg, c.err
}

// errUnknownCondition is a rule naming a condition the snapshot lacks.
type errUnknownCondition string

func (e errUnknownCondition) Error() string { return "unknown condition " + string(e) }

// conditionSource returns the source of a condition by hash ("" when
// unknown).
func (s *snapshot) conditionSource(hash string) string {
	if c, ok := s.conds.get(hash); ok {
		return c.source
	}
	return ""
}

// evalCondition evaluates a condition (by hash) over in.
func (s *snapshot) evalCondition(hash string, in condition.Input) (bool, error) {
	v, _, err := s.evalConditionNow(hash, in)
	return v, err
}

// evalConditionNow is evalCondition that also says whether the condition
// reads now.
func (s *snapshot) evalConditionNow(hash string, in condition.Input) (value, readsNow bool, err error) {
	c, ok := s.conds.get(hash)
	if !ok {
		return false, false, errUnknownCondition(hash)
	}
	var cache *condition.Cache
	if s.engine != nil {
		cache = s.engine.condCache
	}
	prg, err := c.program(cache)
	if err != nil {
		return false, false, err
	}
	value, err = prg.Eval(in)
	return value, prg.ReadsNow(), err
}

// now is the engine's time, which conditions read as now (the instant a
// view of a past policy is read at).
func (s *snapshot) now() time.Time {
	if !s.asOf.IsZero() {
		return s.asOf
	}
	if s.engine != nil && s.engine.now != nil {
		return s.engine.now()
	}
	return time.Now()
}

// userAttributes returns a user's stored attributes as conditions read them
// (nil when none). They are kept as the loader or the delta gave them (the
// service normalizes them when written), and normalized here only if they
// are not, so that a load does not walk every user's attributes.
func (s *snapshot) userAttributes(userID string) map[string]any {
	a, _ := s.userAttributesChecked(userID)
	return a
}

// userAttributesChecked is userAttributes, and whether they are within the
// limits (condition.WithinLimits).
func (s *snapshot) userAttributesChecked(userID string) (map[string]any, bool) {
	a, _ := s.attrs.get(userID)
	return normalAttributes(a)
}

// normalAttributes returns attributes as conditions read them
// (condition.Normalize), and whether they are within the limits: as they
// are when they already are; attributes it refuses are kept as they are (a
// condition reading them errs, or stops at the cost limit).
func normalAttributes(a map[string]any) (map[string]any, bool) {
	if condition.WithinLimits(a) {
		return a, true
	}
	if n, err := condition.Normalize(a); err == nil {
		return n, true
	}
	return a, false
}

// conditionInput is what conditions read for one user: the resource (found
// within the limits or not by the caller, once for all its users) and the
// user's attributes, each walked once here rather than by every evaluation.
func (s *snapshot) conditionInput(resource map[string]any, resourceChecked bool, userID string) condition.Input {
	user, userChecked := s.userAttributesChecked(userID)
	return condition.Input{Resource: resource, User: user, Now: s.now(), Checked: resourceChecked && userChecked}
}

// condApplies reports whether a rule with a condition counts, given the
// condition's value or error: an allow only when true, a deny when true or
// when it cannot be evaluated.
func condApplies(eft string, value bool, err error) bool {
	if eft == EftDeny {
		return value || err != nil
	}
	return value && err == nil
}

// applies reports whether a matched right counts in the decision (see
// condApplies); a right without a condition always does.
func (m Match) applies() bool {
	if m.ConditionValue == nil && m.ConditionError == "" {
		return true
	}
	if m.Permission == rolegate.Denied {
		return m.ConditionError != "" || *m.ConditionValue
	}
	return m.ConditionError == "" && *m.ConditionValue
}

// conditional reports whether a matched right carries a condition.
func (m Match) conditional() bool { return m.ConditionValue != nil || m.ConditionError != "" }

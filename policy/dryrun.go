package policy

import (
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// DryRunResult is what a write made in dry-run mode would change in users'
// effective rights.
type DryRunResult struct {
	Gained, Lost []engine.Right
	// Violations are the separation-of-duties violations the write would
	// create, which would refuse it (exceptions in force left out; all of
	// them, not only the first rolegate.MaxViolationsShown); a constraint
	// created in enforce mode, those that would refuse it.
	Violations []rolegate.Violation
}

// DryRun returns a Service whose role, user and assignment writes run their
// whole path (validation, guards, the transaction) and then roll it back:
// nothing reaches the store, the engine, the audit log, the change log or
// the revision. Each returns revision 0 and leaves in the result what it
// would have changed. Only writes that go through Service.write are dry: an
// entity's or a client's is not.
func (s *Service) DryRun() (*Service, *DryRunResult) {
	dry := *s
	dry.dry = &DryRunResult{}
	return &dry, dry.dry
}

// rolledBack ends a dry run's transaction (Store.Update commits only when fn
// returns nil) and carries what the write recorded out of it.
type rolledBack struct {
	rev   int64
	delta engine.Delta
}

func (rolledBack) Error() string { return "dry run: rolled back" }

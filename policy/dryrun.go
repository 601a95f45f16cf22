package policy

import (
	"context"
	"errors"

	"github.com/rolegate/rolegate/engine"
)

// DryRunResult is what a write made in dry-run mode would change in users'
// effective rights.
type DryRunResult struct {
	Gained, Lost []engine.Right
}

type dryRunKey struct{}

// WithDryRun returns a context in which the Service's role and assignment
// writes run their whole path (validation, guards, the transaction) and then
// roll it back: nothing reaches the store, the engine, the audit log, the
// change log or the revision. The effect they would have had is left in the
// returned result once the write returns without error.
func WithDryRun(ctx context.Context) (context.Context, *DryRunResult) {
	r := &DryRunResult{}
	return context.WithValue(ctx, dryRunKey{}, r), r
}

func dryRunOf(ctx context.Context) *DryRunResult {
	r, _ := ctx.Value(dryRunKey{}).(*DryRunResult)
	return r
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run: roll back")

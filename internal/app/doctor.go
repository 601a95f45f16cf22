package app

import (
	"context"
	"fmt"
	"io"

	"github.com/rolegate/rolegate/policy"
)

// doctor checks that the stored rules are exactly those the roles, users and
// assignments call for, prints one line per problem and a summary, and fails
// (exit 1) while problems remain. With --fix it repairs each inconsistent
// entity in one transaction that bumps the entity's revision.
func doctor(ctx context.Context, cfg Config, out io.Writer) error {
	store, err := cfg.openStore(ctx, 0)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	rep, err := policy.Doctor(ctx, store, cfg.Fix)
	for _, p := range rep.Problems {
		fmt.Fprintln(out, p.String())
	}
	for _, id := range rep.Unchecked {
		fmt.Fprintf(out, "entity %q: not checked: it changed during every read; run rolegate doctor again\n", id)
	}
	for _, f := range rep.Fixed {
		fmt.Fprintf(out, "entity %q: repaired, now at revision %d\n", f.EntityID, f.Revision)
	}
	if err != nil {
		return fmt.Errorf("doctor stopped: %w", err)
	}
	fmt.Fprintln(out, rep.Summary())
	if n := rep.Remaining(); n > 0 {
		if !cfg.Fix {
			return fmt.Errorf("%d problem(s) found; run rolegate doctor --fix to repair them", n)
		}
		return fmt.Errorf("%d problem(s) remain", n)
	}
	return nil
}

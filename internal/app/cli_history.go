package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolegate/rolegate/client"
)

// Answers as of a past instant on the command line: --as-of or --at-revision
// on check and users permissions, and users history.

// asOfFlags are --as-of TIME and --at-revision N.
type asOfFlags struct {
	asOf       string
	atRevision int64
}

func (f *asOfFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.asOf, "as-of", "", "answer as the policy in force at this past instant did (RFC 3339, such as 2026-03-31T23:59:59Z)")
	cmd.Flags().Int64Var(&f.atRevision, "at-revision", 0, "answer as the policy at this revision did")
	cmd.MarkFlagsMutuallyExclusive("as-of", "at-revision")
}

// parseTimeFlag reads an RFC 3339 time given to flag name.
func parseTimeFlag(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s must be an RFC 3339 time such as 2026-03-31T23:59:59Z", name)}
	}
	return t, nil
}

// value is the AsOf the flags name (the zero AsOf: now). A revision given
// as 0 or less is passed on, for the server to refuse.
func (f *asOfFlags) value(cmd *cobra.Command) (client.AsOf, error) {
	var at client.AsOf
	if f.asOf != "" {
		t, err := parseTimeFlag("as-of", f.asOf)
		if err != nil {
			return at, err
		}
		at.Time = t
	}
	if cmd.Flags().Changed("at-revision") {
		if f.atRevision < 1 {
			return at, usageError{errors.New("--at-revision must be a revision of the entity (1 or more)")}
		}
		at.Revision = f.atRevision
	}
	return at, nil
}

// apply sets a check's as_of or at_revision.
func (f *asOfFlags) apply(cmd *cobra.Command, r *client.CheckRequest) error {
	at, err := f.value(cmd)
	if err != nil {
		return err
	}
	switch {
	case at.Revision != 0:
		r.AtRevision = client.AtRevision(at.Revision)
	case !at.Time.IsZero():
		r.AsOf = client.At(at.Time)
	}
	return nil
}

// userHistoryCmd is users history USER: the intervals during which the user
// could do an action, with the roles and the changes that opened and closed
// each.
func (x *cli) userHistoryCmd() *cobra.Command {
	var q client.HistoryQuery
	var from, to string
	cmd := &cobra.Command{Use: "history USER", Short: "When a user could do an action: since when, through which roles, granted and taken by whom",
		Args: cobra.ExactArgs(1), RunE: func(c *cobra.Command, a []string) error {
			var err error
			if from != "" {
				if q.From, err = parseTimeFlag("from", from); err != nil {
					return err
				}
			}
			if to != "" {
				if q.To, err = parseTimeFlag("to", to); err != nil {
					return err
				}
			}
			return x.inEntity(func(ctx context.Context, ent string, a []string) error {
				h, err := x.c.AccessHistory(ctx, ent, a[0], q)
				if err != nil {
					return err
				}
				if x.output == "json" {
					return x.emit(h, nil, nil)
				}
				if len(h.Data) == 0 {
					return x.say(h, "user %s could not %s %s in that window (revision %d)", a[0], q.Action, q.ObjectType, h.Revision)
				}
				return table(x.stdout, []string{"FROM", "TO", "PERMISSION", "VIA", "OPENED_BY", "CLOSED_BY", "CONDITION"}, historyRows(h.Data))
			})(c, a)
		}}
	cmd.Flags().StringVar(&q.ObjectType, "object-type", "", "the object type (required)")
	cmd.Flags().StringVar(&q.Action, "action", "", "the action (required)")
	cmd.Flags().StringVar(&q.Scope, "scope", "", "count assignments inside this scope too")
	cmd.Flags().StringVar(&from, "from", "", "from this instant (RFC 3339; default: since the history begins)")
	cmd.Flags().StringVar(&to, "to", "", "until this instant (RFC 3339; default: now)")
	_ = cmd.MarkFlagRequired("object-type")
	_ = cmd.MarkFlagRequired("action")
	return cmd
}

// historyRows are the table's rows: each end as "revision N, time", the
// roles (own: the user's own rights), and who made the changes.
func historyRows(ivs []client.AccessInterval) [][]string {
	rows := make([][]string, 0, len(ivs))
	for _, iv := range ivs {
		to := "(still)"
		closed := "-"
		if iv.To != nil {
			to = fmt.Sprintf("r%d %s", iv.To.Revision, iv.To.At)
			closed = changeCell(iv.To.Actor, iv.Closed)
		}
		via := make([]string, 0, len(iv.Via)+1)
		for _, v := range iv.Via {
			s := v.RoleName
			if s == "" {
				s = v.RoleID
			}
			if v.Scope != "" {
				s += " in " + v.Scope
			}
			via = append(via, s)
		}
		if iv.Own {
			via = append(via, "(own rights)")
		}
		rows = append(rows, []string{fmt.Sprintf("r%d %s", iv.From.Revision, iv.From.At), to, iv.Permission,
			orDash(strings.Join(via, ", ")), changeCell(iv.From.Actor, iv.Opened), closed, orDash(iv.Condition)})
	}
	return rows
}

// changeCell says who made a change and what it was.
func changeCell(actor string, ch *client.HistoryChange) string {
	s := orDash(actor)
	if ch != nil {
		s += " (" + ch.Action + " " + ch.ObjectID + ")"
	}
	return s
}

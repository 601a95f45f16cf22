package app

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolegate/rolegate/client"
)

// constraintsFile is what `rolegate constraints apply -f` reads, as JSON or
// YAML:
//
//	entity: acme            # or -e
//	constraints:
//	  - name: maker-checker
//	    description: no one both creates and approves a payable
//	    mode: enforce         # or report; enforce when left out
//	    rights:
//	      - {object_type: payable, action: create}
//	      - {object_type: payable, action: approve}
//	    exceptions:
//	      - user_id: bob
//	        reason: two-person office, Alice on holiday
//	        expires_at: "2027-01-31T00:00:00Z"
type constraintsFile struct {
	Entity      string           `json:"entity"`
	Constraints []constraintSpec `json:"constraints"`
}

type constraintSpec struct {
	Name        string                       `json:"name"`
	Description string                       `json:"description"`
	Mode        string                       `json:"mode"`
	Rights      []client.ConstraintRight     `json:"rights"`
	Exceptions  []client.ConstraintException `json:"exceptions"`
}

func readConstraintsFile(path string) (constraintsFile, error) {
	var f constraintsFile
	if err := readApplyFile(path, &f); err != nil {
		return f, err
	}
	names := make([]string, len(f.Constraints))
	for i, k := range f.Constraints {
		names[i] = k.Name
	}
	return f, namedOnce(path, "constraints", "constraint", names)
}

func (s constraintSpec) input() client.ConstraintInput {
	in := client.ConstraintInput{Name: s.Name, Description: s.Description, Mode: s.Mode, Rights: s.Rights, Exceptions: s.Exceptions}
	if in.Mode == "" {
		in.Mode = "enforce"
	}
	if in.Rights == nil {
		in.Rights = []client.ConstraintRight{}
	}
	if in.Exceptions == nil {
		in.Exceptions = []client.ConstraintException{}
	}
	return in
}

// sameConstraint compares what a file says with what the server holds:
// rights and exceptions as sets, expiries as instants.
func sameConstraint(s constraintSpec, k client.Constraint) bool {
	in := s.input()
	if in.Description != k.Description || in.Mode != k.Mode || len(in.Rights) != len(k.Rights) || len(in.Exceptions) != len(k.Exceptions) {
		return false
	}
	rights := map[client.ConstraintRight]bool{}
	for _, r := range k.Rights {
		rights[r] = true
	}
	for _, r := range in.Rights {
		if !rights[r] {
			return false
		}
	}
	norm := func(x client.ConstraintException) string {
		if t, err := time.Parse(time.RFC3339Nano, x.ExpiresAt); err == nil {
			x.ExpiresAt = t.UTC().Format(time.RFC3339Nano)
		}
		return x.UserID + "\x00" + x.Reason + "\x00" + x.ExpiresAt
	}
	exc := map[string]bool{}
	for _, x := range k.Exceptions {
		exc[norm(x)] = true
	}
	for _, x := range in.Exceptions {
		if !exc[norm(x)] {
			return false
		}
	}
	return true
}

// constraintsByName lists the entity's constraints by name.
func (x *cli) constraintsByName(ctx context.Context, ent string) (map[string]client.Constraint, error) {
	ks, err := x.c.ListConstraints(ctx, ent)
	if err != nil {
		return nil, err
	}
	out := make(map[string]client.Constraint, len(ks))
	for _, k := range ks {
		out[k.Name] = k
	}
	return out, nil
}

// constraintRef reads a constraint by id, else by name.
func (x *cli) constraintRef(ctx context.Context, ent, ref string) (client.Constraint, error) {
	k, err := x.c.GetConstraint(ctx, ent, ref)
	if err == nil || !client.IsNotFound(err) || client.IsCode(err, "entity_not_found") {
		return k, err
	}
	all, lerr := x.constraintsByName(ctx, ent)
	if lerr != nil {
		return k, lerr
	}
	if byName, ok := all[ref]; ok {
		return byName, nil
	}
	return k, err
}

func rightsText(rs []client.ConstraintRight) string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ObjectType+":"+r.Action)
	}
	return strings.Join(out, ", ")
}

// constraintApplyResult is what apply did, by constraint name.
type constraintApplyResult struct {
	Entity    string   `json:"entity"`
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Deleted   []string `json:"deleted"`
	Unchanged []string `json:"unchanged"`
}

func (x *cli) constraintsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "constraints", Short: "Manage the separation-of-duties constraints of an entity; apply them from a file"}
	x.entityFlag(cmd)

	list := &cobra.Command{Use: "list", Short: "List constraints", Args: cobra.NoArgs, RunE: x.inEntity(func(ctx context.Context, ent string, _ []string) error {
		ks, err := x.c.ListConstraints(ctx, ent)
		if err != nil {
			return err
		}
		rows := make([][]string, 0, len(ks))
		for _, k := range ks {
			rows = append(rows, []string{k.ID, k.Name, k.Mode, rightsText(k.Rights), strconv.Itoa(len(k.Exceptions))})
		}
		if ks == nil {
			ks = []client.Constraint{}
		}
		return x.emit(map[string]any{"data": ks}, []string{"ID", "NAME", "MODE", "RIGHTS", "EXCEPTIONS"}, rows)
	})}

	get := &cobra.Command{Use: "get CONSTRAINT", Short: "Show a constraint (id or name)", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		k, err := x.constraintRef(ctx, ent, a[0])
		if err != nil {
			return err
		}
		if x.output == "json" {
			return x.emit(k, nil, nil)
		}
		fmt.Fprintf(x.stdout, "constraint %s (%s, mode %s)\n", k.Name, k.ID, k.Mode)
		if k.Description != "" {
			fmt.Fprintf(x.stdout, "%s\n", k.Description)
		}
		fmt.Fprintf(x.stdout, "no user may hold more than one of: %s\n", rightsText(k.Rights))
		for _, e := range k.Exceptions {
			fmt.Fprintf(x.stdout, "exception: %s until %s: %s\n", e.UserID, e.ExpiresAt, e.Reason)
		}
		return nil
	})}

	del := &cobra.Command{Use: "delete CONSTRAINT", Short: "Delete a constraint (id or name)", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		k, err := x.constraintRef(ctx, ent, a[0])
		if err != nil {
			return err
		}
		if err := x.c.DeleteConstraint(ctx, ent, k.ID); err != nil {
			return err
		}
		return x.say(map[string]any{"deleted": k.ID, "name": k.Name}, "deleted constraint %s (%s)", k.Name, k.ID)
	})}

	viol := &cobra.Command{Use: "violations CONSTRAINT", Short: "List the users in violation of a constraint (id or name), and how", Args: cobra.ExactArgs(1),
		RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
			k, err := x.constraintRef(ctx, ent, a[0])
			if err != nil {
				return err
			}
			v, err := x.c.ConstraintViolations(ctx, ent, k.ID)
			if err != nil {
				return err
			}
			if x.output == "json" {
				return x.emit(v, nil, nil)
			}
			if len(v.Data) == 0 {
				fmt.Fprintf(x.stdout, "no violations of %s (revision %d)\n", k.Name, v.Revision)
				return nil
			}
			rows := [][]string{}
			for _, vi := range v.Data {
				for _, h := range vi.Rights {
					rows = append(rows, []string{vi.UserID, orDash(vi.Scope), h.ObjectType + ":" + h.Action, h.Permission, heldVia(h)})
				}
			}
			return table(x.stdout, []string{"USER", "SCOPE", "RIGHT", "PERMISSION", "HELD THROUGH"}, rows)
		})}

	var file string
	var prune bool
	apply := &cobra.Command{Use: "apply -f FILE", Short: "Make the entity's constraints what a JSON or YAML file says (idempotent)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			f, err := readConstraintsFile(file)
			if err != nil {
				return err
			}
			ent, err := x.fileEntity(f.Entity)
			if err != nil {
				return err
			}
			ctx, cancel := x.call()
			defer cancel()
			res, err := x.applyConstraints(ctx, ent, f.Constraints, prune)
			if x.output != "json" {
				for _, l := range []struct {
					what  string
					names []string
				}{{"created", res.Created}, {"updated", res.Updated}, {"deleted", res.Deleted}} {
					for _, n := range l.names {
						fmt.Fprintf(x.stdout, "constraint %s %s\n", n, l.what)
					}
				}
			}
			if err != nil {
				return err
			}
			if x.output == "json" {
				return x.emit(res, nil, nil)
			}
			if len(res.Created)+len(res.Updated)+len(res.Deleted) == 0 {
				fmt.Fprintf(x.stdout, "no changes: %d constraints already as the file says\n", len(res.Unchanged))
				return nil
			}
			fmt.Fprintf(x.stdout, "%d created, %d updated, %d deleted, %d unchanged\n", len(res.Created), len(res.Updated), len(res.Deleted), len(res.Unchanged))
			return nil
		}}
	apply.Flags().StringVarP(&file, "file", "f", "", "JSON or YAML file of constraints")
	apply.Flags().BoolVar(&prune, "prune", false, "also delete the constraints the file does not name")
	_ = apply.MarkFlagRequired("file")

	cmd.AddCommand(list, get, del, apply, viol)
	return cmd
}

// applyConstraints creates the constraints missing, replaces those that
// differ, leaves equal ones alone and, with prune, deletes those not named.
// It stops at the first refusal (a 409 names its violations), having done
// what it says it did.
func (x *cli) applyConstraints(ctx context.Context, ent string, specs []constraintSpec, prune bool) (constraintApplyResult, error) {
	res := constraintApplyResult{Entity: ent, Created: []string{}, Updated: []string{}, Deleted: []string{}, Unchanged: []string{}}
	have, err := x.constraintsByName(ctx, ent)
	if err != nil {
		return res, err
	}
	named := map[string]bool{}
	for _, s := range specs {
		named[s.Name] = true
		cur, ok := have[s.Name]
		switch {
		case !ok:
			if _, err := x.c.CreateConstraint(ctx, ent, s.input()); err != nil {
				return res, fmt.Errorf("creating constraint %s: %w", s.Name, err)
			}
			res.Created = append(res.Created, s.Name)
		case sameConstraint(s, cur):
			res.Unchanged = append(res.Unchanged, s.Name)
		default:
			if _, err := x.c.ReplaceConstraint(ctx, ent, cur.ID, s.input()); err != nil {
				return res, fmt.Errorf("updating constraint %s: %w", s.Name, err)
			}
			res.Updated = append(res.Updated, s.Name)
		}
	}
	if prune {
		names := make([]string, 0, len(have))
		for n := range have {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if named[n] {
				continue
			}
			if err := x.c.DeleteConstraint(ctx, ent, have[n].ID); err != nil {
				return res, fmt.Errorf("deleting constraint %s: %w", n, err)
			}
			res.Deleted = append(res.Deleted, n)
		}
	}
	return res, nil
}

// heldVia says how a right of a violation is held: "role maker (team:1),
// own rights".
func heldVia(h client.HeldRight) string {
	var via []string
	for _, r := range h.Roles {
		s := "role " + r.RoleName
		if r.Scope != "" {
			s += " (" + r.Scope + ")"
		}
		via = append(via, s)
	}
	if h.Own {
		via = append(via, "own rights")
	}
	if h.Condition != "" {
		via = append(via, "if "+h.Condition)
	}
	return strings.Join(via, ", ")
}

// describeViolations is what a person reads of a 409 separation_of_duties:
// one line per user in violation, after the server's message.
func describeViolations(vs []client.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		where := ""
		if v.Scope != "" {
			where = " in " + v.Scope
		}
		rights := make([]string, 0, len(v.Rights))
		for _, h := range v.Rights {
			rights = append(rights, fmt.Sprintf("%s:%s (%s)", h.ObjectType, h.Action, heldVia(h)))
		}
		fmt.Fprintf(&b, "\n  constraint %s: user %s%s: %s", v.ConstraintName, v.UserID, where, strings.Join(rights, " and "))
	}
	return b.String()
}

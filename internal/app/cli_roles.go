package app

import (
	"context"
	"encoding/json"

	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/rolegate/rolegate/client"
)

// rolesFile is what `rolegate roles apply -f` reads, as JSON or YAML:
//
//	entity: acme            # or -e
//	roles:
//	  - name: approver
//	    description: approves payables
//	    default: false
//	    permissions:
//	      objects:
//	        - object_type: payable
//	          actions:
//	            - {action_name: read, permission: allowed}
//	            - action_name: approve
//	              permission: allowed
//	              condition: resource.amount < 1000 && resource.currency == "EUR"
type rolesFile struct {
	Entity string     `json:"entity"`
	Roles  []roleSpec `json:"roles"`
}

type roleSpec struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Default     bool               `json:"default"`
	Permissions client.Permissions `json:"permissions"`
}

// readRolesFile reads JSON or YAML (JSON is YAML), refusing unknown fields;
// a mistake is reported with its line and column, and the line shown.
func readRolesFile(path string) (rolesFile, error) {
	var f rolesFile
	if err := readApplyFile(path, &f); err != nil {
		return f, err
	}
	names := make([]string, len(f.Roles))
	for i, r := range f.Roles {
		names[i] = r.Name
	}
	return f, namedOnce(path, "roles", "role", names)
}

// fileEntity is the entity an apply file is for: -e (or the configured
// entity) when given or when the file names none, and the file's own
// otherwise; a file naming another entity than -e is a usage error.
func (x *cli) fileEntity(named string) (string, error) {
	ent := named
	if x.entity != "" || ent == "" {
		var err error
		if ent, err = x.entityOf(); err != nil {
			return "", err
		}
	}
	if named != "" && named != ent {
		return "", usageError{fmt.Errorf("the file is for entity %q, not %q", named, ent)}
	}
	return ent, nil
}

// readApplyFile reads a file of `apply -f` (JSON or YAML) into f, refusing
// unknown fields.
func readApplyFile(path string, f any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := goyaml.UnmarshalWithOptions(b, f, goyaml.DisallowUnknownField()); err != nil {
		return yamlError(path, err)
	}
	return nil
}

// namedOnce refuses an item of the file's list without a name, or a name
// given twice: apply matches items to what is stored by name.
func namedOnce(path, list, kind string, names []string) error {
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("%s: %s[%d] has no name", path, list, i)
		}
		if seen[n] {
			return fmt.Errorf("%s: %s %q is named twice", path, kind, n)
		}
		seen[n] = true
	}
	return nil
}

// yamlPosition is how go-yaml starts an error: [line:column].
var yamlPosition = regexp.MustCompile(`^\[(\d+):(\d+)\] `)

// yamlError says where in the file a YAML mistake is, with the lines around
// it: "roles.yaml: line 4, column 5: unknown field "permisions"".
func yamlError(path string, err error) error {
	text := goyaml.FormatError(err, false, true)
	first, rest, _ := strings.Cut(text, "\n")
	if m := yamlPosition.FindStringSubmatch(first); m != nil {
		first = fmt.Sprintf("line %s, column %s: %s", m[1], m[2], first[len(m[0]):])
	}
	first = strings.Replace(first, "Go struct field rolesFile.", "field ", 1)
	if rest = strings.TrimRight(rest, "\n "); rest != "" {
		return fmt.Errorf("%s: YAML %s\n%s", path, first, rest)
	}
	return fmt.Errorf("%s: YAML %s", path, first)
}

// normal is rights in one order, without not_allowed (the default, which the
// server need not keep), so that equal rights compare equal; a right's
// condition is part of it (spaces around it aside: a YAML block keeps a
// final newline), so that a role whose condition changed is updated.
func normal(p client.Permissions) map[string]string {
	out := map[string]string{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission != "not_allowed" {
				v := a.Permission
				if c := strings.TrimSpace(a.Condition); c != "" {
					v += " if " + c
				}
				out[o.ObjectType+"\x00"+a.ActionName] = v
			}
		}
	}
	return out
}

func sameRole(spec roleSpec, r client.Role) bool {
	return spec.Description == r.Description && spec.Default == r.Default && reflect.DeepEqual(normal(spec.Permissions), normal(r.Permissions))
}

// applyResult is what apply did, by role name.
type applyResult struct {
	Entity    string   `json:"entity"`
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Deleted   []string `json:"deleted"`
	Unchanged []string `json:"unchanged"`
	DryRun    bool     `json:"dry_run"`
	// Rights is, on a dry run, what the server's dry run says each update
	// and deletion would change, by role name.
	Rights map[string]client.DryRun `json:"rights,omitempty"`
}

// activeRoles lists every active role of an entity by name.
func (x *cli) activeRoles(ctx context.Context, ent string) (map[string]client.Role, error) {
	out := map[string]client.Role{}
	o := client.RoleListOptions{ListOptions: client.ListOptions{Limit: 100}, Sort: "name"}
	for {
		p, err := x.c.ListRoles(ctx, ent, o)
		if err != nil {
			return nil, err
		}
		for _, r := range p.Data {
			out[r.Name] = r
		}
		if p.NextPaginationToken == nil || len(p.Data) == 0 {
			return out, nil
		}
		o.PaginationToken = *p.NextPaginationToken
	}
}

// roleIDs resolves role ids or names.
func (x *cli) roleIDs(ent string, refs []string) ([]string, error) {
	ctx, cancel := x.call()
	defer cancel()
	var byName map[string]client.Role
	ids := make([]string, 0, len(refs))
	for _, ref := range refs {
		if byName == nil {
			var err error
			if byName, err = x.activeRoles(ctx, ent); err != nil {
				return nil, err
			}
		}
		if r, ok := byName[ref]; ok {
			ids = append(ids, r.ID)
			continue
		}
		ids = append(ids, ref) // an id; the server says if it is not
	}
	return ids, nil
}

// roleRef reads a role by id, else by name.
func (x *cli) roleRef(ctx context.Context, ent, ref string) (client.Role, error) {
	r, err := x.c.GetRole(ctx, ent, ref)
	if err == nil || !client.IsNotFound(err) {
		return r, err
	}
	roles, lerr := x.activeRoles(ctx, ent)
	if lerr != nil {
		return r, lerr
	}
	if byName, ok := roles[ref]; ok {
		return byName, nil
	}
	return r, err
}

func (x *cli) rolesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "roles", Short: "Manage the roles of an entity; apply them from a file"}
	x.entityFlag(cmd)
	var lo client.RoleListOptions
	list := &cobra.Command{Use: "list", Short: "List roles", Args: cobra.NoArgs, RunE: x.inEntity(func(ctx context.Context, ent string, _ []string) error {
		p, err := x.c.ListRoles(ctx, ent, lo)
		if err != nil {
			return err
		}
		return emitPage(x, p, []string{"ID", "NAME", "TYPE", "DEFAULT", "RIGHTS", "VERSION"}, func(r client.Role) []string {
			return []string{r.ID, r.Name, r.RoleType, strconv.FormatBool(r.Default), strconv.Itoa(len(normal(r.Permissions))), strconv.FormatInt(r.Version, 10)}
		})
	})}
	pageFlags(list, &lo.ListOptions)
	list.Flags().StringVar(&lo.Sort, "sort", "", "created_at, updated_at or name")
	list.Flags().StringVar(&lo.Status, "status", "", "active (default), deleted or all")
	list.Flags().StringVar(&lo.RoleType, "type", "", "custom or system")
	list.Flags().StringVar(&lo.Search, "search", "", "name or description containing this")

	get := &cobra.Command{Use: "get ROLE", Short: "Show a role (id or name) and its rights", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		r, err := x.roleRef(ctx, ent, a[0])
		if err != nil {
			return err
		}
		if x.output == "json" {
			return x.emit(r, nil, nil)
		}
		fmt.Fprintf(x.stdout, "role %s (%s, %s, version %d, default %v)\n", r.Name, r.ID, r.RoleType, r.Version, r.Default)
		if r.Description != "" {
			fmt.Fprintf(x.stdout, "%s\n", r.Description)
		}
		return x.rightsTable(r.Permissions)
	})}

	var force bool
	del := &cobra.Command{Use: "delete ROLE", Short: "Delete a role (id or name)", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		r, err := x.roleRef(ctx, ent, a[0])
		if err != nil {
			return err
		}
		if err := x.c.DeleteRole(ctx, ent, r.ID, force, r.Version); err != nil {
			return err
		}
		return x.say(map[string]any{"deleted": r.ID, "name": r.Name}, "deleted role %s (%s)", r.Name, r.ID)
	})}
	del.Flags().BoolVar(&force, "force", false, "take it from the users holding it")

	var file string
	var prune, dryRun bool
	apply := &cobra.Command{Use: "apply -f FILE", Short: "Make the entity's roles what a JSON or YAML file says (idempotent)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			f, err := readRolesFile(file)
			if err != nil {
				return err
			}
			ent, err := x.fileEntity(f.Entity)
			if err != nil {
				return err
			}
			ctx, cancel := x.call()
			defer cancel()
			res, err := x.apply(ctx, ent, f.Roles, prune, dryRun)
			if err != nil {
				return err
			}
			if x.output == "json" {
				return x.emit(res, nil, nil)
			}
			verb := ""
			if dryRun {
				verb = "would be "
			}
			for _, l := range []struct {
				what  string
				names []string
			}{{"created", res.Created}, {"updated", res.Updated}, {"deleted", res.Deleted}} {
				for _, n := range l.names {
					fmt.Fprintf(x.stdout, "role %s %s%s\n", n, verb, l.what)
					if dryRun {
						x.printRightsDiff(l.what, res.Rights[n])
					}
				}
			}
			if len(res.Created)+len(res.Updated)+len(res.Deleted) == 0 {
				fmt.Fprintf(x.stdout, "no changes: %d roles already as the file says\n", len(res.Unchanged))
				return nil
			}
			fmt.Fprintf(x.stdout, "%d created, %d updated, %d deleted, %d unchanged\n", len(res.Created), len(res.Updated), len(res.Deleted), len(res.Unchanged))
			return nil
		}}
	apply.Flags().StringVarP(&file, "file", "f", "", "JSON or YAML file of roles")
	apply.Flags().BoolVar(&prune, "prune", false, "also delete the custom roles the file does not name")
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "say what would change, change nothing")
	_ = apply.MarkFlagRequired("file")

	export := &cobra.Command{Use: "export", Short: "Print the entity's custom roles as a file apply takes (YAML; -o json for JSON)", Args: cobra.NoArgs,
		RunE: x.inEntity(func(ctx context.Context, ent string, _ []string) error {
			roles, err := x.activeRoles(ctx, ent)
			if err != nil {
				return err
			}
			f := rolesFile{Entity: ent, Roles: []roleSpec{}}
			for _, r := range roles {
				if r.RoleType == "custom" {
					f.Roles = append(f.Roles, roleSpec{Name: r.Name, Description: r.Description, Default: r.Default, Permissions: r.Permissions})
				}
			}
			sort.Slice(f.Roles, func(i, j int) bool { return f.Roles[i].Name < f.Roles[j].Name })
			if x.output == "json" {
				return x.emit(f, nil, nil)
			}
			b, err := json.Marshal(f)
			if err != nil {
				return err
			}
			y, err := yaml.JSONToYAML(b)
			if err != nil {
				return err
			}
			_, err = x.stdout.Write(y)
			return err
		})}
	cmd.AddCommand(list, get, del, apply, export)
	return cmd
}

// apply creates the roles missing, replaces those that differ (each guarded
// by the version it read: a concurrent edit is a 412, not overwritten) and,
// with prune, deletes the custom roles not named.
func (x *cli) apply(ctx context.Context, ent string, specs []roleSpec, prune, dryRun bool) (applyResult, error) {
	res := applyResult{Entity: ent, Created: []string{}, Updated: []string{}, Deleted: []string{}, Unchanged: []string{}, DryRun: dryRun}
	if dryRun {
		res.Rights = map[string]client.DryRun{}
	}
	have, err := x.activeRoles(ctx, ent)
	if err != nil {
		return res, err
	}
	named := map[string]bool{}
	for _, s := range specs {
		named[s.Name] = true
		in := client.RoleInput{Name: &s.Name, Description: &s.Description, Default: &s.Default, Permissions: &s.Permissions}
		if in.Permissions.Objects == nil {
			in.Permissions.Objects = []client.ObjectPermissions{}
		}
		cur, ok := have[s.Name]
		switch {
		case !ok:
			if !dryRun {
				if _, err := x.c.CreateRole(ctx, ent, in); err != nil {
					return res, fmt.Errorf("creating role %s: %w", s.Name, err)
				}
			}
			res.Created = append(res.Created, s.Name)
		case sameRole(s, cur):
			res.Unchanged = append(res.Unchanged, s.Name)
		default:
			if dryRun {
				d, err := x.c.DryRunReplaceRole(ctx, ent, cur.ID, in, cur.Version)
				if err != nil {
					return res, fmt.Errorf("updating role %s (dry run): %w", s.Name, err)
				}
				res.Rights[s.Name] = d
			} else if _, err := x.c.ReplaceRole(ctx, ent, cur.ID, in, cur.Version); err != nil {
				return res, fmt.Errorf("updating role %s: %w", s.Name, err)
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
			r := have[n]
			if named[n] || r.RoleType != "custom" {
				continue
			}
			if dryRun {
				d, err := x.c.DryRunDeleteRole(ctx, ent, r.ID, false, r.Version)
				if err != nil {
					return res, fmt.Errorf("deleting role %s (dry run): %w", n, err)
				}
				res.Rights[n] = d
			} else if err := x.c.DeleteRole(ctx, ent, r.ID, false, r.Version); err != nil {
				return res, fmt.Errorf("deleting role %s: %w", n, err)
			}
			res.Deleted = append(res.Deleted, n)
		}
	}
	return res, nil
}

// printRightsDiff prints, under a role of a dry run, the effective rights
// users would gain (+) and lose (-), as the server's dry run says.
func (x *cli) printRightsDiff(what string, d client.DryRun) {
	if what == "created" {
		fmt.Fprintln(x.stdout, "  no user holds it yet: nobody's rights change")
		return
	}
	if len(d.Gained)+len(d.Lost) == 0 {
		fmt.Fprintln(x.stdout, "  nobody's rights change")
		return
	}
	line := func(sign string, r client.EffectiveRight) {
		scope := ""
		if r.Scope != "" {
			scope = " in " + r.Scope
		}
		fmt.Fprintf(x.stdout, "  %s %s %s %s %s%s\n", sign, r.UserID, r.ObjectType, r.Action, r.Permission, scope)
	}
	for _, r := range d.Gained {
		line("+", r)
	}
	for _, r := range d.Lost {
		line("-", r)
	}
}

package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rolegate/rolegate/client"
)

func (x *cli) entitiesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "entities", Short: "List, show, create and delete entities (tenants)"}
	var lo client.ListOptions
	list := &cobra.Command{Use: "list", Short: "List entities", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		ctx, cancel := x.call()
		defer cancel()
		p, err := x.c.ListEntities(ctx, lo)
		if err != nil {
			return err
		}
		return emitPage(x, p, []string{"ID", "NAME", "REVISION"}, func(e client.Entity) []string {
			return []string{e.ID, orDash(e.Name), strconv.FormatInt(e.Revision, 10)}
		})
	}}
	pageFlags(list, &lo)
	get := &cobra.Command{Use: "get ID", Short: "Show an entity", Args: cobra.ExactArgs(1), RunE: func(_ *cobra.Command, a []string) error {
		ctx, cancel := x.call()
		defer cancel()
		e, err := x.c.GetEntity(ctx, a[0])
		if err != nil {
			return err
		}
		return x.emit(e, []string{"ID", "NAME", "REVISION", "CREATED"}, [][]string{{e.ID, orDash(e.Name), strconv.FormatInt(e.Revision, 10), e.CreatedAt}})
	}}
	var name string
	create := &cobra.Command{Use: "create ID", Short: "Create an entity (it gets the system roles)", Args: cobra.ExactArgs(1), RunE: func(_ *cobra.Command, a []string) error {
		ctx, cancel := x.call()
		defer cancel()
		e, err := x.c.CreateEntity(ctx, a[0], name)
		if err != nil {
			return err
		}
		return x.say(e, "created entity %s", e.ID)
	}}
	create.Flags().StringVar(&name, "name", "", "display name")
	del := &cobra.Command{Use: "delete ID", Short: "Delete an entity with everything in it", Args: cobra.ExactArgs(1), RunE: func(_ *cobra.Command, a []string) error {
		ctx, cancel := x.call()
		defer cancel()
		if err := x.c.DeleteEntity(ctx, a[0]); err != nil {
			return err
		}
		return x.say(map[string]any{"deleted": a[0]}, "deleted entity %s", a[0])
	}}
	cmd.AddCommand(list, get, create, del)
	return cmd
}

func roleNames(refs []client.UserRef) string {
	var out []string
	for _, r := range refs {
		s := r.Name
		if r.Scope != nil {
			s += "@" + *r.Scope
		}
		out = append(out, s)
	}
	return orDash(strings.Join(out, ","))
}

var userHeader = []string{"ID", "EMAIL", "NAME", "ROLES"}

func userRow(u client.User) []string {
	return []string{u.ID, orDash(u.Email), orDash(u.Name), roleNames(u.Roles)}
}

func (x *cli) usersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage the users of an entity and their roles"}
	x.entityFlag(cmd)
	var lo client.UserListOptions
	list := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs, RunE: x.inEntity(func(ctx context.Context, ent string, _ []string) error {
		p, err := x.c.ListUsers(ctx, ent, lo)
		if err != nil {
			return err
		}
		return emitPage(x, p, userHeader, userRow)
	})}
	pageFlags(list, &lo.ListOptions)
	list.Flags().StringVar(&lo.Search, "search", "", "id, email or name containing this")
	get := &cobra.Command{Use: "get USER", Short: "Show a user", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		u, err := x.c.GetUser(ctx, ent, a[0], false)
		if err != nil {
			return err
		}
		return x.emit(u, append(userHeader, "ATTRIBUTES"), [][]string{append(userRow(u), attrsText(u.Attributes))})
	})}
	var email, name string
	var roles []string
	var attrs attrFlags
	// input reads the flags of create and update: the fields given (on
	// create, an empty email or name is none).
	input := func(cmd *cobra.Command, ent string, in *client.UserInput) error {
		patch := cmd.Name() == "update"
		if cmd.Flags().Changed("email") && (patch || email != "") {
			in.Email = &email
		}
		if cmd.Flags().Changed("name") && (patch || name != "") {
			in.Name = &name
		}
		if attrs.given() {
			m, err := attrs.attributes()
			if err != nil {
				return err
			}
			in.Attributes = &m
		}
		if cmd.Flags().Changed("role") {
			ids, err := x.roleIDs(ent, roles)
			if err != nil {
				return err
			}
			in.RoleIDs = &ids
		}
		return nil
	}
	var create *cobra.Command
	create = &cobra.Command{Use: "create USER", Short: "Create a user (without --role: the default roles)", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		in := client.UserInput{ID: a[0]}
		if err := input(create, ent, &in); err != nil {
			return err
		}
		u, err := x.c.CreateUser(ctx, ent, in)
		if err != nil {
			return err
		}
		return x.say(u, "created user %s with roles %s", u.ID, roleNames(u.Roles))
	})}
	userFlags := func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&email, "email", "", "email")
		cmd.Flags().StringVar(&name, "name", "", "name")
		cmd.Flags().StringSliceVar(&roles, "role", nil, "role id or name (repeatable)")
		attrs.register(cmd, "attributes", "the user's")
	}
	userFlags(create)
	var update *cobra.Command
	update = &cobra.Command{Use: "update USER", Short: "Change a user's email, name, roles (--role replaces the unscoped ones) or attributes (replaced whole; --attributes '{}' clears them)",
		Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
			var in client.UserInput
			if err := input(update, ent, &in); err != nil {
				return err
			}
			if in.Email == nil && in.Name == nil && in.RoleIDs == nil && in.Attributes == nil {
				return usageError{errNoChange}
			}
			u, err := x.c.UpdateUser(ctx, ent, a[0], in)
			if err != nil {
				return err
			}
			return x.say(u, "updated user %s: roles %s, attributes %s", u.ID, roleNames(u.Roles), attrsText(u.Attributes))
		})}
	userFlags(update)
	del := &cobra.Command{Use: "delete USER", Short: "Delete a user", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		if err := x.c.DeleteUser(ctx, ent, a[0]); err != nil {
			return err
		}
		return x.say(map[string]any{"deleted": a[0]}, "deleted user %s", a[0])
	})}
	var scope string
	assign := &cobra.Command{Use: "assign USER ROLE", Short: "Give a role (id or name) to a user", Args: cobra.ExactArgs(2), RunE: x.userRole(func(ctx context.Context, ent, roleID string, a []string) error {
		as, err := x.c.AssignRole(ctx, ent, a[0], roleID, scope)
		if err != nil {
			return err
		}
		return x.say(as, "user %s holds role %s%s", a[0], a[1], scopeSuffix(scope))
	})}
	assign.Flags().StringVar(&scope, "scope", "", "only in this scope (e.g. team:42)")
	unassign := &cobra.Command{Use: "unassign USER ROLE", Short: "Take a role (id or name) from a user", Args: cobra.ExactArgs(2), RunE: x.userRole(func(ctx context.Context, ent, roleID string, a []string) error {
		if err := x.c.UnassignRole(ctx, ent, a[0], roleID, scope); err != nil {
			return err
		}
		return x.say(map[string]any{"user_id": a[0], "role_id": roleID, "scope": scope}, "user %s no longer holds role %s%s", a[0], a[1], scopeSuffix(scope))
	})}
	unassign.Flags().StringVar(&scope, "scope", "", "the scope it was given in")
	var past asOfFlags
	var perms *cobra.Command
	perms = &cobra.Command{Use: "permissions USER", Short: "A user's effective rights (deny applied)", Args: cobra.ExactArgs(1), RunE: x.inEntity(func(ctx context.Context, ent string, a []string) error {
		at, err := past.value(perms)
		if err != nil {
			return err
		}
		p, _, err := x.c.UserPermissionsAt(ctx, ent, a[0], scope, at)
		if err != nil {
			return err
		}
		if x.output == "json" {
			return x.emit(p, nil, nil)
		}
		return x.rightsTable(p)
	})}
	perms.Flags().StringVar(&scope, "scope", "", "rights inside this scope too")
	past.register(perms)
	cmd.AddCommand(list, get, create, update, del, assign, unassign, perms, x.userHistoryCmd())
	return cmd
}

// userRole runs fn for the arguments USER ROLE with the role's id (ROLE is
// an id or a name, looked up before the command's context starts).
func (x *cli) userRole(fn func(ctx context.Context, ent, roleID string, a []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, a []string) error {
		ent, err := x.entityOf()
		if err != nil {
			return err
		}
		ids, err := x.roleIDs(ent, a[1:])
		if err != nil {
			return err
		}
		ctx, cancel := x.call()
		defer cancel()
		return fn(ctx, ent, ids[0], a)
	}
}

func scopeSuffix(scope string) string {
	if scope == "" {
		return ""
	}
	return " in " + scope
}

func permRows(p client.Permissions) [][]string {
	var rows [][]string
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			rows = append(rows, []string{o.ObjectType, a.ActionName, a.Permission})
		}
	}
	return rows
}

func (x *cli) clientsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage API clients"}
	var lo client.ListOptions
	row := func(c client.APIClient) []string {
		return []string{c.ClientID, c.Name, str(c.EntityID), strings.Join(c.Scopes, ",")}
	}
	header := []string{"CLIENT_ID", "NAME", "ENTITY", "SCOPES"}
	list := &cobra.Command{Use: "list", Short: "List API clients", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		ctx, cancel := x.call()
		defer cancel()
		p, err := x.c.ListClients(ctx, lo)
		if err != nil {
			return err
		}
		return emitPage(x, p, header, row)
	}}
	pageFlags(list, &lo)
	get := &cobra.Command{Use: "get CLIENT_ID", Short: "Show an API client", Args: cobra.ExactArgs(1), RunE: func(_ *cobra.Command, a []string) error {
		ctx, cancel := x.call()
		defer cancel()
		c, err := x.c.GetClient(ctx, a[0])
		if err != nil {
			return err
		}
		return x.emit(c, header, [][]string{row(c)})
	}}
	var in client.APIClientInput
	create := &cobra.Command{Use: "create", Short: "Create an API client; its secret is shown once", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		ctx, cancel := x.call()
		defer cancel()
		c, err := x.c.CreateClient(ctx, in)
		if err != nil {
			return err
		}
		if x.output == "json" {
			return x.emit(c, nil, nil)
		}
		fmt.Fprintf(x.stdout, "created client %s\nclient_id:     %s\nclient_secret: %s\n(the secret is shown only now)\n", c.Name, c.ClientID, c.Secret)
		return nil
	}}
	create.Flags().StringVar(&in.Name, "name", "", "name")
	create.Flags().StringVar(&in.EntityID, "entity", "", "bind it to this entity (else a platform client)")
	create.Flags().StringSliceVar(&in.Scopes, "scope", nil, "check, manage or admin (repeatable)")
	_ = create.MarkFlagRequired("name")
	del := &cobra.Command{Use: "delete CLIENT_ID", Short: "Delete an API client; its tokens stop", Args: cobra.ExactArgs(1), RunE: func(_ *cobra.Command, a []string) error {
		ctx, cancel := x.call()
		defer cancel()
		if err := x.c.DeleteClient(ctx, a[0]); err != nil {
			return err
		}
		return x.say(map[string]any{"deleted": a[0]}, "deleted client %s", a[0])
	}}
	cmd.AddCommand(list, get, create, del)
	return cmd
}

func (x *cli) checkCmd() *cobra.Command {
	var r client.CheckRequest
	var attrs attrFlags
	var past asOfFlags
	cmd := &cobra.Command{Use: "check USER OBJECT_TYPE ACTION", Short: "Ask whether a user may do an action (exit 0 either way; see the answer)",
		Args: cobra.ExactArgs(3), RunE: func(c *cobra.Command, a []string) error {
			res, err := attrs.attributes()
			if err != nil {
				return err
			}
			r.Resource = res
			if err := past.apply(c, &r); err != nil {
				return err
			}
			return x.inEntity(func(ctx context.Context, ent string, a []string) error {
				return x.check(ctx, r, ent, a)
			})(c, a)
		}}
	x.entityFlag(cmd)
	cmd.Flags().StringVar(&r.OwnerID, "owner", "", "owner of the object (allowed_for_own)")
	cmd.Flags().StringVar(&r.Scope, "scope", "", "scope of the check")
	attrs.register(cmd, "resource", "the object's")
	cmd.Flags().BoolVar(&r.Explain, "explain", false, "list the rules that decided (with their conditions' values)")
	cmd.Flags().Int64Var(&r.MinRevision, "min-revision", 0, "answer from this revision of the policy or newer")
	past.register(cmd)
	return cmd
}

// check asks r about user a[0], object type a[1], action a[2] and prints the
// answer.
func (x *cli) check(ctx context.Context, r client.CheckRequest, ent string, a []string) error {
	r.EntityID, r.UserID, r.ObjectType, r.Action = ent, a[0], a[1], a[2]
	d, err := x.c.Check(ctx, r)
	if err != nil {
		return err
	}
	if x.output == "json" {
		return x.emit(d, nil, nil)
	}
	verdict := "denied"
	if d.Allowed {
		verdict = "allowed"
	} else if why := x.missing(ctx, ent, r.UserID); why != "" && r.AsOf == nil && r.AtRevision == nil {
		// The API denies a check on what does not exist (it never
		// errs on a check); the CLI says which it is.
		fmt.Fprintf(x.stdout, "denied: %s\n", why)
		return nil
	}
	fmt.Fprintf(x.stdout, "%s (%s) at revision %d\n", verdict, d.Permission, d.Revision)
	if r.Explain && len(d.Matched) > 0 {
		return matchTable(x, d.Matched)
	}
	return nil
}

// matchTable prints the rules that decided; with CONDITION and VALUE columns
// when any of them is conditional.
func matchTable(x *cli, ms []client.Match) error {
	conditional := false
	for _, m := range ms {
		conditional = conditional || m.Condition != ""
	}
	header := []string{"ROLE_ID", "ROLE", "PERMISSION"}
	if conditional {
		header = append(header, "CONDITION", "VALUE")
	}
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		row := []string{str(m.RoleID), str(m.RoleName), m.Permission}
		if conditional {
			c, v := conditionCells(m)
			row = append(row, c, v)
		}
		rows = append(rows, row)
	}
	return table(x.stdout, header, rows)
}

// missing says whether a denied check named an entity or a user that does
// not exist ("" when both exist, or when this token may not read them).
func (x *cli) missing(ctx context.Context, ent, user string) string {
	if _, err := x.c.GetEntity(ctx, ent); err != nil {
		if client.IsNotFound(err) {
			return fmt.Sprintf("entity %q does not exist (every check on it is denied)", ent)
		}
		return ""
	}
	if _, err := x.c.GetUser(ctx, ent, user, false); client.IsNotFound(err) {
		return fmt.Sprintf("user %q does not exist in entity %q (every check of theirs is denied)", user, ent)
	}
	return ""
}

func (x *cli) auditCmd() *cobra.Command {
	var o client.AuditListOptions
	cmd := &cobra.Command{Use: "audit", Short: "An entity's audit log, newest first", Args: cobra.NoArgs, RunE: x.inEntity(func(ctx context.Context, ent string, _ []string) error {
		p, err := x.c.ListAuditEvents(ctx, ent, o)
		if err != nil {
			return err
		}
		return emitPage(x, p, []string{"TIME", "ACTOR", "ACTION", "OBJECT", "REQUEST_ID"}, func(e client.AuditEvent) []string {
			return []string{e.Time, str(e.Actor), e.Action, e.ObjectID, str(e.RequestID)}
		})
	})}
	x.entityFlag(cmd)
	pageFlags(cmd, &o.ListOptions)
	cmd.Flags().StringVar(&o.ObjectType, "object-type", "", "only events about this object type (role, user, ...)")
	cmd.Flags().StringVar(&o.Actor, "actor", "", "only events by this actor")
	return cmd
}

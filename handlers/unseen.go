package handlers

import "github.com/rolegate/rolegate"

// A facade shows only part of a role's rights: Dintero's scope strings and
// Papershift's rights hold allowed rights only, Monite's document has no
// "denied" and only Monite's object types. A write through a facade must
// never lose what it cannot show: replacing a role's (or a user's) rights
// through it keeps every right it cannot show, unless the write names that
// same object type and action. Otherwise a client doing read-modify-write
// would silently drop denies set natively, and so unmask what they deny.

// shownFunc reports whether an API shows (and can write) a right; each API's
// is in its *_codec.go.
type shownFunc func(objectType string, a rolegate.ActionPermission) bool

// keepUnseen returns next with the rights of prev that shown does not show
// and next does not name added, in prev's order after next's. A nil shown
// keeps nothing: the caller sees everything.
func keepUnseen(prev, next rolegate.Permissions, shown shownFunc) rolegate.Permissions {
	if shown == nil {
		return next
	}
	named := map[[2]string]bool{}
	at := map[string]int{} // object type -> index in out
	out := rolegate.Permissions{Objects: make([]rolegate.ObjectPermissions, 0, len(next.Objects))}
	for _, o := range next.Objects {
		at[o.ObjectType] = len(out.Objects)
		out.Objects = append(out.Objects, rolegate.ObjectPermissions{ObjectType: o.ObjectType, Actions: append([]rolegate.ActionPermission(nil), o.Actions...)})
		for _, a := range o.Actions {
			named[[2]string{o.ObjectType, a.ActionName}] = true
		}
	}
	for _, o := range prev.Objects {
		for _, a := range o.Actions {
			if shown(o.ObjectType, a) || named[[2]string{o.ObjectType, a.ActionName}] {
				continue
			}
			i, ok := at[o.ObjectType]
			if !ok {
				i = len(out.Objects)
				at[o.ObjectType] = i
				out.Objects = append(out.Objects, rolegate.ObjectPermissions{ObjectType: o.ObjectType})
			}
			out.Objects[i].Actions = append(out.Objects[i].Actions, a)
		}
	}
	return out
}

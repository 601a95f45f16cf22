package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// Separation of duties (issue 26): an entity's constraints (rolegate.Constraint)
// and their enforcement. Every write that goes through Service.write is
// checked, before it commits, against the entity's enforcing constraints: a
// write that would make a user hold two rights of one (without an exception
// in force) is refused with 409 separation_of_duties naming the first
// rolegate.MaxViolationsShown violations (rolegate.Error.Violations), and
// changes nothing. A dry run reports the violations it would create.
//
// The constraints themselves are guarded by the reserved object type
// ObjectConstraint (create, read, update, delete); each change is audited
// (AuditObjectConstraint) and bumps the entity's revision.

// ObjectConstraint is the reserved object type of the constraint API.
const ObjectConstraint = "constraint"

// Bounds of a constraint's text, and of how many an entity may hold (every
// write to the entity reads them all).
const (
	MaxConstraintNameLen        = 100
	MaxConstraintDescriptionLen = 1000
	MaxConstraintReasonLen      = 500
	// MaxConstraintExceptionTerm is how far ahead an exception may expire.
	MaxConstraintExceptionTerm = 366 * 24 * time.Hour
	MaxEntityConstraints       = 100
)

func constraintNotFound(id string) error {
	return rolegate.Errorf(rolegate.KindNotFound, "constraint_not_found", "constraint %q not found", clip(id))
}

func constraintNameTaken(name string) error {
	e := rolegate.Errorf(rolegate.KindConflict, "constraint_name_taken", "a constraint named %q already exists", name)
	e.Details = []rolegate.Detail{{Field: "name", Message: "taken by another constraint of the entity", Value: name}}
	return e
}

// CreateConstraint stores a new constraint (its ID is made). In
// ConstraintEnforce mode over an entity that already violates it, it is
// refused (409 separation_of_duties with the violations); in
// ConstraintReport mode it is stored as it is.
func (s *Service) CreateConstraint(ctx context.Context, c rolegate.Constraint) (rolegate.Constraint, int64, error) {
	if err := s.authorize(ctx, c.EntityID, auth.ScopeManage, ObjectConstraint, ActionCreate); err != nil {
		return rolegate.Constraint{}, 0, err
	}
	c, err := s.validateConstraint(ctx, c, nil)
	if err != nil {
		return rolegate.Constraint{}, 0, err
	}
	actor := auth.ActorFrom(ctx).ID
	c.ID, c.CreatedBy, c.UpdatedBy = uuid.NewString(), actor, actor
	rev, err := s.write(ctx, c.EntityID, func(tx recordingTx, now time.Time) error {
		c.CreatedAt, c.UpdatedAt = now, now
		have, err := tx.ListConstraints(c.EntityID)
		if err != nil {
			return err
		}
		if len(have) >= MaxEntityConstraints {
			return quotaExceeded(c.EntityID, "constraints", MaxEntityConstraints)
		}
		if err := tx.InsertConstraint(&c); err != nil {
			if errors.Is(err, rolegate.ErrDuplicate) {
				return constraintNameTaken(c.Name)
			}
			return err
		}
		if err := s.refuseViolated(ctx, tx, c, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, c.EntityID, AuditConstraintCreate, AuditObjectConstraint, c.ID, nil, constraintDocOf(c))
	})
	if err != nil {
		return rolegate.Constraint{}, 0, err
	}
	return c, rev, nil
}

// GetConstraint returns one constraint. 404 constraint_not_found.
func (s *Service) GetConstraint(ctx context.Context, entityID, id string) (rolegate.Constraint, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectConstraint, ActionRead); err != nil {
		return rolegate.Constraint{}, err
	}
	var c rolegate.Constraint
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = getConstraint(tx, entityID, id)
		return err
	})
	return c, err
}

// getConstraint reads one constraint: 404 for an unknown entity or
// constraint.
func getConstraint(tx Tx, entityID, id string) (rolegate.Constraint, error) {
	c, err := tx.GetConstraint(entityID, id)
	if rolegate.IsNotFound(err) {
		if err := entityExists(tx, entityID); err != nil {
			return c, err
		}
		return c, constraintNotFound(id)
	}
	return c, err
}

// ListConstraints returns the entity's constraints ordered by name.
func (s *Service) ListConstraints(ctx context.Context, entityID string) ([]rolegate.Constraint, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectConstraint, ActionRead); err != nil {
		return nil, err
	}
	var out []rolegate.Constraint
	err := s.store.View(ctx, func(tx Tx) error {
		if err := entityExists(tx, entityID); err != nil {
			return err
		}
		var err error
		out, err = tx.ListConstraints(entityID)
		return err
	})
	return out, err
}

// ReplaceConstraint overwrites a constraint (name, description, rights,
// mode, exceptions). Switching to enforce is refused while it has
// violations (409 separation_of_duties).
func (s *Service) ReplaceConstraint(ctx context.Context, c rolegate.Constraint) (rolegate.Constraint, int64, error) {
	if err := s.authorize(ctx, c.EntityID, auth.ScopeManage, ObjectConstraint, ActionUpdate); err != nil {
		return rolegate.Constraint{}, 0, err
	}
	// The exceptions stored already are checked against the stored ones
	// (an entity user may keep, not add, its own), so the input is validated
	// in the transaction.
	var out rolegate.Constraint
	rev, err := s.write(ctx, c.EntityID, func(tx recordingTx, now time.Time) error {
		old, err := getConstraint(tx, c.EntityID, c.ID)
		if err != nil {
			return err
		}
		next, err := s.validateConstraint(ctx, c, &old)
		if err != nil {
			return err
		}
		next.ID, next.EntityID = old.ID, old.EntityID
		next.CreatedAt, next.CreatedBy = old.CreatedAt, old.CreatedBy
		next.UpdatedAt, next.UpdatedBy = now, auth.ActorFrom(ctx).ID
		if err := tx.UpdateConstraint(&next); err != nil {
			if errors.Is(err, rolegate.ErrDuplicate) {
				return constraintNameTaken(next.Name)
			}
			return err
		}
		if err := s.refuseViolated(ctx, tx, next, now); err != nil {
			return err
		}
		out = next
		return s.audit(ctx, tx, now, c.EntityID, AuditConstraintUpdate, AuditObjectConstraint, next.ID, constraintDocOf(old), constraintDocOf(next))
	})
	if err != nil {
		return rolegate.Constraint{}, 0, err
	}
	return out, rev, nil
}

// DeleteConstraint removes one. 404 constraint_not_found.
func (s *Service) DeleteConstraint(ctx context.Context, entityID, id string) (int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectConstraint, ActionDelete); err != nil {
		return 0, err
	}
	return s.write(ctx, entityID, func(tx recordingTx, now time.Time) error {
		old, err := getConstraint(tx, entityID, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteConstraint(entityID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, now, entityID, AuditConstraintDelete, AuditObjectConstraint, id, constraintDocOf(old), nil)
	})
}

// ConstraintViolations lists every user in violation of the constraint now
// (exceptions in force left out), and the revision answered from. It
// reveals users' rights: the caller needs to read the constraint, users and
// roles (as who-can).
func (s *Service) ConstraintViolations(ctx context.Context, entityID, id string) ([]rolegate.Violation, int64, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectConstraint, ActionRead); err != nil {
		return nil, 0, err
	}
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return nil, 0, err
	}
	var c rolegate.Constraint
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = getConstraint(tx, entityID, id)
		return err
	}); err != nil {
		return nil, 0, err
	}
	vs, rev, err := s.engine.ScanViolations(ctx, entityID, []rolegate.Constraint{c})
	if err != nil {
		return nil, 0, unavailable(err)
	}
	vs = withoutExcepted(vs, []rolegate.Constraint{c}, s.clock())
	if vs == nil {
		vs = []rolegate.Violation{}
	}
	return vs, rev, nil
}

// ---- validation ----

// validateConstraint checks a constraint as written and returns it as it is
// stored (name in NFC, mode defaulted, exceptions' expiries in UTC). old is
// the stored constraint a replacement overwrites, nil for a creation.
func (s *Service) validateConstraint(ctx context.Context, c rolegate.Constraint, old *rolegate.Constraint) (rolegate.Constraint, error) {
	c.Name = NormalizeName(c.Name)
	if c.Name == "" {
		return c, rolegate.Invalid("missing_field", "name", "name is required")
	}
	if err := ValidateName("name", c.Name); err != nil {
		return c, err
	}
	if utf8.RuneCountInString(c.Name) > MaxConstraintNameLen {
		return c, rolegate.Invalid("invalid_name", "name", "name must be at most %d characters", MaxConstraintNameLen)
	}
	if utf8.RuneCountInString(c.Description) > MaxConstraintDescriptionLen {
		return c, rolegate.Invalid("invalid_description", "description", "description must be at most %d characters", MaxConstraintDescriptionLen)
	}
	if err := validateText("description", c.Description, 4*MaxConstraintDescriptionLen); err != nil {
		return c, err
	}
	if err := s.validateConstraintRights(c.Rights); err != nil {
		return c, err
	}
	switch c.Mode {
	case "":
		c.Mode = rolegate.ConstraintEnforce
	case rolegate.ConstraintEnforce, rolegate.ConstraintReport:
	default:
		return c, &rolegate.Error{Kind: rolegate.KindInvalid, Code: "invalid_field", Message: "mode must be enforce or report",
			Details: []rolegate.Detail{{Field: "mode", Message: "must be enforce or report", Value: clip(c.Mode)}}}
	}
	if err := s.validateExceptions(ctx, c.Exceptions, old); err != nil {
		return c, err
	}
	c.Rights = slices.Clone(c.Rights)
	c.Exceptions = slices.Clone(c.Exceptions)
	for i := range c.Exceptions {
		c.Exceptions[i].ExpiresAt = c.Exceptions[i].ExpiresAt.UTC().Truncate(time.Millisecond)
	}
	if len(c.Exceptions) == 0 {
		c.Exceptions = nil
	}
	return c, nil
}

// validateConstraintRights checks a constraint's rights as a role's are
// checked (identifiers, the catalog when there is one) but for wildcards,
// which a constraint may not name, and reports every offender at once.
func (s *Service) validateConstraintRights(rs []rolegate.ConstraintRight) error {
	if len(rs) > rolegate.MaxConstraintRights {
		return rolegate.Invalid("too_many_rights", "rights", "a constraint names at most %d rights, not %d", rolegate.MaxConstraintRights, len(rs))
	}
	if len(rs) < rolegate.MinConstraintRights {
		return rolegate.Invalid("invalid_field", "rights", "a constraint names at least %d rights, not %d", rolegate.MinConstraintRights, len(rs))
	}
	var details []rolegate.Detail
	var unknown []string
	repeated := false // a right appears more than once: the code is duplicate_permission
	seen := map[rolegate.ConstraintRight]bool{}
	for i, r := range rs {
		f := fmt.Sprintf("rights[%d]", i)
		switch {
		case r.ObjectType == rolegate.Wildcard || r.Action == rolegate.Wildcard:
			details = append(details, rolegate.Detail{Field: f, Message: "a constraint names rights, not wildcards", Value: clip(r.ObjectType + "." + r.Action)})
			continue
		case !ValidObjectType(r.ObjectType):
			details = append(details, rolegate.Detail{Field: f + ".object_type", Message: "must be an identifier (^[a-z][a-z0-9_]{0,63}$) with an optional \":<sub-resource>\" tail", Value: clip(r.ObjectType)})
			continue
		case !identRe.MatchString(r.Action):
			details = append(details, rolegate.Detail{Field: f + ".action", Message: "must match ^[a-z][a-z0-9_]{0,63}$", Value: clip(r.Action)})
			continue
		case seen[r]:
			details = append(details, rolegate.Detail{Field: f, Message: fmt.Sprintf("(%s, %s) appears more than once", r.ObjectType, r.Action), Value: r.ObjectType + "." + r.Action})
			repeated = true
			continue
		}
		seen[r] = true
		if s.catalog != nil {
			objOK, actOK := s.catalog.Has(r.ObjectType, r.Action)
			switch {
			case !objOK:
				unknown = append(unknown, r.ObjectType)
			case !actOK:
				unknown = append(unknown, r.ObjectType+"."+r.Action)
			}
		}
	}
	if len(details) > 0 {
		code := "invalid_field"
		if repeated {
			code = "duplicate_permission"
		}
		return &rolegate.Error{Kind: rolegate.KindInvalid, Code: code, Message: details[0].Field + ": " + details[0].Message, Details: details}
	}
	if len(unknown) > 0 {
		unknown = dedupe(unknown)
		e := &rolegate.Error{Kind: rolegate.KindInvalid, Code: "unknown_object_type", Message: "not in the object-type catalog: " + strings.Join(unknown, ", ")}
		for _, u := range unknown {
			e.Details = append(e.Details, rolegate.Detail{Field: "rights", Message: "not in the object-type catalog", Value: u})
		}
		return e
	}
	return nil
}

// validateExceptions checks a constraint's exceptions: at most
// MaxConstraintExceptions, each naming a user id (which need not exist yet)
// once, with a reason and an expiry in the future, at most
// MaxConstraintExceptionTerm ahead. An entity user may not give itself an
// exception (nor lengthen its own): one it holds already may stay as it is.
func (s *Service) validateExceptions(ctx context.Context, es []rolegate.ConstraintException, old *rolegate.Constraint) error {
	if len(es) > rolegate.MaxConstraintExceptions {
		return rolegate.Invalid("too_many_exceptions", "exceptions", "a constraint holds at most %d exceptions, not %d", rolegate.MaxConstraintExceptions, len(es))
	}
	now := s.clock()
	self := auth.ActorFrom(ctx).UserID
	seen := map[string]bool{}
	for i, e := range es {
		f := fmt.Sprintf("exceptions[%d]", i)
		switch {
		case e.UserID == "":
			return rolegate.Invalid("missing_field", f+".user_id", "%s.user_id is required", f)
		case !rolegate.ValidUserID(e.UserID):
			return rolegate.Invalid("invalid_user_id", f+".user_id", "%s.user_id must be 1-%d printable ASCII characters without spaces, not . or ..", f, rolegate.MaxUserIDLen)
		case seen[e.UserID]:
			return &rolegate.Error{Kind: rolegate.KindInvalid, Code: "invalid_field", Message: f + ".user_id: the user has an exception already",
				Details: []rolegate.Detail{{Field: f + ".user_id", Message: "the user has an exception already", Value: clip(e.UserID)}}}
		case strings.TrimSpace(e.Reason) == "":
			return rolegate.Invalid("missing_field", f+".reason", "%s.reason is required: an exception is documented", f)
		case utf8.RuneCountInString(e.Reason) > MaxConstraintReasonLen:
			return rolegate.Invalid("invalid_field", f+".reason", "%s.reason must be at most %d characters", f, MaxConstraintReasonLen)
		case e.ExpiresAt.IsZero():
			return rolegate.Invalid("missing_field", f+".expires_at", "%s.expires_at is required: an exception expires", f)
		}
		seen[e.UserID] = true
		if !plainText(e.Reason) {
			return rolegate.Invalid("invalid_field", f+".reason", "%s.reason must be valid UTF-8 without control characters", f)
		}
		kept := old != nil && slices.ContainsFunc(old.Exceptions, func(o rolegate.ConstraintException) bool {
			return o.UserID == e.UserID && o.Reason == e.Reason && o.ExpiresAt.Equal(e.ExpiresAt.UTC().Truncate(time.Millisecond))
		})
		if kept {
			continue // as stored: it may stay until it expires
		}
		if !e.ExpiresAt.After(now) {
			return rolegate.Invalid("invalid_expires_at", f+".expires_at", "%s.expires_at must be in the future", f)
		}
		if e.ExpiresAt.After(now.Add(MaxConstraintExceptionTerm)) {
			return rolegate.Invalid("invalid_expires_at", f+".expires_at", "%s.expires_at must be at most a year ahead", f)
		}
		if self != "" && e.UserID == self {
			return rolegate.Errorf(rolegate.KindForbidden, "privilege_escalation", "you may not give yourself an exception to a separation-of-duties constraint")
		}
	}
	return nil
}

// plainText reports whether s is valid UTF-8 without control characters
// (but for tabs and newlines), as validateText checks.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' && r != '\n' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

// ---- enforcement ----

// refuseViolated refuses to store c in enforce mode while the entity
// violates it (exceptions in force left out), reading the policy as it
// stands before the write (the revision before the one tx took the entity
// to: writes to the entity wait for tx, so none comes in between).
func (s *Service) refuseViolated(ctx context.Context, tx Tx, c rolegate.Constraint, now time.Time) error {
	if c.Mode != rolegate.ConstraintEnforce {
		return nil
	}
	e, err := tx.GetEntity(c.EntityID)
	if err != nil {
		return err
	}
	want := e.Revision - 1
	for try := 0; ; try++ {
		vs, rev, err := s.engine.ScanViolations(ctx, c.EntityID, []rolegate.Constraint{c})
		if err != nil {
			return unavailable(err)
		}
		if rev == want {
			if vs = withoutExcepted(vs, []rolegate.Constraint{c}, now); len(vs) > 0 {
				if s.dry != nil {
					s.dry.Violations = vs
					return nil
				}
				return sodRefused(vs, "the entity already violates it: fix the violations, or store it in report mode")
			}
			return nil
		}
		if try == 1 {
			return unavailable(fmt.Errorf("separation of duties: the engine holds revision %d, not %d", rev, want))
		}
		if err := s.engine.Refresh(ctx, c.EntityID); err != nil {
			return unavailable(err)
		}
	}
}

// enforceConstraints is Service.write's check of what fn recorded against
// the entity's enforcing constraints, in the write's transaction: a write
// that changes no rule (a constraint's own, a name) reads nothing; an entity
// without an enforcing constraint costs one indexed query (of the
// constraints' rights, not their exceptions). The violations
// the write would create, those of users with an exception in force left
// out, refuse it (409 separation_of_duties), or, in a dry run, are reported
// in DryRunResult.Violations.
func (s *Service) enforceConstraints(ctx context.Context, tx Tx, entityID string, rev int64, now time.Time, d engine.Delta) error {
	if d.Empty() {
		return nil
	}
	all, err := tx.ConstraintRules(entityID)
	if err != nil {
		return err
	}
	cs := all[:0:0]
	for _, c := range all {
		if c.Mode == rolegate.ConstraintEnforce {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil
	}
	if d.Full {
		// Never a Service write of an entity that keeps constraints.
		return rolegate.Errorf(rolegate.KindInternal, "internal", "a write that reloads the entity cannot be checked against its constraints")
	}
	vs, err := s.engine.Violations(ctx, entityID, rev, d, cs)
	if err != nil {
		if s.dry != nil {
			return unavailable(err)
		}
		return &rolegate.Error{Kind: rolegate.KindUnavailable, Code: "policy_unavailable",
			Message: "the entity's policy cannot be read to check the write against its separation-of-duties constraints; try again", Err: err}
	}
	if len(vs) == 0 {
		return nil
	}
	// The exceptions of the constraints violated (ConstraintRules reads
	// none): what a write reads grows with what it would violate only.
	var violated []rolegate.Constraint
	for _, c := range cs {
		if slices.ContainsFunc(vs, func(v rolegate.Violation) bool { return v.ConstraintID == c.ID }) {
			full, err := tx.GetConstraint(entityID, c.ID)
			if err != nil {
				return err
			}
			violated = append(violated, full)
		}
	}
	if vs = withoutExcepted(vs, violated, now); len(vs) == 0 {
		return nil
	}
	if s.dry != nil {
		s.dry.Violations = vs
		return nil
	}
	return sodRefused(vs, "")
}

// withoutExcepted drops the violations of users with an exception in force
// at now to their constraint (one of cs).
func withoutExcepted(vs []rolegate.Violation, cs []rolegate.Constraint, now time.Time) []rolegate.Violation {
	excepted := map[[2]string]bool{}
	for _, c := range cs {
		for _, e := range c.Exceptions {
			if now.Before(e.ExpiresAt) {
				excepted[[2]string{c.ID, e.UserID}] = true
			}
		}
	}
	if len(excepted) == 0 {
		return vs
	}
	out := vs[:0:0]
	for _, v := range vs {
		if !excepted[[2]string{v.ConstraintID, v.UserID}] {
			out = append(out, v)
		}
	}
	return out
}

// sodRefused is the 409 of a write that would leave users holding rights a
// constraint separates: its message names the constraints and the first
// violation, Violations lists the first rolegate.MaxViolationsShown.
func sodRefused(vs []rolegate.Violation, why string) error {
	var names []string
	for _, v := range vs {
		if q := fmt.Sprintf("%q", v.ConstraintName); !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	first := vs[0]
	var rights []string
	for _, r := range first.Rights {
		rights = append(rights, r.ObjectType+"."+r.Action)
	}
	where := ""
	if first.Scope != "" {
		where = fmt.Sprintf(" in scope %q", first.Scope)
	}
	msg := fmt.Sprintf("separation of duties: constraint %s: user %q would hold %s together%s", strings.Join(names, ", "),
		clip(first.UserID), strings.Join(rights, " and "), where)
	if len(vs) > 1 {
		msg += fmt.Sprintf(" (%d violations in all)", len(vs))
	}
	if why != "" {
		msg = fmt.Sprintf("separation of duties: constraint %s: %s; user %q holds %s together%s", strings.Join(names, ", "), why,
			clip(first.UserID), strings.Join(rights, " and "), where)
	}
	shown := vs
	if len(shown) > rolegate.MaxViolationsShown {
		shown = shown[:rolegate.MaxViolationsShown]
	}
	return &rolegate.Error{Kind: rolegate.KindConflict, Code: "separation_of_duties", Message: msg, Violations: slices.Clone(shown)}
}

// constraintDocOf is a constraint as the audit log stores it.
func constraintDocOf(c rolegate.Constraint) api.AuditConstraint {
	out := api.AuditConstraint{ID: c.ID, EntityID: c.EntityID, Name: c.Name, Description: c.Description, Mode: c.Mode,
		Rights: make([]api.AuditConstraintRight, 0, len(c.Rights)), Exceptions: make([]api.AuditConstraintException, 0, len(c.Exceptions)),
		CreatedAt: auditTime(c.CreatedAt), CreatedBy: auditNullable(c.CreatedBy), UpdatedAt: auditTime(c.UpdatedAt), UpdatedBy: auditNullable(c.UpdatedBy)}
	for _, r := range c.Rights {
		out.Rights = append(out.Rights, api.AuditConstraintRight{ObjectType: r.ObjectType, Action: r.Action})
	}
	for _, e := range c.Exceptions {
		out.Exceptions = append(out.Exceptions, api.AuditConstraintException{UserID: e.UserID, Reason: e.Reason, ExpiresAt: auditTime(e.ExpiresAt)})
	}
	return out
}

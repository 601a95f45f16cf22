package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// CheckRequest is one question: may UserID do Action on ObjectType in
// EntityID? OwnerID is who owns the object (for allowed_for_own); Scope
// counts the user's assignments inside that scope too.
type CheckRequest struct {
	EntityID   string
	UserID     string
	ObjectType string
	Action     string
	OwnerID    string
	Scope      string
	// Resource are the attributes conditions read as resource (normalized
	// by condition.Normalize before the engine sees them).
	Resource map[string]any
	Explain  bool
	// MinRevision, when positive, is the oldest revision of the entity's
	// policy the answer may come from (a revision a write returned): an
	// older policy held is reloaded first, and the check fails with
	// stale_policy rather than answer from it.
	MinRevision int64
	// AsOf, when not now, asks the policy of a past instant or revision
	// (history.go): the decision that policy gave, expiring assignments
	// judged at that instant. MinRevision does not apply to it.
	AsOf rolegate.AsOf
	// noGrantable leaves grantable_by out of an explained refusal, before
	// it is worked out (Service.explainable).
	noGrantable bool
}

// question is the engine's form of a check.
func (r CheckRequest) question() engine.Request {
	return engine.Request{EntityID: r.EntityID, UserID: r.UserID, ObjectType: r.ObjectType, Action: r.Action, OwnerID: r.OwnerID,
		Scope: r.Scope, Resource: r.Resource, Explain: r.Explain, MinRevision: r.MinRevision, NoGrantable: r.noGrantable}
}

// UserPermissions returns a user's effective rights (deny applied), entity-wide
// plus inside scope when one is given.
func (s *Service) UserPermissions(ctx context.Context, entityID, userID, scope string) (rolegate.Permissions, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return rolegate.Permissions{}, err
	}
	if scope != "" && !ValidScope(scope) {
		return rolegate.Permissions{}, invalidScope("scope")
	}
	if _, err := s.GetUser(ctx, entityID, userID); err != nil {
		return rolegate.Permissions{}, err
	}
	p, _, err := s.engine.Effective(ctx, entityID, userID, scope)
	return p, err
}

// authorizeCheck lets a caller ask a check: a token with the check scope,
// bound to the check's entity or to none; a user of the entity may ask about
// itself, and about others with the right to read checks.
func (s *Service) authorizeCheck(ctx context.Context, req CheckRequest) error {
	a := auth.ActorFrom(ctx)
	if a.UserID != "" && a.EntityID == req.EntityID && req.UserID == a.UserID && a.Has(auth.ScopeCheck) {
		return nil
	}
	return s.authorize(ctx, req.EntityID, auth.ScopeCheck, ObjectCheck, ActionRead)
}

// AuthorizeChecks refuses a caller that may ask no check at all (its token
// lacks the check scope), before the checks are known: the transport asks it
// before it reads a check's body. Each check is authorized again.
func (s *Service) AuthorizeChecks(ctx context.Context) error {
	a, err := caller(ctx)
	if err != nil || a.IsInternal() {
		return err
	}
	if !a.Has(auth.ScopeCheck) {
		return rolegate.Errorf(rolegate.KindForbidden, "insufficient_scope", "the token's scopes do not include %q", auth.ScopeCheck)
	}
	return nil
}

// ValidateCheck checks that a check names everything it must.
func ValidateCheck(prefix string, req CheckRequest) error {
	for _, f := range []struct{ name, value string }{
		{"entity_id", req.EntityID}, {"user_id", req.UserID},
		{"object_type", req.ObjectType}, {"action", req.Action},
	} {
		if f.value == "" {
			return rolegate.Invalid("missing_field", prefix+f.name, "%s%s is required", prefix, f.name)
		}
		if len(f.value) > rolegate.MaxUserIDLen {
			return rolegate.Invalid("invalid_field", prefix+f.name, "%s%s is too long", prefix, f.name)
		}
	}
	if len(req.OwnerID) > rolegate.MaxUserIDLen {
		return rolegate.Invalid("invalid_field", prefix+"owner_id", "%sowner_id must be at most %d characters", prefix, rolegate.MaxUserIDLen)
	}
	if req.Scope != "" && !ValidScope(req.Scope) {
		// The rules of an assignment's scope: a scope holding "|" would
		// splice another user's scoped subject (compile.go ScopedSubject).
		return invalidScope(prefix + "scope")
	}
	if req.MinRevision < 0 {
		return rolegate.Invalid("invalid_field", prefix+"min_revision", "%smin_revision must be a revision a write returned (a positive number)", prefix)
	}
	return nil
}

// normalizeResource checks a check's resource (condition.Normalize; 422
// invalid_attributes naming prefix+"resource") and leaves it as conditions
// read it.
func normalizeResource(prefix string, req *CheckRequest) error {
	if len(req.Resource) == 0 {
		req.Resource = nil
		return nil
	}
	attrs, err := normalizeAttributes(prefix+"resource", req.Resource)
	if err != nil {
		return err
	}
	req.Resource = attrs
	return nil
}

// Check answers one question. It never allows on error.
func (s *Service) Check(ctx context.Context, req CheckRequest) (engine.Decision, error) {
	if err := ValidateCheck("", req); err != nil {
		return engine.Decision{Permission: rolegate.NotAllowed}, err
	}
	if err := normalizeResource("", &req); err != nil {
		return engine.Decision{Permission: rolegate.NotAllowed}, err
	}
	if err := s.authorizeCheck(ctx, req); err != nil {
		return engine.Decision{Permission: rolegate.NotAllowed}, err
	}
	if !req.AsOf.IsNow() {
		return s.checkAt(ctx, req, "")
	}
	if err := s.reachable(ctx, "min_revision", req.EntityID, req.MinRevision); err != nil {
		return engine.Decision{Permission: rolegate.NotAllowed}, err
	}
	names := s.explainable(ctx, &req)
	d, err := s.engine.Check(ctx, req.question())
	if err != nil {
		return engine.Decision{Permission: rolegate.NotAllowed}, unavailable(err)
	}
	if !names {
		hideRoleNames(&d)
	}
	return d, nil
}

// explainable decides what an explained check may tell of the entity's roles,
// before it is worked out (so that nothing is worked out to be thrown away).
// A caller who may read roles (role:read; a token with the manage scope)
// sees everything. Any other caller (a client with only the check scope, a
// user of the entity without role:read) gets no grantable_by (other roles of
// the entity, by id and name), and matched and denied_by by role id without
// the role's name (see hideRoleNames), unless it is a user asking about
// itself: those are its own roles.
func (s *Service) explainable(ctx context.Context, req *CheckRequest) (names bool) {
	if !req.Explain || s.authorize(ctx, req.EntityID, auth.ScopeManage, ObjectRole, ActionRead) == nil {
		return true
	}
	req.noGrantable = true
	a := auth.ActorFrom(ctx)
	return a.UserID != "" && a.EntityID == req.EntityID && a.UserID == req.UserID
}

// hideRoleNames leaves the roles of an explained answer as ids only, and
// their conditions as their values only: a condition's text (and why it
// could not be evaluated, which names attributes) is part of the role as
// much as its name is.
func hideRoleNames(d *engine.Decision) {
	for _, ms := range [][]engine.Match{d.Matched, d.DeniedBy} {
		for i := range ms {
			ms[i].RoleName = ""
			if ms[i].Condition != "" {
				ms[i].Condition = HiddenCondition
			}
			if ms[i].ConditionError != "" {
				ms[i].ConditionError = HiddenConditionError
			}
		}
		// Ordered by id, not by the names left out.
		slices.SortStableFunc(ms, func(a, b engine.Match) int { return strings.Compare(a.RoleID, b.RoleID) })
	}
}

// What an explained check shows, to a caller who may not read roles, of a
// conditional right's condition and of why it could not be evaluated.
const (
	HiddenCondition      = "(hidden)"
	HiddenConditionError = "the condition could not be evaluated"
)

// CheckBatch answers several questions, in order.
func (s *Service) CheckBatch(ctx context.Context, reqs []CheckRequest) ([]engine.Decision, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if ValidateCheck("", r) != nil { // the prefix only for the error
			return nil, ValidateCheck(fmt.Sprintf("checks[%d].", i), r)
		}
		if len(r.Resource) > 0 { // the prefix only when there is a resource
			if err := normalizeResource(fmt.Sprintf("checks[%d].", i), &reqs[i]); err != nil {
				return nil, err
			}
		} else {
			reqs[i].Resource = nil
		}
		if i > 0 && r.EntityID == reqs[i-1].EntityID && r.UserID == reqs[i-1].UserID {
			continue // authorized just above
		}
		if err := s.authorizeCheck(ctx, r); err != nil {
			return nil, err
		}
	}
	// The checks as of a past instant answer from the entity's history;
	// the others from the live policy.
	live, past := reqs, []int(nil)
	for i, r := range reqs {
		if !r.AsOf.IsNow() {
			past = append(past, i)
		}
	}
	if past != nil {
		live = make([]CheckRequest, 0, len(reqs)-len(past))
		for _, r := range reqs {
			if r.AsOf.IsNow() {
				live = append(live, r)
			}
		}
	}
	reach := live
	if past != nil { // by index in the batch, MinRevision not applying to the past
		reach = slices.Clone(reqs)
		for _, i := range past {
			reach[i].MinRevision = 0
		}
	}
	if err := s.reachableAll(ctx, reach); err != nil {
		return nil, err
	}
	out := make([]engine.Decision, len(reqs))
	if past != nil {
		if err := s.checkBatchAt(ctx, reqs, past, out); err != nil {
			return nil, err
		}
	}
	qs := make([]engine.Request, len(live))
	names := make([]bool, len(live))
	for i, r := range live {
		names[i] = s.explainable(ctx, &r)
		qs[i] = r.question()
	}
	liveOut, errs := s.engine.CheckBatch(ctx, qs) // the checks of an entity share its snapshot
	for i := range liveOut {
		if errs[i] != nil {
			return nil, unavailable(errs[i])
		}
		if !names[i] {
			hideRoleNames(&liveOut[i])
		}
	}
	if past == nil {
		return liveOut, nil
	}
	j := 0
	for i, r := range reqs {
		if r.AsOf.IsNow() {
			out[i] = liveOut[j]
			j++
		}
	}
	return out, nil
}

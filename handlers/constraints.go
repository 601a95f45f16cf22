package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
)

// Separation of duties on the wire: an entity's constraints
// (/v1/entities/{e}/constraints) and their violations. The Service guards
// them (the reserved object type "constraint") and refuses every write that
// would make a user hold two rights of an enforcing constraint with 409
// separation_of_duties, whose body carries the violations (writeError).

func registerConstraints(v1 *gin.RouterGroup, a *api) {
	v1.POST("/entities/:entity/constraints", a.createConstraint)
	v1.GET("/entities/:entity/constraints", a.listConstraints)
	v1.GET("/entities/:entity/constraints/:constraint", a.getConstraint)
	v1.PUT("/entities/:entity/constraints/:constraint", a.putConstraint)
	v1.DELETE("/entities/:entity/constraints/:constraint", a.deleteConstraint)
	v1.GET("/entities/:entity/constraints/:constraint/violations", a.constraintViolations)
}

// readConstraint decodes a constraint's body into the service's form; on a
// mistake it answers the error and returns false.
func readConstraint(c *gin.Context) (rolegate.Constraint, bool) {
	var req wire.ConstraintInput
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return rolegate.Constraint{}, false
	}
	in, err := constraintInput(req)
	if err != nil {
		writeError(c, err)
		return rolegate.Constraint{}, false
	}
	return in, true
}

func (a *api) createConstraint(c *gin.Context) {
	in, ok := readConstraint(c)
	if !ok {
		return
	}
	in.EntityID = c.Param("entity")
	k, rev, err := a.svc.CreateConstraint(c.Request.Context(), in)
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	c.Header("Location", "/v1/entities/"+url.PathEscape(k.EntityID)+"/constraints/"+url.PathEscape(k.ID))
	c.JSON(http.StatusCreated, constraintOf(k))
}

func (a *api) listConstraints(c *gin.Context) {
	ks, err := a.svc.ListConstraints(c.Request.Context(), c.Param("entity"))
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.ConstraintList{Data: make([]wire.Constraint, 0, len(ks))}
	for _, k := range ks {
		out.Data = append(out.Data, constraintOf(k))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) getConstraint(c *gin.Context) {
	k, err := a.svc.GetConstraint(c.Request.Context(), c.Param("entity"), c.Param("constraint"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, constraintOf(k))
}

func (a *api) putConstraint(c *gin.Context) {
	in, ok := readConstraint(c)
	if !ok {
		return
	}
	in.EntityID, in.ID = c.Param("entity"), c.Param("constraint")
	k, rev, err := a.svc.ReplaceConstraint(c.Request.Context(), in)
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, constraintOf(k))
}

func (a *api) deleteConstraint(c *gin.Context) {
	rev, err := a.svc.DeleteConstraint(c.Request.Context(), c.Param("entity"), c.Param("constraint"))
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	c.Status(http.StatusNoContent)
}

func (a *api) constraintViolations(c *gin.Context) {
	vs, rev, err := a.svc.ConstraintViolations(c.Request.Context(), c.Param("entity"), c.Param("constraint"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, wire.Violations{Data: violationsOf(vs), Revision: rev})
}

// constraintInput is a constraint's body for the domain; an exception's
// expires_at must be an RFC 3339 time (whether it is in the future, and
// every other rule, the Service decides). Mode "" is enforce.
func constraintInput(r wire.ConstraintInput) (rolegate.Constraint, error) {
	k := rolegate.Constraint{Name: r.Name, Description: r.Description, Mode: r.Mode}
	if k.Mode == "" {
		k.Mode = rolegate.ConstraintEnforce
	}
	if r.Rights != nil {
		k.Rights = make([]rolegate.ConstraintRight, 0, len(r.Rights))
	}
	for _, x := range r.Rights {
		k.Rights = append(k.Rights, rolegate.ConstraintRight{ObjectType: x.ObjectType, Action: x.Action})
	}
	if len(r.Exceptions) > rolegate.MaxConstraintExceptions { // the decoder's limit, for callers that bypass it
		return k, rolegate.Invalid("too_many_exceptions", "exceptions", "exceptions may hold at most %d elements", rolegate.MaxConstraintExceptions)
	}
	var bad []rolegate.Detail
	for i, x := range r.Exceptions {
		t, err := time.Parse(time.RFC3339Nano, x.ExpiresAt)
		if err != nil || len(x.ExpiresAt) > 40 {
			bad = append(bad, rolegate.Detail{Field: fmt.Sprintf("exceptions[%d].expires_at", i),
				Message: "expires_at must be an RFC 3339 time such as 2026-12-31T23:59:59Z"})
			continue
		}
		k.Exceptions = append(k.Exceptions, rolegate.ConstraintException{UserID: x.UserID, Reason: x.Reason, ExpiresAt: t})
	}
	if len(bad) > 0 {
		e := rolegate.Invalid("invalid_expires_at", bad[0].Field, "%s", bad[0].Message)
		e.Details = bad
		return k, e
	}
	return k, nil
}

func constraintOf(k rolegate.Constraint) wire.Constraint {
	out := wire.Constraint{ID: k.ID, EntityID: k.EntityID, Name: k.Name, Description: k.Description, Mode: k.Mode,
		Rights: make([]wire.ConstraintRight, 0, len(k.Rights)), Exceptions: make([]wire.ConstraintException, 0, len(k.Exceptions)),
		CreatedAt: timeString(k.CreatedAt), CreatedBy: k.CreatedBy, UpdatedAt: timeString(k.UpdatedAt), UpdatedBy: k.UpdatedBy}
	for _, r := range k.Rights {
		out.Rights = append(out.Rights, wire.ConstraintRight{ObjectType: r.ObjectType, Action: r.Action})
	}
	for _, x := range k.Exceptions {
		out.Exceptions = append(out.Exceptions, wire.ConstraintException{UserID: x.UserID, Reason: x.Reason, ExpiresAt: timeString(x.ExpiresAt)})
	}
	return out
}

// violationsOf is violations for the wire: [] rather than null when none.
func violationsOf(vs []rolegate.Violation) []wire.Violation {
	out := make([]wire.Violation, 0, len(vs))
	for _, v := range vs {
		w := wire.Violation{ConstraintID: v.ConstraintID, ConstraintName: v.ConstraintName, UserID: v.UserID, Scope: v.Scope,
			Rights: make([]wire.HeldRight, 0, len(v.Rights))}
		for _, h := range v.Rights {
			hr := wire.HeldRight{ObjectType: h.ObjectType, Action: h.Action, Permission: string(h.Permission),
				Condition: h.Condition, Own: h.Own, Roles: make([]wire.HeldVia, 0, len(h.Roles))}
			for _, r := range h.Roles {
				hr.Roles = append(hr.Roles, wire.HeldVia{RoleID: r.RoleID, RoleName: r.RoleName, Scope: r.Scope})
			}
			w.Rights = append(w.Rights, hr)
		}
		out = append(out, w)
	}
	return out
}

// sodMessage is a separation_of_duties refusal's message for the facades,
// whose error bodies carry no violations: the Service's message names the
// constraints and the first user; when more users would be in violation,
// they are named after it (the first few).
func sodMessage(e *rolegate.Error) string {
	if e.Code != "separation_of_duties" {
		return e.Message
	}
	var users []string
	seen := map[string]bool{}
	for _, v := range e.Violations {
		if !seen[v.UserID] {
			seen[v.UserID] = true
			users = append(users, v.UserID)
		}
	}
	if len(users) < 2 {
		return e.Message
	}
	const most = 5
	list := strings.Join(users[:min(len(users), most)], ", ")
	if len(users) > most {
		list += fmt.Sprintf(" and %d more", len(users)-most)
	}
	return e.Message + "; users " + list
}

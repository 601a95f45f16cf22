package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/policy"
)

// ImportBodyFactor is how much larger than other calls' (Deps.MaxBodyBytes,
// 1 MiB by default) the body of a user import may be: 1,000 users with their
// roles may not fit 1 MiB.
const ImportBodyFactor = 8

// importRoute is the route of the user import, as Gin names it.
const importRoute = "/v1/entities/:entity/users/import"

// importUsers is POST /v1/entities/{e}/users/import: up to 1,000 users
// created or replaced in one transaction.
func (a *api) importUsers(c *gin.Context) {
	// The caller's rights first: a refused caller's body is never read.
	if err := a.svc.AuthorizeImport(c.Request.Context(), c.Param("entity")); err != nil {
		writeError(c, err)
		return
	}
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req wire.ImportRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if req.Users == nil {
		writeError(c, rolegate.Invalid("missing_field", "users", "users is required"))
		return
	}
	users := make([]policy.ImportUser, len(*req.Users))
	for i, u := range *req.Users {
		users[i] = policy.ImportUser{ID: u.ID, Email: u.Email, Name: u.Name, Attributes: u.Attributes, RoleIDs: u.RoleIDs}
		for _, sr := range u.ScopedRoles {
			users[i].ScopedRoles = append(users[i].ScopedRoles, policy.ScopedRoles{Scope: sr.Scope, RoleIDs: sr.RoleIDs})
		}
	}
	res, err := svc.ImportUsers(c.Request.Context(), c.Param("entity"), users)
	if err != nil {
		writeError(c, err)
		return
	}
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	setRevision(c, res.Revision)
	c.JSON(http.StatusOK, wire.ImportResult{Created: res.Created, Updated: res.Updated, Unchanged: res.Unchanged, Revision: res.Revision})
}

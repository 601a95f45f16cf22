package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/policy"
)

// ---- entities ----

func (a *api) createEntity(c *gin.Context) {
	var req wire.EntityInput
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	e, err := a.svc.CreateEntity(c.Request.Context(), policy.EntityInput{ID: req.ID, Name: req.Name})
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, e.Revision)
	c.Header("Location", "/v1/entities/"+url.PathEscape(e.ID))
	c.JSON(http.StatusCreated, entityOf(e))
}

func (a *api) getEntity(c *gin.Context) {
	e, err := a.svc.GetEntity(c.Request.Context(), c.Param("entity"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, entityOf(e))
}

func (a *api) listEntities(c *gin.Context) {
	query, tok, limit, err := pageRequest(c, "entities", "")
	if err != nil {
		writeError(c, err)
		return
	}
	p := policy.Page{Limit: limit, Sort: "id"}
	rows, next, _, err := keyset("entities", "", query, tok, p, func(p policy.Page) ([]rolegate.Entity, error) {
		if p.Desc {
			return nil, invalidToken() // entities page forward only
		}
		after := ""
		if p.After != nil {
			after = p.After.ID
		}
		return a.svc.ListEntities(c.Request.Context(), after, p.Limit)
	}, func(e rolegate.Entity) policy.Cursor { return policy.Cursor{Value: e.ID, ID: e.ID} })
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.Page[wire.Entity]{Data: make([]wire.Entity, 0, len(rows)), NextPaginationToken: next}
	for _, e := range rows {
		out.Data = append(out.Data, entityOf(e))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) deleteEntity(c *gin.Context) {
	rev, err := a.svc.DeleteEntity(c.Request.Context(), c.Param("entity"))
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	c.Status(http.StatusNoContent)
}

// ---- roles ----

func writeRole(c *gin.Context, status int, r rolegate.Role) {
	c.Header("ETag", `"`+strconv.FormatInt(r.Version, 10)+`"`)
	c.JSON(status, roleOf(r))
}

// ifMatch reads If-Match as a role version; 0 when absent or "*".
func ifMatch(c *gin.Context) (int64, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	h = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 1 {
		return 0, rolegate.Errorf(rolegate.KindPrecondition, "version_mismatch", "If-Match must be an ETag this service gave, such as \"3\"")
	}
	return v, nil
}

func (a *api) createRole(c *gin.Context) {
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req wire.RoleInput
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	r, rev, err := svc.CreateRole(c.Request.Context(), c.Param("entity"), roleInput(req))
	if err != nil {
		writeError(c, err)
		return
	}
	if dry != nil {
		writeDryRun(c, dry) // a new role has no holders: nothing gained or lost
		return
	}
	setRevision(c, rev)
	c.Header("Location", "/v1/entities/"+url.PathEscape(r.EntityID)+"/roles/"+url.PathEscape(r.ID))
	writeRole(c, http.StatusCreated, r)
}

func (a *api) getRole(c *gin.Context) {
	r, err := a.svc.GetRole(c.Request.Context(), c.Param("entity"), c.Param("role"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeRole(c, http.StatusOK, r)
}

func (a *api) patchRole(c *gin.Context) { a.updateRole(c, policy.Patch) }
func (a *api) putRole(c *gin.Context)   { a.updateRole(c, policy.Replace) }

func (a *api) updateRole(c *gin.Context, mode policy.UpdateMode) {
	version, err := ifMatch(c)
	if err != nil {
		writeError(c, err)
		return
	}
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req wire.RoleInput
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	r, rev, err := svc.UpdateRole(c.Request.Context(), c.Param("entity"), c.Param("role"), roleInput(req), mode, version)
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	writeRole(c, http.StatusOK, r)
}

func (a *api) deleteRole(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		writeError(c, err)
		return
	}
	force, err := boolParam(c.Request.URL.Query(), "force")
	if err != nil {
		writeError(c, err)
		return
	}
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	_, rev, err := svc.DeleteRole(c.Request.Context(), c.Param("entity"), c.Param("role"), force != nil && *force, version)
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	c.Status(http.StatusNoContent)
}

func boolParam(q url.Values, name string) (*bool, error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, rolegate.Invalid("invalid_"+name, name, "%s must be true or false", name)
	}
	return &b, nil
}

func oneOf(q url.Values, name, def string, allowed ...string) (string, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	for _, v := range allowed {
		if s == v {
			return s, nil
		}
	}
	return "", rolegate.Invalid("invalid_"+name, name, "%s must be one of %s", name, strings.Join(allowed, ", "))
}

// roleCursor is the position of a role in a list sorted by field.
func roleCursor(field string) func(rolegate.Role) policy.Cursor {
	return func(r rolegate.Role) policy.Cursor {
		switch field {
		case "name":
			return policy.Cursor{Value: r.Name, ID: r.ID}
		case "updated_at":
			return policy.Cursor{Value: r.UpdatedAt.UTC().Format(time.RFC3339Nano), ID: r.ID}
		}
		return policy.Cursor{Value: r.CreatedAt.UTC().Format(time.RFC3339Nano), ID: r.ID}
	}
}

func (a *api) listRoles(c *gin.Context) {
	entity := c.Param("entity")
	q, tok, limit, err := pageRequest(c, "roles", entity)
	if err != nil {
		writeError(c, err)
		return
	}
	f, p, err := roleQuery(q, limit)
	if err != nil {
		writeError(c, err)
		return
	}
	rows, next, prev, err := keyset("roles", entity, q, tok, p, func(p policy.Page) ([]rolegate.Role, error) {
		return a.svc.ListRoles(c.Request.Context(), entity, f, p)
	}, roleCursor(p.Sort))
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.Page[wire.Role]{Data: make([]wire.Role, 0, len(rows)), NextPaginationToken: next, PrevPaginationToken: prev}
	for _, r := range rows {
		out.Data = append(out.Data, roleOf(r))
	}
	c.JSON(http.StatusOK, out)
}

// idList reads comma-separated ids (repeatable), blanks dropped, and stops
// after max+1 of them: enough to refuse the list without splitting it all.
func idList(values []string, max int) []string {
	var out []string
	for _, v := range values {
		for v != "" && len(out) <= max {
			var id string
			id, v, _ = strings.Cut(v, ",")
			if id = strings.TrimSpace(id); id != "" {
				out = append(out, id)
			}
		}
	}
	return out
}

// roleQuery reads the filters and order of a role listing.
func roleQuery(q url.Values, limit int) (policy.RoleFilter, policy.Page, error) {
	var f policy.RoleFilter
	p := policy.Page{Limit: limit}
	var err error
	if p.Sort, err = oneOf(q, "sort", "created_at", "created_at", "updated_at", "name"); err != nil {
		return f, p, err
	}
	order, err := oneOf(q, "order", "asc", "asc", "desc")
	if err != nil {
		return f, p, err
	}
	p.Desc = order == "desc"
	status, err := oneOf(q, "status", rolegate.StatusActive, rolegate.StatusActive, rolegate.StatusDeleted, "all")
	if err != nil {
		return f, p, err
	}
	if status != "all" {
		f.Status = status
	}
	if f.RoleType, err = oneOf(q, "role_type", "", rolegate.RoleCustom, rolegate.RoleSystem); err != nil {
		return f, p, err
	}
	if f.Default, err = boolParam(q, "default"); err != nil {
		return f, p, err
	}
	f.Name = q.Get("name")
	f.Search = q.Get("search")
	if len(f.Search) > 255 || len(f.Name) > 255 {
		return f, p, rolegate.Invalid("invalid_search", "search", "name and search must be at most 255 characters")
	}
	f.IDs = idList(q["id__in"], 100)
	if len(f.IDs) > 100 {
		return f, p, rolegate.Invalid("invalid_id__in", "id__in", "id__in may name at most 100 roles")
	}
	return f, p, nil
}

func (a *api) listRoleUsers(c *gin.Context) {
	entity, role := c.Param("entity"), c.Param("role")
	q, tok, limit, err := pageRequest(c, "role_users:"+role, entity)
	if err != nil {
		writeError(c, err)
		return
	}
	rows, next, prev, err := keyset("role_users:"+role, entity, q, tok, policy.Page{Limit: limit, Sort: "id"},
		func(p policy.Page) ([]rolegate.User, error) {
			return a.svc.ListRoleUsers(c.Request.Context(), entity, role, p)
		}, userCursor)
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.Page[wire.User]{Data: make([]wire.User, 0, len(rows)), NextPaginationToken: next, PrevPaginationToken: prev}
	for _, u := range rows {
		out.Data = append(out.Data, userOf(u, false))
	}
	c.JSON(http.StatusOK, out)
}

// ---- users ----

func userCursor(u rolegate.User) policy.Cursor { return policy.Cursor{Value: u.ID, ID: u.ID} }

func (a *api) createUser(c *gin.Context) {
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req wire.UserInput
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	u, rev, err := svc.CreateUser(c.Request.Context(), c.Param("entity"),
		policy.UserInput{ID: req.ID, Email: req.Email, Name: req.Name, RoleIDs: req.RoleIDs, Attributes: req.Attributes})
	if err != nil {
		writeError(c, err)
		return
	}
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	setRevision(c, rev)
	c.Header("Location", "/v1/entities/"+url.PathEscape(u.EntityID)+"/users/"+url.PathEscape(u.ID))
	c.JSON(http.StatusCreated, userOf(u, false))
}

func expandRoles(c *gin.Context) (bool, error) {
	switch e := c.Query("expand"); e {
	case "":
		return false, nil
	case "roles":
		return true, nil
	default:
		return false, rolegate.Invalid("invalid_expand", "expand", "expand must be roles")
	}
}

func (a *api) getUser(c *gin.Context) {
	expand, err := expandRoles(c)
	if err != nil {
		writeError(c, err)
		return
	}
	u, err := a.svc.GetUser(c.Request.Context(), c.Param("entity"), c.Param("user"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, userOf(u, expand))
}

func (a *api) listUsers(c *gin.Context) {
	entity := c.Param("entity")
	q, tok, limit, err := pageRequest(c, "users", entity)
	if err != nil {
		writeError(c, err)
		return
	}
	expand := q.Get("expand") == "roles"
	if e := q.Get("expand"); e != "" && !expand {
		writeError(c, rolegate.Invalid("invalid_expand", "expand", "expand must be roles"))
		return
	}
	f := policy.UserFilter{Search: q.Get("search")}
	if len(f.Search) > 255 {
		writeError(c, rolegate.Invalid("invalid_search", "search", "search must be at most 255 characters"))
		return
	}
	rows, next, prev, err := keyset("users", entity, q, tok, policy.Page{Limit: limit, Sort: "id"},
		func(p policy.Page) ([]rolegate.User, error) {
			return a.svc.ListUsers(c.Request.Context(), entity, f, p)
		}, userCursor)
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.Page[wire.User]{Data: make([]wire.User, 0, len(rows)), NextPaginationToken: next, PrevPaginationToken: prev}
	for _, u := range rows {
		out.Data = append(out.Data, userOf(u, expand))
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) patchUser(c *gin.Context) {
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req wire.UserPatch
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	u, rev, err := svc.UpdateUser(c.Request.Context(), c.Param("entity"), c.Param("user"),
		policy.UserInput{Email: req.Email, Name: req.Name, RoleIDs: req.RoleIDs, Attributes: req.Attributes})
	if err != nil {
		writeError(c, err)
		return
	}
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, userOf(u, false))
}

func (a *api) deleteUser(c *gin.Context) {
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	_, rev, err := svc.DeleteUser(c.Request.Context(), c.Param("entity"), c.Param("user"))
	if err != nil {
		writeError(c, err)
		return
	}
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	setRevision(c, rev)
	c.Status(http.StatusNoContent)
}

func (a *api) listUserRoles(c *gin.Context) {
	rs, err := a.svc.UserRoles(c.Request.Context(), c.Param("entity"), c.Param("user"))
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]wire.UserRole, 0, len(rs))
	for _, ur := range rs {
		out = append(out, wire.UserRole{Role: roleOf(ur.Role), Scope: nullable(ur.Scope), ExpiresAt: timePtr(ur.ExpiresAt)})
	}
	c.JSON(http.StatusOK, wire.UserRoles{Data: out})
}

func (a *api) assignRole(c *gin.Context) {
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req wire.AssignmentInput
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			writeError(c, err)
			return
		}
	}
	scope := ""
	if req.Scope != nil {
		scope = *req.Scope
	}
	until, err := expiresAt(req.ExpiresAt)
	if err != nil {
		writeError(c, err)
		return
	}
	as, rev, err := svc.AssignRoleUntil(c.Request.Context(), c.Param("entity"), c.Param("user"), c.Param("role"), scope, until)
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	c.JSON(http.StatusOK, wire.Assignment{EntityID: as.EntityID, UserID: as.UserID, RoleID: as.RoleID,
		Scope: nullable(as.Scope), CreatedAt: timeString(as.CreatedAt), ExpiresAt: timePtr(as.ExpiresAt)})
}

func (a *api) unassignRole(c *gin.Context) {
	svc, dry, err := a.writer(c)
	if err != nil {
		writeError(c, err)
		return
	}
	rev, err := svc.UnassignRole(c.Request.Context(), c.Param("entity"), c.Param("user"), c.Param("role"), c.Query("scope"))
	if err != nil {
		writeError(c, err)
		return
	}
	setRevision(c, rev)
	if dry != nil {
		writeDryRun(c, dry)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) userPermissions(c *gin.Context) {
	if at, err := asOfQuery(c.Request.URL.Query()); err != nil || !at.IsNow() {
		if err != nil {
			writeError(c, err)
		} else {
			a.userPermissionsAsOf(c, at)
		}
		return
	}
	p, err := a.svc.UserPermissions(c.Request.Context(), c.Param("entity"), c.Param("user"), c.Query("scope"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, permissionsOf(p))
}

// ---- checks ----

func (a *api) check(c *gin.Context) {
	if err := a.svc.AuthorizeChecks(c.Request.Context()); err != nil {
		writeError(c, err) // before the body is read
		return
	}
	var req wire.CheckRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	in, err := checkAsOf(-1, req)
	if err != nil {
		writeError(c, err)
		return
	}
	d, err := a.svc.Check(c.Request.Context(), in)
	if err != nil {
		writeError(c, err)
		return
	}
	writeCheck(c, checkOf(d, req.Explain))
}

// MaxBatch is the most checks one batch may hold.
const MaxBatch = 1000

// MaxBatchEntities is the most distinct entities one batch may name: each
// costs a policy held in memory (loaded on first use) and a rate-limit bucket,
// and a batch is for asking several questions about one place, not for
// sweeping across tenants.
const MaxBatchEntities = 10

// batchEntities refuses a batch naming more than MaxBatchEntities distinct
// entities, pointing at the first check past the limit.
func batchEntities(checks []wire.CheckRequest) error {
	seen := make(map[string]bool, MaxBatchEntities)
	for i, ch := range checks {
		if seen[ch.EntityID] {
			continue
		}
		if len(seen) == MaxBatchEntities {
			return rolegate.Invalid("too_many_entities", fmt.Sprintf("checks[%d].entity_id", i),
				"a batch may name at most %d distinct entities; checks[%d] names one more", MaxBatchEntities, i)
		}
		seen[ch.EntityID] = true
	}
	return nil
}

func (a *api) checkBatch(c *gin.Context) {
	if err := a.svc.AuthorizeChecks(c.Request.Context()); err != nil {
		writeError(c, err) // before the body is read
		return
	}
	var req wire.CheckBatch
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if len(req.Checks) < 1 || len(req.Checks) > MaxBatch {
		writeError(c, rolegate.Invalid("invalid_batch", "checks", "checks must hold 1 to %d checks", MaxBatch))
		return
	}
	if err := batchEntities(req.Checks); err != nil {
		writeError(c, err)
		return
	}
	reqs := make([]policy.CheckRequest, len(req.Checks))
	for i, r := range req.Checks {
		var err error
		if reqs[i], err = checkAsOf(i, r); err != nil {
			writeError(c, err)
			return
		}
	}
	ds, err := a.svc.CheckBatch(c.Request.Context(), reqs)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]wire.Decision, len(ds))
	for i, d := range ds {
		out[i] = checkOf(d, req.Checks[i].Explain)
	}
	writeCheckBatch(c, out)
}

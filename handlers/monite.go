package handlers

// The Monite-style facade: /v1/roles. The entity comes from the
// x-monite-entity-id header, x-monite-version is required and echoed, rights
// travel as objects and actions (policy.PermissionsDoc) and are validated
// against Monite's catalog of object types (moniteCatalog, monite_codec.go).

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

var moniteVersionRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

type moniteAPI struct {
	svc     *policy.Service
	catalog *policy.Catalog
	view    *facadeView // Monite's object types and values; wildcards as the catalog's pairs
}

func registerMonite(r *gin.Engine, svc *policy.Service, authn Authenticator) {
	catalog := moniteCatalog()
	m := &moniteAPI{svc: svc, catalog: catalog, view: &facadeView{catalog: catalog, shows: moniteShows(catalog)}}
	g := r.Group("/v1/roles", moniteVersion, authenticate(authn, moniteError), moniteEntity)
	g.GET("", m.listRoles)
	g.POST("", m.createRole)
	g.GET("/:role", m.getRole)
	g.PATCH("/:role", m.patchRole)
	g.DELETE("/:role", m.deleteRole)
}

// moniteError answers in Monite's shapes: validation errors as 422
// {"detail": [{"loc", "msg", "type"}]}, everything else as
// {"error": {"message"}} with the status of its kind.
func moniteError(c *gin.Context, err error) {
	status, e := classify(c, err)
	if status == http.StatusUnprocessableEntity {
		c.AbortWithStatusJSON(status, gin.H{"detail": moniteDetails(e)})
		return
	}
	body := gin.H{"message": sodMessage(e)}
	if status == http.StatusBadRequest && strings.HasSuffix(e.Code, "_api_version") {
		body["type"] = e.Code
	}
	c.AbortWithStatusJSON(status, gin.H{"error": body})
}

type moniteDetail struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// moniteDetails turns a 422 into pydantic-style details: loc is the path of
// the field ("body", "permissions", "objects", 0, ...).
func moniteDetails(e *rolegate.Error) []moniteDetail {
	typ := "value_error." + e.Code
	switch e.Code {
	case "missing_field", "missing_header":
		typ = "value_error.missing"
	case "unknown_field":
		typ = "value_error.extra"
	case "invalid_type":
		typ = "type_error"
	case "malformed_json":
		typ = "value_error.jsondecode"
	}
	details := e.Details
	if len(details) == 0 {
		details = []rolegate.Detail{{Message: e.Message}}
	}
	out := make([]moniteDetail, 0, len(details))
	for _, d := range details {
		msg := d.Message
		if e.Code == "unknown_field" {
			msg = "extra fields not permitted"
		}
		if d.Value != "" && e.Code == "unknown_object_type" {
			msg = fmt.Sprintf("%s: %s", d.Value, d.Message)
		}
		out = append(out, moniteDetail{Loc: moniteLoc(d.Field), Msg: msg, Type: typ})
	}
	return out
}

// moniteLoc splits "permissions.objects[0].actions[1].action_name" into
// ["body", "permissions", "objects", 0, "actions", 1, "action_name"]; fields
// already placed ("query.limit", "header.x-...") keep their place.
func moniteLoc(field string) []any {
	loc := []any{"body"}
	if strings.HasPrefix(field, "query.") || strings.HasPrefix(field, "header.") {
		loc = nil
	}
	if field == "" {
		return loc
	}
	for _, part := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			loc = append(loc, name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(idx); err == nil {
				loc = append(loc, n)
			} else {
				loc = append(loc, idx)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return loc
}

// moniteVersion requires x-monite-version (a date such as 2024-05-25) and
// echoes it; it runs before authentication, as Monite checks it first.
func moniteVersion(c *gin.Context) {
	v := c.GetHeader("x-monite-version")
	if v == "" {
		moniteError(c, badRequest("missing_api_version", "the x-monite-version header is required, such as x-monite-version: 2024-05-25"))
		return
	}
	if _, err := time.Parse("2006-01-02", v); err != nil || !moniteVersionRe.MatchString(v) {
		moniteError(c, badRequest("invalid_api_version", "x-monite-version must be a date such as 2024-05-25"))
		return
	}
	c.Header("x-monite-version", v)
	c.Next()
}

const moniteEntityKey = "monite_entity"

// moniteEntity reads the entity from x-monite-entity-id.
func moniteEntity(c *gin.Context) {
	id := c.GetHeader("x-monite-entity-id")
	if id == "" {
		moniteError(c, rolegate.Invalid("missing_header", "header.x-monite-entity-id", "field required"))
		return
	}
	if !rolegate.ValidEntityID(id) {
		moniteError(c, rolegate.Invalid("invalid_entity_id", "header.x-monite-entity-id", "x-monite-entity-id is not an entity id"))
		return
	}
	if !boundTo(auth.ActorFrom(c.Request.Context()), id) {
		moniteError(c, policy.EntityNotFound(id))
		return
	}
	c.Set(moniteEntityKey, id)
	c.Next()
}

type moniteRoleRequest struct {
	Name        *string                `json:"name"`
	Permissions *policy.PermissionsDoc `json:"permissions"`
}

// input validates the body against Monite's rules: permission values are
// Monite's three and object types and actions come from its catalog.
func (m *moniteAPI) input(req moniteRoleRequest, create bool) (policy.RoleInput, error) {
	if create && req.Name == nil {
		return policy.RoleInput{}, rolegate.Invalid("missing_field", "name", "field required")
	}
	if create && req.Permissions == nil {
		return policy.RoleInput{}, rolegate.Invalid("missing_field", "permissions", "field required")
	}
	in := policy.RoleInput{Name: req.Name}
	if req.Name != nil {
		// Monite's document asks for ASCII names; the other APIs take Unicode.
		if err := policy.ValidateASCIIName("name", *req.Name); err != nil {
			return in, err
		}
	}
	if req.Permissions == nil {
		return in, nil
	}
	for i, o := range req.Permissions.Objects {
		for j, a := range o.Actions {
			ok := false
			for _, v := range monitePermissionValues {
				ok = ok || string(v) == a.Permission
			}
			if !ok {
				field := fmt.Sprintf("permissions.objects[%d].actions[%d].permission", i, j)
				return in, rolegate.Invalid("invalid_permission", field, "value is not a valid enumeration member; permitted: 'allowed', 'allowed_for_own', 'not_allowed'")
			}
		}
	}
	perms := policy.RightsOf(*req.Permissions)
	// Monite's document has no condition: one in the body is refused as any
	// field Monite does not define is (the canonical encoding may carry it).
	for i, o := range perms.Objects {
		for j, a := range o.Actions {
			if a.Condition != "" {
				field := fmt.Sprintf("permissions.objects[%d].actions[%d].condition", i, j)
				return in, rolegate.Invalid("unknown_field", field, "unknown field %q", field)
			}
		}
	}
	if err := policy.ValidatePermissions("permissions", perms, m.catalog); err != nil {
		return in, err
	}
	in.Permissions = &perms
	return in, nil
}

type moniteRole struct {
	ID          string                `json:"id"`
	CreatedAt   string                `json:"created_at"`
	UpdatedAt   string                `json:"updated_at"`
	Name        string                `json:"name"`
	Permissions policy.PermissionsDoc `json:"permissions"`
	Status      string                `json:"status"`
}

func (m *moniteAPI) roleOf(r rolegate.Role) moniteRole {
	return moniteRole{ID: r.ID, CreatedAt: timeString(r.CreatedAt), UpdatedAt: timeString(r.UpdatedAt),
		Name: r.Name, Permissions: policy.DocOf(m.view.Visible(r.Permissions)), Status: r.Status}
}

func (m *moniteAPI) createRole(c *gin.Context) {
	var req moniteRoleRequest
	if err := decodeJSON(c, &req); err != nil {
		moniteError(c, moniteDecodeError(err))
		return
	}
	in, err := m.input(req, true)
	if err != nil {
		moniteError(c, err)
		return
	}
	r, rev, err := m.svc.CreateRole(c.Request.Context(), c.GetString(moniteEntityKey), in)
	if err != nil {
		moniteError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, m.roleOf(r)) // Monite answers a create with 200
}

// moniteDecodeError makes a malformed body a 422, as Monite (FastAPI) does.
func moniteDecodeError(err error) error {
	if e := rolegate.AsError(err); e.Code == "malformed_json" {
		return rolegate.Invalid("malformed_json", "", "%s", e.Message)
	}
	return err
}

func (m *moniteAPI) getRole(c *gin.Context) {
	r, err := m.svc.GetRole(c.Request.Context(), c.GetString(moniteEntityKey), c.Param("role"))
	if err != nil {
		moniteError(c, err)
		return
	}
	c.JSON(http.StatusOK, m.roleOf(r))
}

// patchRole changes the fields given; permissions replace the whole set
// Monite can express (denies and rights on other object types are kept).
func (m *moniteAPI) patchRole(c *gin.Context) {
	var req moniteRoleRequest
	if err := decodeJSON(c, &req); err != nil {
		moniteError(c, moniteDecodeError(err))
		return
	}
	in, err := m.input(req, false)
	if err != nil {
		moniteError(c, err)
		return
	}
	in.MergeRights = m.view.Merge // keep denies and non-Monite rights
	r, rev, err := m.svc.UpdateRole(c.Request.Context(), c.GetString(moniteEntityKey), c.Param("role"), in, policy.Patch, 0)
	if err != nil {
		moniteError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, m.roleOf(r))
}

// deleteRole answers 204, or 409 while any user holds the role.
func (m *moniteAPI) deleteRole(c *gin.Context) {
	_, rev, err := m.svc.DeleteRole(c.Request.Context(), c.GetString(moniteEntityKey), c.Param("role"), false, 0)
	if err != nil {
		moniteError(c, err)
		return
	}
	setRevision(c, rev)
	c.Status(http.StatusNoContent)
}

// listRoles searches the entity's active roles with Monite's query
// parameters; a pagination_token carries the first request's query, and
// the other parameters (but limit) are then ignored.
func (m *moniteAPI) listRoles(c *gin.Context) {
	entity := c.GetString(moniteEntityKey)
	q, tok, limit, err := pageRequest(c, "monite_roles", entity)
	if err != nil {
		moniteError(c, moniteQueryError(err))
		return
	}
	f, p, err := moniteQuery(q, limit)
	if err != nil {
		moniteError(c, err)
		return
	}
	rows, next, prev, err := keyset("monite_roles", entity, q, tok, p, func(p policy.Page) ([]rolegate.Role, error) {
		return m.svc.ListRoles(c.Request.Context(), entity, f, p)
	}, roleCursor(p.Sort))
	if err != nil {
		moniteError(c, err)
		return
	}
	out := make([]moniteRole, 0, len(rows))
	for _, r := range rows {
		out = append(out, m.roleOf(r))
	}
	c.JSON(http.StatusOK, gin.H{"data": out, "prev_pagination_token": prev, "next_pagination_token": next})
}

// moniteQueryError places a query error under "query" for the detail's loc.
func moniteQueryError(err error) error {
	e := rolegate.AsError(err)
	if e.Kind != rolegate.KindInvalid {
		return err
	}
	c := *e
	c.Details = nil
	for _, d := range e.Details {
		d.Field = "query." + d.Field
		c.Details = append(c.Details, d)
	}
	return &c
}

func moniteQuery(q map[string][]string, limit int) (policy.RoleFilter, policy.Page, error) {
	f := policy.RoleFilter{Status: rolegate.StatusActive}
	p := policy.Page{Limit: limit}
	var err error
	if p.Sort, err = oneOf(q, "sort", "created_at", "created_at", "updated_at"); err != nil {
		return f, p, moniteQueryError(err)
	}
	order, err := oneOf(q, "order", "asc", "asc", "desc")
	if err != nil {
		return f, p, moniteQueryError(err)
	}
	p.Desc = order == "desc"
	f.Name = first(q["name"])
	if len(f.Name) > 255 {
		return f, p, rolegate.Invalid("invalid_name", "query.name", "name must be at most 255 characters")
	}
	f.IDs = idList(q["id__in"], 100)
	if len(f.IDs) > 100 {
		return f, p, rolegate.Invalid("invalid_id__in", "query.id__in", "id__in may name at most 100 roles")
	}
	for _, op := range []struct{ param, op string }{
		{"created_at", "eq"}, {"created_at__gt", "gt"}, {"created_at__lt", "lt"},
		{"created_at__gte", "gte"}, {"created_at__lte", "lte"},
	} {
		v := first(q[op.param])
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, p, rolegate.Invalid("invalid_datetime", "query."+op.param, "invalid datetime format; use RFC 3339 such as 2024-01-15T09:30:00Z")
		}
		f.CreatedAt = append(f.CreatedAt, policy.TimeBound{Op: op.op, Time: t})
	}
	return f, p, nil
}

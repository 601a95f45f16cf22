package handlers

// The Dintero-style facade: /v1/accounts/{oid}/auth/roles and
// /v1/accounts/{oid}/management/users. The account id is the entity id.
// Rights travel as scope strings (dintero_codec.go).

import (
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

var dinteroOIDRe = regexp.MustCompile(`^[PT](?:[0-9]{3}|[0-9]{8})$`)

type dinteroAPI struct {
	svc  *policy.Service
	view *facadeView // what scope strings show: allowed rights, wildcards as the catalog's scopes
}

// facadeCatalog is the catalog a facade's wildcards expand into: the
// deployment's when it has one, else the API's own.
func facadeCatalog(svc *policy.Service, own func() *policy.Catalog) *policy.Catalog {
	if svc != nil && svc.Catalog() != nil {
		return svc.Catalog()
	}
	return own()
}

func registerDintero(r *gin.Engine, svc *policy.Service, authn Authenticator) {
	d := &dinteroAPI{svc: svc, view: &facadeView{catalog: facadeCatalog(svc, dinteroCatalog), shows: dinteroShows}}
	g := r.Group("/v1/accounts/:oid", authenticate(authn, dinteroError), d.account)
	g.GET("/auth/roles", d.listRoles)
	g.POST("/auth/roles", d.createRole)
	g.GET("/auth/roles/:role", d.getRole)
	g.PUT("/auth/roles/:role", d.putRole)
	g.DELETE("/auth/roles/:role", d.deleteRole)
	g.GET("/management/users", d.listUsers)
	g.POST("/management/users", d.createUser)
	g.GET("/management/users/:user", d.getUser)
	g.PUT("/management/users/:user", d.putUser)
	g.DELETE("/management/users/:user", d.deleteUser)
}

// dinteroError answers with Dintero's error body,
// {"error": {"code", "message", "errors"}}. Dintero documents 400 for every
// bad input, so what Rolegate answers with 409 or 422 is 400 here, except
// that a deleted role is 404 as it is gone.
func dinteroError(c *gin.Context, err error) {
	status, e := classify(c, err)
	switch {
	case e.Code == "role_deleted":
		status = http.StatusNotFound
	case status == http.StatusUnprocessableEntity || status == http.StatusConflict || status == http.StatusPreconditionFailed:
		status = http.StatusBadRequest
	}
	body := dinteroErrorInfo{Code: e.Code, Message: sodMessage(e)}
	for _, d := range e.Details {
		body.Errors = append(body.Errors, dinteroErrorItem{Field: d.Field, Message: d.Message, Value: d.Value})
	}
	c.AbortWithStatusJSON(status, gin.H{"error": body})
}

type dinteroErrorInfo struct {
	Code    string             `json:"code,omitempty"`
	Message string             `json:"message"`
	Errors  []dinteroErrorItem `json:"errors,omitempty"`
}

type dinteroErrorItem struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Value   string `json:"value,omitempty"`
}

// account checks the account id of the path before anything else.
func (d *dinteroAPI) account(c *gin.Context) {
	if oid := c.Param("oid"); !dinteroOIDRe.MatchString(oid) {
		dinteroError(c, badRequest("invalid_oid", "account id %q must match ^[PT](?:[0-9]{3}|[0-9]{8})$, such as T12345678", clipValue(oid)))
		return
	}
	c.Next()
}

func clipValue(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ---- roles ----

type dinteroRoleRequest struct {
	Scope       *[]string `json:"scope"`
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
}

// input turns the body into a full replacement of what Dintero shows of a
// role: absent name and description become empty.
func (r dinteroRoleRequest) input() (policy.RoleInput, error) {
	if r.Scope == nil {
		return policy.RoleInput{}, rolegate.Invalid("missing_field", "scope", "scope is required: a list of scope strings such as read:accounts")
	}
	perms, err := parseDinteroScopes("scope", *r.Scope)
	if err != nil {
		return policy.RoleInput{}, err
	}
	empty := ""
	in := policy.RoleInput{NameOptional: true, Name: r.Name, Description: r.Description, Permissions: &perms}
	if in.Name == nil {
		in.Name = &empty
	}
	if in.Description == nil {
		in.Description = &empty
	}
	return in, nil
}

type dinteroRole struct {
	ID          string   `json:"id"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Scope       []string `json:"scope"`
	CreatedAt   string   `json:"created_at"`
	CreatedBy   string   `json:"created_by,omitempty"`
	UpdatedAt   string   `json:"updated_at"`
	DeletedAt   *string  `json:"deleted_at,omitempty"`
	DeletedBy   string   `json:"deleted_by,omitempty"`
}

func (d *dinteroAPI) roleOf(r rolegate.Role) dinteroRole {
	out := dinteroRole{ID: r.ID, Name: r.Name, Description: r.Description, Scope: dinteroScopesOf(d.view.Visible(r.Permissions)),
		CreatedAt: dinteroTime(r.CreatedAt), CreatedBy: r.CreatedBy, UpdatedAt: dinteroTime(r.UpdatedAt), DeletedBy: r.DeletedBy}
	if r.DeletedAt != nil {
		s := dinteroTime(*r.DeletedAt)
		out.DeletedAt = &s
	}
	return out
}

// dinteroTime is a time as Dintero writes it: RFC 3339, UTC, milliseconds.
func dinteroTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (d *dinteroAPI) createRole(c *gin.Context) {
	var req dinteroRoleRequest
	if err := decodeJSON(c, &req); err != nil {
		dinteroError(c, err)
		return
	}
	in, err := req.input()
	if err != nil {
		dinteroError(c, err)
		return
	}
	r, rev, err := d.svc.CreateRole(c.Request.Context(), c.Param("oid"), in)
	if err != nil {
		dinteroError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, d.roleOf(r)) // Dintero answers a create with 200
}

func (d *dinteroAPI) getRole(c *gin.Context) {
	r, err := d.svc.GetRole(c.Request.Context(), c.Param("oid"), c.Param("role"))
	if err != nil {
		dinteroError(c, err)
		return
	}
	c.JSON(http.StatusOK, d.roleOf(r))
}

func (d *dinteroAPI) putRole(c *gin.Context) {
	var req dinteroRoleRequest
	if err := decodeJSON(c, &req); err != nil {
		dinteroError(c, err)
		return
	}
	in, err := req.input()
	if err != nil {
		dinteroError(c, err)
		return
	}
	// Not a native replace: the role's default flag is not Dintero's to
	// reset, and the rights scope strings cannot show are kept.
	in.MergeRights = d.view.Merge
	r, rev, err := d.svc.UpdateRole(c.Request.Context(), c.Param("oid"), c.Param("role"), in, policy.Patch, 0)
	if err != nil {
		dinteroError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, d.roleOf(r))
}

// deleteRole soft-deletes the role, taking it from the users who hold it
// (Dintero has no "in use" answer), and returns the deleted role.
func (d *dinteroAPI) deleteRole(c *gin.Context) {
	r, rev, err := d.svc.DeleteRole(c.Request.Context(), c.Param("oid"), c.Param("role"), true, 0)
	if err != nil {
		dinteroError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, d.roleOf(r))
}

// Dintero's paging: limit and starting_after (the id of the last item of
// the previous page). Dintero's own default is 10; Rolegate's is 100, so the
// common account answers on one page, and limit may go up to 1000. A page
// that is not the last carries a Link header rel="next" naming the next page,
// so that no client takes a full page for the whole list.
const (
	dinteroDefaultLimit = 100
	dinteroMaxLimit     = 1000
)

// dinteroPage reads limit (1-1000, default 100) and starting_after.
func dinteroPage(q map[string][]string) (limit int, after string, err error) {
	limit = dinteroDefaultLimit
	if v := first(q["limit"]); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > dinteroMaxLimit {
			return 0, "", rolegate.Invalid("invalid_limit", "limit", "limit must be an integer from 1 to %d", dinteroMaxLimit)
		}
		limit = n
	}
	after = first(q["starting_after"])
	if len(after) > 255 {
		return 0, "", rolegate.Invalid("invalid_starting_after", "starting_after", "starting_after must be the id of an item of this account")
	}
	return limit, after, nil
}

// dinteroNext sets the Link header to the page after last when there is one.
func dinteroNext(c *gin.Context, more bool, last string, limit int) {
	if !more {
		return
	}
	q := c.Request.URL.Query()
	q.Set("starting_after", last)
	q.Set("limit", strconv.Itoa(limit))
	c.Header("Link", "<"+c.Request.URL.Path+"?"+q.Encode()+`>; rel="next"`)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (d *dinteroAPI) listRoles(c *gin.Context) {
	q := c.Request.URL.Query()
	limit, after, err := dinteroPage(q)
	if err != nil {
		dinteroError(c, err)
		return
	}
	f := policy.RoleFilter{Status: rolegate.StatusActive, Name: q.Get("name"), Search: q.Get("search")}
	if len(f.Search) > 255 || len(f.Name) > 255 {
		dinteroError(c, rolegate.Invalid("invalid_search", "search", "name and search must be at most 255 characters"))
		return
	}
	if inc, err := boolParam(q, "include_deleted"); err != nil {
		dinteroError(c, err)
		return
	} else if inc != nil && *inc {
		f.Status = ""
	}
	p := policy.Page{Limit: limit + 1, Sort: "created_at"}
	ctx := c.Request.Context()
	entity := c.Param("oid")
	if after != "" {
		r, err := d.svc.GetRole(ctx, entity, after)
		if err != nil {
			dinteroError(c, rolegate.Invalid("invalid_starting_after", "starting_after", "starting_after must be the id of a role of this account"))
			return
		}
		cur := roleCursor("created_at")(r)
		p.After = &cur
	}
	rows, err := d.svc.ListRoles(ctx, entity, f, p)
	if err != nil {
		dinteroError(c, err)
		return
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
		dinteroNext(c, true, rows[limit-1].ID, limit)
	}
	out := make([]dinteroRole, 0, len(rows))
	for _, r := range rows {
		out = append(out, d.roleOf(r))
	}
	c.JSON(http.StatusOK, out)
}

// ---- users ----

type dinteroRoleRef struct {
	ID string `json:"id"`
}

type dinteroUserRequest struct {
	Email *string           `json:"email"`
	Name  *string           `json:"name"`
	Scope *[]string         `json:"scope"`
	Roles *[]dinteroRoleRef `json:"roles"`
}

func (r dinteroUserRequest) input() (policy.UserInput, error) {
	in := policy.UserInput{Email: r.Email, Name: r.Name}
	if r.Scope != nil {
		perms, err := parseDinteroScopes("scope", *r.Scope)
		if err != nil {
			return in, err
		}
		in.Permissions = &perms
	}
	if r.Roles != nil {
		ids := make([]string, 0, len(*r.Roles))
		for i, ref := range *r.Roles {
			if ref.ID == "" {
				return in, rolegate.Invalid("missing_field", "roles["+strconv.Itoa(i)+"].id", "roles[%d].id is required", i)
			}
			ids = append(ids, ref.ID)
		}
		in.RoleIDs = &ids
	}
	return in, nil
}

type dinteroUser struct {
	ID                 string         `json:"id"`
	Email              string         `json:"email"`
	Name               string         `json:"name,omitempty"`
	Scope              []string       `json:"scope"`
	AuthenticationType string         `json:"authentication_type"`
	Roles              *[]dinteroRole `json:"roles,omitempty"` // with expand=roles: always, [] when none
	CreatedAt          string         `json:"created_at"`
	CreatedBy          string         `json:"created_by,omitempty"`
	UpdatedAt          string         `json:"updated_at"`
	DeletedAt          *string        `json:"deleted_at,omitempty"`
	DeletedBy          string         `json:"deleted_by,omitempty"`
	LastSeenAt         *string        `json:"last_seen_at,omitempty"`
}

// dinteroUserOf encodes a user; with expand, its account-wide roles (Dintero
// has no scoped roles, so roles held only inside a team are not shown).
func (d *dinteroAPI) userOf(u rolegate.User, expand bool) dinteroUser {
	out := dinteroUser{ID: u.ID, Email: u.Email, Name: u.Name, Scope: dinteroScopesOf(d.view.Visible(u.Permissions)),
		AuthenticationType: "rolegate", CreatedAt: dinteroTime(u.CreatedAt), CreatedBy: u.CreatedBy,
		UpdatedAt: dinteroTime(u.UpdatedAt)}
	if u.LastSeenAt != nil {
		s := dinteroTime(*u.LastSeenAt)
		out.LastSeenAt = &s
	}
	if expand {
		roles := []dinteroRole{}
		for _, ur := range u.Roles {
			if ur.Scope == "" {
				roles = append(roles, d.roleOf(ur.Role))
			}
		}
		out.Roles = &roles
	}
	return out
}

// dinteroExpand reads expand, which may be repeated or comma-separated;
// roles is the one option.
func dinteroExpand(q map[string][]string) (bool, error) {
	expand := false
	for _, v := range q["expand"] {
		for _, e := range strings.Split(v, ",") {
			switch strings.TrimSpace(e) {
			case "roles":
				expand = true
			case "":
			default:
				return false, rolegate.Invalid("invalid_expand", "expand", "expand must be roles")
			}
		}
	}
	return expand, nil
}

func (d *dinteroAPI) createUser(c *gin.Context) {
	var req dinteroUserRequest
	if err := decodeJSON(c, &req); err != nil {
		dinteroError(c, err)
		return
	}
	if req.Email == nil || *req.Email == "" {
		dinteroError(c, rolegate.Invalid("missing_field", "email", "email is required"))
		return
	}
	in, err := req.input()
	if err != nil {
		dinteroError(c, err)
		return
	}
	u, rev, err := d.svc.CreateUser(c.Request.Context(), c.Param("oid"), in)
	if err != nil {
		dinteroError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, d.userOf(u, true))
}

func (d *dinteroAPI) getUser(c *gin.Context) {
	expand, err := dinteroExpand(c.Request.URL.Query())
	if err != nil {
		dinteroError(c, err)
		return
	}
	u, err := d.svc.GetUser(c.Request.Context(), c.Param("oid"), c.Param("user"))
	if err != nil {
		dinteroError(c, err)
		return
	}
	c.JSON(http.StatusOK, d.userOf(u, expand))
}

func (d *dinteroAPI) putUser(c *gin.Context) {
	var req dinteroUserRequest
	if err := decodeJSON(c, &req); err != nil {
		dinteroError(c, err)
		return
	}
	if req.Email != nil {
		dinteroError(c, rolegate.Invalid("immutable_field", "email", "email cannot be changed"))
		return
	}
	in, err := req.input()
	if err != nil {
		dinteroError(c, err)
		return
	}
	in.MergeRights = d.view.Merge // keep the user's rights scope strings cannot show
	u, rev, err := d.svc.UpdateUser(c.Request.Context(), c.Param("oid"), c.Param("user"), in)
	if err != nil {
		dinteroError(c, err)
		return
	}
	setRevision(c, rev)
	c.JSON(http.StatusOK, d.userOf(u, true))
}

func (d *dinteroAPI) deleteUser(c *gin.Context) {
	u, rev, err := d.svc.DeleteUser(c.Request.Context(), c.Param("oid"), c.Param("user"))
	if err != nil {
		dinteroError(c, err)
		return
	}
	setRevision(c, rev)
	out := d.userOf(u, false)
	now := dinteroTime(time.Now())
	out.DeletedAt, out.DeletedBy = &now, auth.ActorFrom(c.Request.Context()).ID
	c.JSON(http.StatusOK, out)
}

func (d *dinteroAPI) listUsers(c *gin.Context) {
	q := c.Request.URL.Query()
	expand, err := dinteroExpand(q)
	if err != nil {
		dinteroError(c, err)
		return
	}
	limit, after, err := dinteroPage(q)
	if err != nil {
		dinteroError(c, err)
		return
	}
	f := policy.UserFilter{Search: q.Get("search")}
	if len(f.Search) > 255 {
		dinteroError(c, rolegate.Invalid("invalid_search", "search", "search must be at most 255 characters"))
		return
	}
	// Users are ordered by id, so starting_after is a position: an id of no
	// user of this account (or of another account) starts after it, and
	// reveals nothing.
	p := policy.Page{Limit: limit + 1, Sort: "id"}
	if after != "" {
		p.After = &policy.Cursor{Value: after, ID: after}
	}
	rows, err := d.svc.ListUsers(c.Request.Context(), c.Param("oid"), f, p)
	if err != nil {
		dinteroError(c, err)
		return
	}
	if len(rows) > limit {
		rows = rows[:limit]
		dinteroNext(c, true, rows[limit-1].ID, limit)
	}
	out := make([]dinteroUser, 0, len(rows))
	for _, u := range rows {
		out = append(out, d.userOf(u, expand))
	}
	c.JSON(http.StatusOK, out)
}

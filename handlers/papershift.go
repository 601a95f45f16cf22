package handlers

// The Papershift-style facade (JSON:API): /api/v1/roles and
// /api/v1/team_memberships. The entity is the caller's own, or, for a
// platform-wide token, the one named by X-Entity-Id. Rights travel as groups
// of true keys (papershift_codec.go).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

const jsonAPIType = "application/vnd.api+json"

type papershiftAPI struct {
	svc  *policy.Service
	view *facadeView // what rights groups show: allowed rights, wildcards as the catalog's groups
}

func registerPapershift(r *gin.Engine, svc *policy.Service, authn Authenticator) {
	p := &papershiftAPI{svc: svc, view: &facadeView{catalog: facadeCatalog(svc, papershiftCatalog), shows: papershiftShows}}
	g := r.Group("/api/v1", authenticate(authn, papershiftError), papershiftEntity)
	g.GET("/roles", p.listRoles)
	g.POST("/roles", p.createRole)
	g.GET("/roles/:role", p.getRole)
	g.PUT("/roles/:role", p.putRole)
	g.DELETE("/roles/:role", p.deleteRole)
	g.POST("/team_memberships", p.createTeamMembership)
}

// papershiftError answers with a JSON:API error document.
func papershiftError(c *gin.Context, err error) {
	status, e := classify(c, err)
	var items []jsonAPIError
	for _, d := range e.Details {
		item := jsonAPIError{Status: strconv.Itoa(status), Code: e.Code, Title: http.StatusText(status), Detail: d.Message}
		if d.Field != "" {
			item.Source = &jsonAPISource{Pointer: jsonPointer(d.Field)}
			if strings.HasPrefix(d.Field, "filter[") {
				item.Source = &jsonAPISource{Parameter: d.Field}
			}
		}
		items = append(items, item)
	}
	if len(items) == 0 {
		items = []jsonAPIError{{Status: strconv.Itoa(status), Code: e.Code, Title: http.StatusText(status), Detail: sodMessage(e)}}
	}
	writeJSONAPI(c, status, gin.H{"errors": items})
	c.Abort()
}

type jsonAPIError struct {
	Status string         `json:"status"`
	Code   string         `json:"code"`
	Title  string         `json:"title"`
	Detail string         `json:"detail"`
	Source *jsonAPISource `json:"source,omitempty"`
}

type jsonAPISource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// jsonPointer turns a field such as "rights.shift.read" or "role_ids[1]" into
// "/data/attributes/rights/shift/read" or "/data/attributes/role_ids/1".
func jsonPointer(field string) string {
	if strings.HasPrefix(field, "/") {
		return field
	}
	f := strings.NewReplacer("[", ".", "]", "").Replace(field)
	return "/data/attributes/" + strings.ReplaceAll(f, ".", "/")
}

func writeJSONAPI(c *gin.Context, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Data(status, jsonAPIType, b)
}

const papershiftEntityKey = "papershift_entity"

// papershiftEntity picks the entity: the caller's own, else X-Entity-Id.
func papershiftEntity(c *gin.Context) {
	actor := auth.ActorFrom(c.Request.Context())
	id := actor.EntityID
	if h := c.GetHeader("X-Entity-Id"); h != "" {
		if id != "" && h != id {
			papershiftError(c, policy.EntityNotFound(h))
			return
		}
		id = h
	}
	if id == "" {
		papershiftError(c, badRequest("missing_entity", "a platform-wide token must name the entity with the X-Entity-Id header"))
		return
	}
	if !rolegate.ValidEntityID(id) {
		papershiftError(c, badRequest("invalid_entity_id", "X-Entity-Id is not an entity id"))
		return
	}
	c.Set(papershiftEntityKey, id)
	c.Next()
}

// decodeDocument reads a JSON:API document {"data": {"type", "id"?,
// "attributes"}}: the media type must be JSON:API (or plain JSON) without
// parameters, the type must be want, and the attributes are decoded strictly
// into attrs.
func decodeDocument(c *gin.Context, want string, id string, attrs any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || (mt != jsonAPIType && mt != "application/json") || (mt == jsonAPIType && len(params) > 0) {
			return unsupportedMedia("Content-Type must be %s", jsonAPIType)
		}
	}
	var doc struct {
		Data *struct {
			Type          string          `json:"type"`
			ID            *string         `json:"id"`
			Attributes    json.RawMessage `json:"attributes"`
			Relationships json.RawMessage `json:"relationships"`
			Meta          json.RawMessage `json:"meta"`
			Links         json.RawMessage `json:"links"`
		} `json:"data"`
		Meta    json.RawMessage `json:"meta"`
		JSONAPI json.RawMessage `json:"jsonapi"`
		Links   json.RawMessage `json:"links"`
	}
	if err := decodeJSON(c, &doc); err != nil {
		return err
	}
	if doc.Data == nil {
		return rolegate.Invalid("missing_field", "/data", "data is required: {\"data\": {\"type\": %q, \"attributes\": {...}}}", want)
	}
	if doc.Data.Type != want {
		return rolegate.Errorf(rolegate.KindConflict, "type_mismatch", "data.type must be %q", want)
	}
	if doc.Data.ID != nil && *doc.Data.ID != id {
		if id == "" {
			return rolegate.Errorf(rolegate.KindForbidden, "client_generated_id", "ids are made by the server; leave data.id out")
		}
		return rolegate.Errorf(rolegate.KindConflict, "id_mismatch", "data.id must be the id of the URL, %q", id)
	}
	if len(bytes.TrimSpace(doc.Data.Attributes)) == 0 {
		return rolegate.Invalid("missing_field", "/data/attributes", "data.attributes is required")
	}
	return decodeBytes(doc.Data.Attributes, attrs)
}

type papershiftRoleAttributes struct {
	Name        *string           `json:"name"`
	Default     *bool             `json:"default"`
	Rights      *papershiftRights `json:"rights"`
	Scope       *string           `json:"scope"`
	AccountID   any               `json:"account_id"`
	DiscardedAt any               `json:"discarded_at"`
	RoleType    any               `json:"role_type"`
}

var papershiftScopes = []string{"account", "team", "chat"}

// input reads the attributes of a create (cur nil) or of an update of cur.
// Read-only attributes may be sent back with the value they have (a client
// writing back what it read); only a change is refused, pointing at it.
func (a papershiftRoleAttributes) input(entity string, cur *rolegate.Role) (policy.RoleInput, error) {
	create := cur == nil
	if create {
		cur = &rolegate.Role{EntityID: entity, RoleType: rolegate.RoleCustom}
	}
	discarded := ""
	if cur.DeletedAt != nil {
		discarded = timeString(*cur.DeletedAt)
	}
	for _, ro := range []struct {
		name, has string
		v         any
	}{{"account_id", cur.EntityID, a.AccountID}, {"discarded_at", discarded, a.DiscardedAt}, {"role_type", cur.RoleType, a.RoleType}} {
		if ro.v == nil { // absent or null
			continue
		}
		if s, ok := ro.v.(string); !ok || s != ro.has {
			return policy.RoleInput{}, rolegate.Invalid("read_only_attribute", ro.name, "%s cannot be set; send it back unchanged or leave it out", ro.name)
		}
	}
	if create && a.Name == nil {
		return policy.RoleInput{}, rolegate.Invalid("missing_field", "name", "name is required")
	}
	if a.Name != nil && (strings.TrimSpace(*a.Name) == "" || utf8.RuneCountInString(policy.NormalizeName(*a.Name)) > 50) {
		return policy.RoleInput{}, rolegate.Invalid("invalid_name", "name", "name must be 1-50 characters")
	}
	in := policy.RoleInput{Name: a.Name, Default: a.Default}
	if a.Scope != nil && !create {
		if *a.Scope != cur.Scope {
			return in, rolegate.Invalid("immutable_field", "scope", "scope can only be set when the role is created")
		}
	} else if a.Scope != nil {
		ok := false
		for _, s := range papershiftScopes {
			ok = ok || *a.Scope == s
		}
		if !ok {
			return in, rolegate.Invalid("invalid_scope", "scope", "scope must be account, team or chat")
		}
		in.Scope = a.Scope
	}
	if a.Rights != nil {
		perms, err := parsePapershiftRights("rights", *a.Rights)
		if err != nil {
			return in, err
		}
		in.Permissions = &perms
	}
	return in, nil
}

type papershiftResource struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Attributes any    `json:"attributes"`
	Meta       any    `json:"meta,omitempty"`
}

type papershiftRole struct {
	AccountID   string           `json:"account_id"`
	Default     bool             `json:"default"`
	DiscardedAt *string          `json:"discarded_at"`
	Name        string           `json:"name"`
	Rights      papershiftRights `json:"rights"`
	RoleType    string           `json:"role_type"`
	Scope       string           `json:"scope"`
}

type papershiftRoleMeta struct {
	Permissions struct {
		Actions struct {
			Edit   bool `json:"edit"`
			Delete bool `json:"delete"`
		} `json:"actions"`
		Rights struct {
			Edit bool `json:"edit"`
		} `json:"rights"`
	} `json:"permissions"`
}

// papershiftCaller is what the caller may do to the entity's roles, for
// meta.permissions.
type papershiftCaller struct{ update, delete bool }

func (p *papershiftAPI) caller(c *gin.Context) papershiftCaller {
	ctx, entity := c.Request.Context(), c.GetString(papershiftEntityKey)
	return papershiftCaller{update: p.svc.May(ctx, entity, policy.ObjectRole, policy.ActionUpdate),
		delete: p.svc.May(ctx, entity, policy.ObjectRole, policy.ActionDelete)}
}

func (p *papershiftAPI) roleOf(r rolegate.Role, who papershiftCaller) papershiftResource {
	attrs := papershiftRole{AccountID: r.EntityID, Default: r.Default, Name: r.Name,
		Rights: papershiftRightsOf(p.view.Visible(r.Permissions)), RoleType: r.RoleType, Scope: r.Scope}
	if r.DeletedAt != nil {
		s := timeString(*r.DeletedAt)
		attrs.DiscardedAt = &s
	}
	var meta papershiftRoleMeta
	// A system role may be edited (its default flag moves) but neither
	// deleted nor given other rights: actions.edit and rights.edit differ.
	active := r.Status == rolegate.StatusActive
	custom := r.RoleType == rolegate.RoleCustom
	meta.Permissions.Actions.Edit = active && who.update
	meta.Permissions.Actions.Delete = active && custom && who.delete
	meta.Permissions.Rights.Edit = active && custom && who.update
	return papershiftResource{ID: r.ID, Type: "role", Attributes: attrs, Meta: meta}
}

func (p *papershiftAPI) createRole(c *gin.Context) {
	var attrs papershiftRoleAttributes
	if err := decodeDocument(c, "role", "", &attrs); err != nil {
		papershiftError(c, err)
		return
	}
	in, err := attrs.input(c.GetString(papershiftEntityKey), nil)
	if err != nil {
		papershiftError(c, err)
		return
	}
	r, rev, err := p.svc.CreateRole(c.Request.Context(), c.GetString(papershiftEntityKey), in)
	if err != nil {
		papershiftError(c, err)
		return
	}
	setRevision(c, rev)
	c.Header("Location", "/api/v1/roles/"+url.PathEscape(r.ID))
	writeJSONAPI(c, http.StatusCreated, gin.H{"data": p.roleOf(r, p.caller(c))})
}

func (p *papershiftAPI) getRole(c *gin.Context) {
	r, err := p.svc.GetRole(c.Request.Context(), c.GetString(papershiftEntityKey), c.Param("role"))
	if err != nil {
		papershiftError(c, err)
		return
	}
	writeJSONAPI(c, http.StatusOK, gin.H{"data": p.roleOf(r, p.caller(c))})
}

// putRole changes the attributes given; rights, when given, replace the
// rights Papershift shows (the role's other rights are kept).
func (p *papershiftAPI) putRole(c *gin.Context) {
	var attrs papershiftRoleAttributes
	if err := decodeDocument(c, "role", c.Param("role"), &attrs); err != nil {
		papershiftError(c, err)
		return
	}
	cur, err := p.svc.GetRole(c.Request.Context(), c.GetString(papershiftEntityKey), c.Param("role"))
	if err != nil {
		papershiftError(c, err)
		return
	}
	in, err := attrs.input(cur.EntityID, &cur)
	if err != nil {
		papershiftError(c, err)
		return
	}
	in.MergeRights = p.view.Merge // keep the rights Papershift cannot show
	r, rev, err := p.svc.UpdateRole(c.Request.Context(), c.GetString(papershiftEntityKey), c.Param("role"), in, policy.Patch, 0)
	if err != nil {
		papershiftError(c, err)
		return
	}
	setRevision(c, rev)
	writeJSONAPI(c, http.StatusOK, gin.H{"data": p.roleOf(r, p.caller(c))})
}

// deleteRole discards the role (soft delete), taking it from its holders,
// and answers 200 with it, discarded_at set.
func (p *papershiftAPI) deleteRole(c *gin.Context) {
	r, rev, err := p.svc.DeleteRole(c.Request.Context(), c.GetString(papershiftEntityKey), c.Param("role"), true, 0)
	if err != nil {
		papershiftError(c, err)
		return
	}
	setRevision(c, rev)
	writeJSONAPI(c, http.StatusOK, gin.H{"data": p.roleOf(r, p.caller(c))})
}

// papershiftPage is how many roles one read of a listing takes.
const papershiftPage = 500

// listRoles lists all the account's roles, discarded ones too, narrowed by
// filter[<attribute>]=<op>:<value> parameters. Papershift documents no
// paging, so the answer is the whole list: it is streamed page by page,
// never cut. An error after the first page aborts the connection, so a
// client never takes a short list for the whole one.
func (p *papershiftAPI) listRoles(c *gin.Context) {
	filters, err := parsePapershiftFilters(c.Request.URL.Query())
	if err != nil {
		papershiftError(c, err)
		return
	}
	ctx, entity := c.Request.Context(), c.GetString(papershiftEntityKey)
	page := policy.Page{Limit: papershiftPage, Sort: "created_at"}
	rows, err := p.svc.ListRoles(ctx, entity, policy.RoleFilter{}, page)
	if err != nil {
		papershiftError(c, err)
		return
	}
	who := p.caller(c)
	c.Status(http.StatusOK)
	c.Header("Content-Type", jsonAPIType)
	w := c.Writer
	_, _ = w.WriteString(`{"data":[`)
	n := 0
	for {
		for _, r := range rows {
			if !filters.match(r) {
				continue
			}
			b, err := json.Marshal(p.roleOf(r, who))
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			if n > 0 {
				_, _ = w.WriteString(",")
			}
			_, _ = w.Write(b)
			n++
		}
		if len(rows) < page.Limit {
			break
		}
		cur := roleCursor("created_at")(rows[len(rows)-1])
		page.After = &cur
		w.Flush()
		if rows, err = p.svc.ListRoles(ctx, entity, policy.RoleFilter{}, page); err != nil {
			panic(http.ErrAbortHandler) // the status is out: cut the connection, not the list
		}
	}
	_, _ = w.WriteString("]}")
}

// ---- filters ----

type papershiftFilter struct {
	attr, op string
	values   []string
	times    []time.Time
}

type papershiftFilters []papershiftFilter

var papershiftOps = map[string]bool{"eq": true, "!eq": true, "gt": true, "gte": true, "lt": true, "lte": true,
	"pre": true, "suf": true, "ct": true, "!ct": true, "in": true, "!in": true, "blank": true, "present": true}

var papershiftFilterAttrs = map[string]bool{"id": true, "account_id": true, "default": true, "discarded_at": true,
	"name": true, "role_type": true, "scope": true}

// Bounds of the filters of one listing: each filter is matched against every
// role of the account, so their number and size bound the work of a request.
const (
	papershiftMaxFilters  = 20  // filter parameters, repeated ones counted each
	papershiftMaxInValues = 100 // values of one in: or !in:
	papershiftMaxValueLen = 255 // characters of one value (as a role name)
)

// parsePapershiftFilters reads filter[<attr>]=<op>:<value>. A value without a
// known operator is an eq; filter[<attr>_blank]=1 (and _present) are the short
// forms of the blank and present operators.
func parsePapershiftFilters(q map[string][]string) (papershiftFilters, error) {
	var out papershiftFilters
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasPrefix(k, "filter[") {
			continue
		}
		if !strings.HasSuffix(k, "]") {
			return nil, badFilter(k, "a filter is written filter[<attribute>]=<op>:<value>")
		}
		attr := strings.TrimSuffix(strings.TrimPrefix(k, "filter["), "]")
		if len(out)+len(q[k]) > papershiftMaxFilters {
			return nil, badFilter(k, fmt.Sprintf("at most %d filters may be given", papershiftMaxFilters))
		}
		for _, raw := range q[k] {
			f := papershiftFilter{attr: attr}
			switch {
			case strings.HasSuffix(attr, "_blank") && papershiftFilterAttrs[strings.TrimSuffix(attr, "_blank")]:
				f.attr, f.op = strings.TrimSuffix(attr, "_blank"), "blank"
				if raw == "0" || raw == "false" {
					f.op = "present"
				}
			case strings.HasSuffix(attr, "_present") && papershiftFilterAttrs[strings.TrimSuffix(attr, "_present")]:
				f.attr, f.op = strings.TrimSuffix(attr, "_present"), "present"
				if raw == "0" || raw == "false" {
					f.op = "blank"
				}
			case !papershiftFilterAttrs[attr]:
				return nil, badFilter(k, fmt.Sprintf("cannot filter on %q; use id, account_id, default, discarded_at, name, role_type or scope", clipValue(attr)))
			default:
				op, value, found := strings.Cut(raw, ":")
				if !papershiftOps[op] {
					op, value, found = "eq", raw, true
				}
				f.op = op
				if op != "blank" && op != "present" {
					if !found {
						return nil, badFilter(k, fmt.Sprintf("operator %s needs a value: %s:<value>", op, op))
					}
					f.values = []string{value}
					if op == "in" || op == "!in" {
						f.values = strings.SplitN(value, ",", papershiftMaxInValues+1)
						if len(f.values) > papershiftMaxInValues {
							return nil, badFilter(k, fmt.Sprintf("%s takes at most %d values", op, papershiftMaxInValues))
						}
					}
					for _, v := range f.values {
						if len(v) > papershiftMaxValueLen {
							return nil, badFilter(k, fmt.Sprintf("a value is at most %d characters", papershiftMaxValueLen))
						}
					}
				}
			}
			if f.attr == "discarded_at" {
				for _, v := range f.values {
					t, err := time.Parse(time.RFC3339Nano, v)
					if err != nil {
						return nil, badFilter(k, "discarded_at is compared with times such as 2024-01-15T09:30:00Z")
					}
					f.times = append(f.times, t)
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func badFilter(param, msg string) error {
	e := rolegate.Errorf(rolegate.KindBadRequest, "invalid_filter", "%s: %s", param, msg)
	e.Details = []rolegate.Detail{{Field: param, Message: msg}}
	return e
}

func (fs papershiftFilters) match(r rolegate.Role) bool {
	for _, f := range fs {
		if !f.match(r) {
			return false
		}
	}
	return true
}

func (f papershiftFilter) match(r rolegate.Role) bool {
	var v string
	blank := false
	switch f.attr {
	case "id":
		v = r.ID
	case "account_id":
		v = r.EntityID
	case "default":
		v = strconv.FormatBool(r.Default)
	case "name":
		v = r.Name
	case "role_type":
		v = r.RoleType
	case "scope":
		v = r.Scope
	case "discarded_at":
		if r.DeletedAt == nil {
			blank = true
		} else {
			v = timeString(*r.DeletedAt)
		}
	}
	blank = blank || v == ""
	switch f.op {
	case "blank":
		return blank
	case "present":
		return !blank
	}
	if blank {
		return f.op == "!eq" || f.op == "!ct" || f.op == "!in"
	}
	cmp := func(i int) int { return strings.Compare(v, f.values[i]) }
	if f.attr == "discarded_at" {
		cmp = func(i int) int { return r.DeletedAt.Compare(f.times[i]) }
	}
	lv, lw := strings.ToLower(v), strings.ToLower(f.values[0])
	switch f.op {
	case "eq":
		return cmp(0) == 0
	case "!eq":
		return cmp(0) != 0
	case "gt":
		return cmp(0) > 0
	case "gte":
		return cmp(0) >= 0
	case "lt":
		return cmp(0) < 0
	case "lte":
		return cmp(0) <= 0
	case "pre":
		return strings.HasPrefix(lv, lw)
	case "suf":
		return strings.HasSuffix(lv, lw)
	case "ct":
		return strings.Contains(lv, lw)
	case "!ct":
		return !strings.Contains(lv, lw)
	case "in", "!in":
		in := false
		for i := range f.values {
			in = in || cmp(i) == 0
		}
		return in == (f.op == "in")
	}
	return false
}

// ---- team memberships ----

type teamMembershipAttributes struct {
	TeamID  json.RawMessage `json:"team_id"`
	UserID  *string         `json:"user_id"`
	RoleIDs *[]string       `json:"role_ids"`
}

// createTeamMembership makes the roles the user holds inside team:<team_id>
// exactly role_ids (the account's default roles when none are given).
func (p *papershiftAPI) createTeamMembership(c *gin.Context) {
	var attrs teamMembershipAttributes
	if err := decodeDocument(c, "team_membership", "", &attrs); err != nil {
		papershiftError(c, err)
		return
	}
	team, err := teamID(attrs.TeamID)
	if err != nil {
		papershiftError(c, err)
		return
	}
	if attrs.UserID == nil || *attrs.UserID == "" {
		papershiftError(c, rolegate.Invalid("missing_field", "user_id", "user_id is required"))
		return
	}
	var ids []string
	if attrs.RoleIDs != nil && len(*attrs.RoleIDs) > 0 {
		ids = *attrs.RoleIDs
	}
	entity := c.GetString(papershiftEntityKey)
	roles, rev, err := p.svc.SetScopedRoles(c.Request.Context(), entity, *attrs.UserID, "team:"+team, ids)
	if err != nil {
		if e := rolegate.AsError(err); e.Code == "user_not_found" {
			err = rolegate.Invalid("unknown_user", "user_id", "user %q does not exist in this account", clipValue(*attrs.UserID))
		}
		papershiftError(c, err)
		return
	}
	setRevision(c, rev)
	roleIDs := make([]string, 0, len(roles))
	for _, r := range roles {
		roleIDs = append(roleIDs, r.ID)
	}
	writeJSONAPI(c, http.StatusCreated, gin.H{"data": papershiftResource{
		ID: *attrs.UserID + "|team:" + team, Type: "team_membership",
		Attributes: gin.H{"account_id": entity, "team_id": team, "user_id": *attrs.UserID, "role_ids": roleIDs, "scope": "team:" + team},
	}})
}

// teamID reads team_id, a number or a string.
func teamID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", rolegate.Invalid("missing_field", "team_id", "team_id is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", rolegate.Invalid("invalid_type", "team_id", "team_id must be a number or a string")
		}
		s = n.String()
	}
	if !policy.ValidScope("team:" + s) {
		return "", rolegate.Invalid("invalid_team_id", "team_id", "team_id must be 1-120 characters of A-Za-z0-9._-")
	}
	return s, nil
}

package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// ---- who can ----

func viaOf(ms []engine.Match) []wire.Via {
	out := make([]wire.Via, 0, len(ms))
	for _, m := range ms {
		out = append(out, wire.Via{RoleID: nullable(m.RoleID), RoleName: nullable(m.RoleName), Direct: m.RoleID == ""})
	}
	return out
}

// whoCan lists the users allowed an (object type, action), paged by user id;
// the token is bound to the entity and to the question.
func (a *api) whoCan(c *gin.Context) {
	entity := c.Param("entity")
	q, tok, limit, err := pageRequest(c, "who_can", entity)
	if err != nil {
		writeError(c, err)
		return
	}
	// The object's attributes: the token carries them with the rest of
	// the question.
	resource, err := resourceParam(q)
	if err != nil {
		writeError(c, err)
		return
	}
	at, err := asOfQuery(q)
	if err != nil {
		writeError(c, err)
		return
	}
	rows, next, _, err := keyset("who_can", entity, q, tok, policy.Page{Limit: limit, Sort: "id"},
		func(p policy.Page) ([]engine.Holder, error) {
			if p.Desc {
				return nil, invalidToken() // forward only
			}
			after := ""
			if p.After != nil {
				after = p.After.ID
			}
			if !at.IsNow() {
				return a.whoCanAsOf(c, at, q, entity, after, p.Limit, resource)
			}
			return a.svc.WhoCan(c.Request.Context(), entity, q.Get("object_type"), q.Get("action"), q.Get("scope"), after, p.Limit, resource)
		}, func(h engine.Holder) policy.Cursor { return policy.Cursor{Value: h.UserID, ID: h.UserID} })
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.HolderPage{Data: make([]wire.Holder, 0, len(rows)), NextPaginationToken: next}
	for _, h := range rows {
		out.Data = append(out.Data, wire.Holder{UserID: h.UserID, Permission: string(h.Permission), Via: viaOf(h.Via), Condition: h.Condition})
	}
	c.JSON(http.StatusOK, out)
}

// MaxResourceParam is the longest who-can resource parameter, in bytes
// (decoded): 64 attributes of 1,024 characters fit with room to spare, and
// the headers' limit comes first anyway.
const MaxResourceParam = 64 << 10

// resourceParam reads who-can's resource: the attributes of the object asked
// about, as a JSON object. Absent or empty is none (nil): who-can then lists
// users allowed only under conditions with the condition; so is {} (the
// service normalizes no attributes to none). Numbers stay json.Number, for
// condition.Normalize.
func resourceParam(q url.Values) (map[string]any, error) {
	vals, ok := q["resource"]
	if !ok || (len(vals) == 1 && vals[0] == "") {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, rolegate.Invalid("invalid_attributes", "resource", "resource must be given once")
	}
	raw := vals[0]
	if len(raw) > MaxResourceParam {
		return nil, rolegate.Invalid("invalid_attributes", "resource", "resource must be at most %d bytes", MaxResourceParam)
	}
	if !utf8.ValidString(raw) || !json.Valid([]byte(raw)) {
		return nil, rolegate.Invalid("invalid_attributes", "resource", `resource must be a JSON object such as {"amount":1200}`)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil || out == nil {
		return nil, rolegate.Invalid("invalid_attributes", "resource", `resource must be a JSON object such as {"amount":1200}`)
	}
	return out, nil
}

// ---- dry runs ----

func rightsOf(rs []engine.Right) []wire.EffectiveRight {
	out := make([]wire.EffectiveRight, 0, len(rs))
	for _, r := range rs {
		out = append(out, wire.EffectiveRight{UserID: r.UserID, Scope: r.Scope, ObjectType: r.ObjectType, Action: r.Action,
			Permission: string(r.Permission), Condition: r.Condition})
	}
	return out
}

// dryRunRoutes are the native API's calls that have a dry run (?dry_run=true):
// the role and user writes and the assignments, each of which goes through
// the Service's write path and rolls its transaction back.
var dryRunRoutes = map[string]bool{
	"POST /v1/entities/:entity/roles":                     true,
	"PUT /v1/entities/:entity/roles/:role":                true,
	"PATCH /v1/entities/:entity/roles/:role":              true,
	"DELETE /v1/entities/:entity/roles/:role":             true,
	"POST /v1/entities/:entity/users":                     true,
	"POST /v1/entities/:entity/users/import":              true,
	"PATCH /v1/entities/:entity/users/:user":              true,
	"DELETE /v1/entities/:entity/users/:user":             true,
	"PUT /v1/entities/:entity/users/:user/roles/:role":    true,
	"DELETE /v1/entities/:entity/users/:user/roles/:role": true,
}

// dryRunParam refuses, before anything is done, a dry_run the call cannot
// honour: on a call without a dry run (an entity's delete, a client's, any
// read), given more than once, or not true or false. Answered 422, so that a
// caller asking for a dry run never gets a real write instead.
func dryRunParam(c *gin.Context) {
	if c.Request.URL.RawQuery == "" {
		c.Next() // no query to parse (a check): URL.Query allocates a map
		return
	}
	vals, ok := c.Request.URL.Query()["dry_run"]
	if !ok && !strings.Contains(c.Request.URL.RawQuery, "dry_run") {
		c.Next()
		return
	}
	var err error
	switch {
	case !ok: // in a part of the query that does not parse (a ";" in it)
		err = rolegate.Invalid("invalid_dry_run", "dry_run", "the query names dry_run but does not parse; nothing was done")
	case !dryRunRoutes[c.Request.Method+" "+c.FullPath()]:
		err = rolegate.Invalid("dry_run_unsupported", "dry_run", "%s %s has no dry run; nothing was done", c.Request.Method, c.FullPath())
	case len(vals) > 1:
		err = rolegate.Invalid("invalid_dry_run", "dry_run", "dry_run must be given once; nothing was done")
	default:
		if _, perr := strconv.ParseBool(vals[0]); perr != nil {
			err = rolegate.Invalid("invalid_dry_run", "dry_run", "dry_run must be true or false; nothing was done")
		}
	}
	if err != nil {
		writeError(c, err)
		c.Abort()
		return
	}
	c.Next()
}

// writer is the Service a write goes to, by ?dry_run (checked by
// dryRunParam): when true, a dry-run one (Service.DryRun) and the result its
// write leaves what it would change in; otherwise a.svc and nil.
func (a *api) writer(c *gin.Context) (*policy.Service, *policy.DryRunResult, error) {
	b, err := boolParam(c.Request.URL.Query(), "dry_run")
	if err != nil || b == nil || !*b {
		return a.svc, nil, err
	}
	svc, res := a.svc.DryRun()
	return svc, res, nil
}

func writeDryRun(c *gin.Context, r *policy.DryRunResult) {
	d := wire.DryRun{DryRun: true, Gained: rightsOf(r.Gained), Lost: rightsOf(r.Lost)}
	if len(r.Violations) > 0 {
		d.Violations = violationsOf(r.Violations) // separation of duties (constraints.go)
	}
	c.JSON(http.StatusOK, d)
}

// ---- access report ----

// accessReport streams the entity's access review as CSV (Accept: text/csv)
// or JSON, one row per user and effective right. Rows are written as they
// come; a failure after the first byte aborts the connection, so that a
// truncated report never looks whole.
func (a *api) accessReport(c *gin.Context) {
	csvOut := strings.Contains(c.GetHeader("Accept"), "text/csv")
	entity := c.Param("entity")
	at, err := asOfQuery(c.Request.URL.Query())
	if err != nil {
		writeError(c, err)
		return
	}
	// A slot is taken once the caller is known to may read the report
	// (header comes after the Service's authorization), so that refused
	// callers cannot crowd out those allowed.
	release := func() {}
	defer func() { release() }()
	w := bufio.NewWriterSize(c.Writer, 32<<10)
	var cw *csv.Writer
	rows := 0
	// A large entity's report outlasts the server's write timeout: each
	// flush gives the next part its own time.
	rc := http.NewResponseController(c.Writer)
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second)) }
	extend()
	header := func(rev int64) error {
		r, err := a.reports.take(entity)
		if err != nil {
			return err
		}
		release = r
		c.Header("X-Rolegate-Revision", strconv.FormatInt(rev, 10))
		c.Header("Cache-Control", "no-store")
		if csvOut {
			c.Header("Content-Type", "text/csv; charset=utf-8")
			c.Header("Content-Disposition", `attachment; filename="access-report.csv"`)
			c.Status(http.StatusOK)
			cw = csv.NewWriter(w)
			return cw.Write([]string{"user_id", "scope", "object_type", "action", "permission", "role_ids", "role_names", "condition", "violates"})
		}
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		ent, _ := json.Marshal(entity)
		_, err = fmt.Fprintf(w, `{"entity_id":%s,"revision":%d,"data":[`, ent, rev)
		return err
	}
	emit := func(r engine.ReportRight) error {
		rows++
		if csvOut {
			ids, names := make([]string, 0, len(r.Via)), make([]string, 0, len(r.Via))
			for _, m := range r.Via {
				if m.RoleID == "" {
					ids, names = append(ids, ""), append(names, "(direct)")
				} else {
					ids, names = append(ids, m.RoleID), append(names, m.RoleName)
				}
			}
			if err := cw.Write([]string{cell(r.UserID), cell(r.Scope), cell(r.ObjectType), r.Action, string(r.Permission),
				cell(joinCell(ids)), cell(joinCell(names)), cell(r.Condition), cell(joinCell(r.Violates))}); err != nil {
				return err
			}
		} else {
			b, err := json.Marshal(wire.ReportRow{UserID: r.UserID, Scope: nullable(r.Scope), ObjectType: r.ObjectType,
				Action: r.Action, Permission: string(r.Permission), Via: viaOf(r.Via), Condition: r.Condition, Violates: r.Violates})
			if err != nil {
				return err
			}
			if rows > 1 {
				if err := w.WriteByte(','); err != nil {
					return err
				}
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if w.Buffered() > 16<<10 {
			if err := w.Flush(); err != nil {
				return err
			}
			c.Writer.Flush()
			extend()
		}
		return nil
	}
	err = a.accessReportOf(c, at, entity, header, emit)
	if err == nil && csvOut {
		cw.Flush()
		err = cw.Error()
	}
	if err == nil && !csvOut {
		_, err = w.WriteString("]}\n")
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		if !c.Writer.Written() {
			writeError(c, err)
			return
		}
		a.log.Warn("access report cut short", "entity_id", entity, "rows", rows, "error", err)
		panic(http.ErrAbortHandler) // the client must not take a cut report for a whole one
	}
}

// cell keeps a spreadsheet from reading a CSV cell as a formula (a user id or
// role name starting with = + - @, or their full-width forms, after any
// spaces, control or format characters, which spreadsheets skip; or
// starting with a tab or CR): it is prefixed with '.
func cell(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	rest := strings.TrimLeftFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	})
	if r, _ := utf8.DecodeRuneInString(rest); rest != "" && strings.ContainsRune("=+-@\uff1d\uff0b\uff0d\uff20", r) {
		return "'" + s
	}
	return s
}

var cellEscaper = strings.NewReplacer(`\`, `\\`, ";", `\;`)

// joinCell writes the values of a multi-valued CSV cell (role_ids,
// role_names) separated by ";", with every ";" and "\" inside a value
// preceded by "\": a role named "a;b" reads back as one name, not two.
func joinCell(vals []string) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = cellEscaper.Replace(v)
	}
	return strings.Join(out, ";")
}

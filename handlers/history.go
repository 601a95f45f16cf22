package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// Answers as of a past instant (issue 25): a check (and each check of a
// batch) takes "as_of" or "at_revision" in its body; who-can, a user's
// effective rights and the access report take them in the query. The
// service resolves them against the entity's history and refuses what it
// does not keep (before_entity, beyond_retention, invalid_revision); here
// they are read and refused when malformed, before anything is asked.

// maxTimeLen bounds an RFC 3339 time read from a body or a query: the
// longest one (nanoseconds and an offset) is 35 bytes.
const maxTimeLen = 40

// parseInstant reads an RFC 3339 time (with a time zone) named field, as
// UTC.
func parseInstant(field, code, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || len(s) > maxTimeLen {
		return time.Time{}, rolegate.Invalid(code, field, "%s must be an RFC 3339 time such as 2026-03-31T23:59:59Z", field)
	}
	return t.UTC(), notZero(field, t)
}

// notZero refuses the zero instant (0001-01-01T00:00:00Z), which the
// service reads as now (rolegate.AsOf), as before any entity: it is.
func notZero(field string, t time.Time) error {
	if t.IsZero() {
		return rolegate.Invalid("before_entity", field, "%s is before the entity existed", field)
	}
	return nil
}

// asOfOf reads a check's as_of and at_revision (prefix names the check in a
// batch, "checks[3]."), as asOfTimeOf does once as_of is read.
func asOfOf(prefix string, asOf *string, atRevision *int64, minRevision int64) (rolegate.AsOf, error) {
	var t *time.Time
	if asOf != nil && atRevision == nil {
		at, err := parseInstant(prefix+"as_of", "invalid_as_of", *asOf)
		if err != nil {
			return rolegate.AsOf{}, err
		}
		t = &at
	} else if asOf != nil {
		t = &time.Time{} // refused for both
	}
	return AsOfOf(prefix, t, atRevision, minRevision)
}

// AsOfOf reads a check's as_of (nil: absent) and at_revision, over HTTP and
// gRPC. Both given, or either with min_revision, is 422 invalid_as_of; a
// revision below 1 is 422 invalid_revision (0 would read as now); the zero
// instant is 422 before_entity. The service refuses the rest (an instant
// in the future, before the entity, past the history kept; a revision past
// the entity's).
func AsOfOf(prefix string, asOf *time.Time, atRevision *int64, minRevision int64) (rolegate.AsOf, error) {
	var at rolegate.AsOf
	if asOf == nil && atRevision == nil {
		return at, nil
	}
	if asOf != nil && atRevision != nil {
		return at, rolegate.Invalid("invalid_as_of", prefix+"as_of", "%sas_of and %sat_revision cannot both be given", prefix, prefix)
	}
	field := prefix + "as_of"
	if atRevision != nil {
		field = prefix + "at_revision"
	}
	if minRevision != 0 {
		return at, rolegate.Invalid("invalid_as_of", field, "%s cannot be given with %smin_revision: a past answer is never stale", field, prefix)
	}
	if atRevision != nil {
		if *atRevision < 1 {
			return at, rolegate.Invalid("invalid_revision", field, "%s must be a revision of the entity (1 or more)", field)
		}
		at.Revision = *atRevision
		return at, nil
	}
	if err := notZero(field, *asOf); err != nil {
		return at, err
	}
	at.Time = asOf.UTC()
	return at, nil
}

// checkAsOf is checkInput with the check's as_of or at_revision; i is the
// check's place in a batch (-1: a single check).
func checkAsOf(i int, r wire.CheckRequest) (policy.CheckRequest, error) {
	req := checkInput(r)
	if r.AsOf == nil && r.AtRevision == nil {
		return req, nil
	}
	prefix := ""
	if i >= 0 {
		prefix = "checks[" + strconv.Itoa(i) + "]."
	}
	at, err := asOfOf(prefix, r.AsOf, r.AtRevision, r.MinRevision)
	req.AsOf = at
	return req, err
}

// asOfQuery reads as_of or at_revision from a query (who-can, permissions,
// the access report), each at most once.
func asOfQuery(q url.Values) (rolegate.AsOf, error) {
	asOfs, hasAsOf := q["as_of"]
	revs, hasRev := q["at_revision"]
	if !hasAsOf && !hasRev {
		return rolegate.AsOf{}, nil
	}
	if len(asOfs) > 1 || len(revs) > 1 {
		return rolegate.AsOf{}, rolegate.Invalid("invalid_as_of", "as_of", "as_of and at_revision may be given once")
	}
	var asOf *string
	var rev *int64
	if hasAsOf {
		asOf = &asOfs[0]
	}
	if hasRev {
		n, err := strconv.ParseInt(revs[0], 10, 64)
		if err != nil {
			return rolegate.AsOf{}, rolegate.Invalid("invalid_revision", "at_revision", "at_revision must be a revision of the entity (1 or more)")
		}
		rev = &n
	}
	return asOfOf("", asOf, rev, 0)
}

// setAnswerRevision tells which revision a read answered from.
func setAnswerRevision(c *gin.Context, rev int64) {
	if rev > 0 {
		c.Header(RevisionHeader, strconv.FormatInt(rev, 10))
	}
}

// whoCanAsOf answers a who-can page from the policy at: every page of one
// question answers from the same revision (the next page's token names it).
func (a *api) whoCanAsOf(c *gin.Context, at rolegate.AsOf, q url.Values, entity string, after string, limit int, resource map[string]any) ([]engine.Holder, error) {
	hs, rev, err := a.svc.WhoCanAt(c.Request.Context(), at, entity, q.Get("object_type"), q.Get("action"), q.Get("scope"), after, limit, resource)
	if err != nil {
		return nil, err
	}
	q.Del("as_of")
	q.Set("at_revision", strconv.FormatInt(rev, 10))
	setAnswerRevision(c, rev)
	return hs, nil
}

// userPermissionsAsOf answers a user's effective rights as of a past
// instant or revision.
func (a *api) userPermissionsAsOf(c *gin.Context, at rolegate.AsOf) {
	p, rev, err := a.svc.UserPermissionsAt(c.Request.Context(), at, c.Param("entity"), c.Param("user"), c.Query("scope"))
	if err != nil {
		writeError(c, err)
		return
	}
	setAnswerRevision(c, rev)
	c.JSON(http.StatusOK, permissionsOf(p))
}

// accessReportOf streams the report now or as of at.
func (a *api) accessReportOf(c *gin.Context, at rolegate.AsOf, entity string, header func(int64) error, emit func(engine.ReportRight) error) error {
	if at.IsNow() {
		return a.svc.AccessReport(c.Request.Context(), entity, header, emit)
	}
	return a.svc.AccessReportAt(c.Request.Context(), at, entity, header, emit)
}

// accessHistory answers GET .../users/{u}/access-history: the intervals
// during which the user could do action on object_type (in scope, when
// given) between from and to.
func (a *api) accessHistory(c *gin.Context) {
	q := c.Request.URL.Query()
	hq := policy.HistoryQuery{ObjectType: q.Get("object_type"), Action: q.Get("action"), Scope: q.Get("scope")}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &hq.From}, {"to", &hq.To}} {
		vals, ok := q[f.name]
		if !ok {
			continue
		}
		if len(vals) > 1 {
			writeError(c, rolegate.Invalid("invalid_datetime", f.name, "%s may be given once", f.name))
			return
		}
		t, err := parseInstant(f.name, "invalid_datetime", vals[0])
		if err != nil {
			writeError(c, err)
			return
		}
		*f.dst = t
	}
	if !hq.From.IsZero() && !hq.To.IsZero() && hq.From.After(hq.To) {
		writeError(c, rolegate.Invalid("invalid_datetime", "from", "from must not be after to"))
		return
	}
	ivs, rev, err := a.svc.AccessHistory(c.Request.Context(), c.Param("entity"), c.Param("user"), hq)
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.AccessHistory{Data: make([]wire.AccessInterval, 0, len(ivs)), Revision: rev}
	for _, iv := range ivs {
		out.Data = append(out.Data, intervalOf(iv))
	}
	setAnswerRevision(c, rev)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func historyRevisionOf(r rolegate.Revision) wire.HistoryRevision {
	return wire.HistoryRevision{Revision: r.Revision, At: timeString(r.At), Actor: r.Actor}
}

func historyChangeOf(ch *rolegate.HistoryChange) *wire.HistoryChange {
	if ch == nil {
		return nil
	}
	return &wire.HistoryChange{AuditEventID: ch.AuditEventID, Action: ch.Action, ObjectType: ch.ObjectType, ObjectID: ch.ObjectID}
}

// intervalOf is an interval as the API shows it: the user's own rights are
// "own": true, not a role without an id in via.
func intervalOf(iv rolegate.AccessInterval) wire.AccessInterval {
	out := wire.AccessInterval{From: historyRevisionOf(iv.From), Permission: string(iv.Permission), Condition: iv.Condition,
		Via: make([]wire.HistoryVia, 0, len(iv.Via)), Opened: historyChangeOf(iv.Opened), Closed: historyChangeOf(iv.Closed)}
	if iv.To != nil {
		to := historyRevisionOf(*iv.To)
		out.To = &to
	}
	for _, v := range iv.Via {
		if v.RoleID == "" {
			out.Own = true
			continue
		}
		out.Via = append(out.Via, wire.HistoryVia{RoleID: v.RoleID, RoleName: v.RoleName, Scope: v.Scope})
	}
	return out
}

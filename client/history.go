package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/rolegate/rolegate/api"
)

// Answers as of a past instant: a check (CheckRequest.AsOf or AtRevision),
// who-can, a user's effective rights and the access report answer from the
// entity's policy of a past instant or revision, and AccessHistory tells
// when a user could do something and through what. They need the audit
// log's right besides the live answer's. A Cache never keeps an answer as
// of the past.

type (
	// Holder is a user allowed an (object type, action): one item of
	// who-can; Via are the roles that give it.
	Holder = api.Holder
	// HolderPage is a page of who-can.
	HolderPage = api.HolderPage
	// AccessReport is an entity's access review (one row per user and
	// effective right), from one revision of its policy.
	AccessReport = api.AccessReport
	// AccessHistory are the intervals during which a user could do an
	// action, oldest first, with the entity's current revision.
	AccessHistory = api.AccessHistory
	// AccessInterval is one span during which the user could do it: From
	// opened it, To closed it (nil: still open), Via the roles (Own: its
	// own rights), Opened and Closed the audited changes.
	AccessInterval = api.AccessInterval
	// HistoryRevision is one committed write: its revision, its commit
	// time and its actor.
	HistoryRevision = api.HistoryRevision
	// HistoryVia is a role that gave a right during an interval.
	HistoryVia = api.HistoryVia
	// HistoryChange is the audit event of the change a revision was.
	HistoryChange = api.HistoryChange
)

// AsOf names a past state of an entity's policy: the one at Revision when it
// is positive, else the one in force at Time. The zero AsOf is now.
type AsOf struct {
	Time     time.Time
	Revision int64
}

// IsNow reports whether a is the zero AsOf.
func (a AsOf) IsNow() bool { return a.Revision == 0 && a.Time.IsZero() }

// At is a check's AsOf for the instant t (CheckRequest{AsOf: client.At(t)}).
func At(t time.Time) *string {
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// AtRevision is a check's AtRevision for revision n.
func AtRevision(n int64) *int64 { return &n }

// query adds as_of or at_revision to q.
func (a AsOf) query(q url.Values) {
	switch {
	case a.Revision != 0:
		q.Set("at_revision", strconv.FormatInt(a.Revision, 10))
	case !a.Time.IsZero():
		q.Set("as_of", a.Time.UTC().Format(time.RFC3339Nano))
	}
}

// UserPermissionsAt is UserPermissions as of at; it returns the revision the
// answer came from too.
func (c *Client) UserPermissionsAt(ctx context.Context, entity, user, scope string, at AsOf) (Permissions, int64, error) {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	at.query(q)
	var p Permissions
	res, err := c.call(ctx, request{method: "GET", path: userPath(entity, user) + "/permissions", query: q, idempotent: true}, &p)
	if err != nil {
		return Permissions{}, 0, err
	}
	return p, res.revision(), nil
}

// WhoCanOptions narrow a who-can question: Scope counts assignments inside
// it; Resource are the object's attributes (conditions read them); AsOf asks
// the past. ListOptions page (a PaginationToken carries the question, and
// the revision a past answer came from).
type WhoCanOptions struct {
	ListOptions
	Scope    string
	Resource map[string]any
	AsOf     AsOf
}

// WhoCan lists the users allowed action on objectType, by user id, with the
// roles that give it; it returns the revision the answer came from when
// asked as of the past (0 otherwise).
func (c *Client) WhoCan(ctx context.Context, entity, objectType, action string, o WhoCanOptions) (HolderPage, int64, error) {
	q := o.ListOptions.query()
	if o.PaginationToken == "" {
		q.Set("object_type", objectType)
		q.Set("action", action)
		if o.Scope != "" {
			q.Set("scope", o.Scope)
		}
		if len(o.Resource) > 0 {
			b, err := json.Marshal(o.Resource)
			if err != nil {
				return HolderPage{}, 0, err
			}
			q.Set("resource", string(b))
		}
		o.AsOf.query(q)
	}
	var out HolderPage
	res, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/who-can", query: q, idempotent: true}, &out)
	if err != nil {
		return HolderPage{}, 0, err
	}
	return out, res.revision(), nil
}

// AccessReportAt is the entity's access report (JSON, read whole) as of at
// (the zero AsOf: now).
func (c *Client) AccessReportAt(ctx context.Context, entity string, at AsOf) (AccessReport, error) {
	q := url.Values{}
	at.query(q)
	var out AccessReport
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/access-report", query: q, idempotent: true}, &out)
	return out, err
}

// HistoryQuery asks a user's access history: the intervals during which it
// could do Action on ObjectType (inside Scope too, when set) between From
// and To (zero: since the history begins, until now).
type HistoryQuery struct {
	ObjectType string
	Action     string
	Scope      string
	From, To   time.Time
}

// AccessHistory returns the intervals during which the user could do the
// query's action, oldest first: since when, through what, granted by whom.
func (c *Client) AccessHistory(ctx context.Context, entity, user string, h HistoryQuery) (AccessHistory, error) {
	q := url.Values{"object_type": {h.ObjectType}, "action": {h.Action}}
	if h.Scope != "" {
		q.Set("scope", h.Scope)
	}
	if !h.From.IsZero() {
		q.Set("from", h.From.UTC().Format(time.RFC3339Nano))
	}
	if !h.To.IsZero() {
		q.Set("to", h.To.UTC().Format(time.RFC3339Nano))
	}
	var out AccessHistory
	_, err := c.call(ctx, request{method: "GET", path: userPath(entity, user) + "/access-history", query: q, idempotent: true}, &out)
	return out, err
}

package handlers

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/changes"
)

// listChanges serves GET /v1/entities/{e}/changes?since&wait&limit: the
// changes feed (changes/feed.go), long-polling up to wait seconds.
func (a *api) listChanges(c *gin.Context) {
	q := c.Request.URL.Query()
	since, err := uintParam(q, "since", -1, math.MaxInt64)
	if err != nil {
		writeError(c, err)
		return
	}
	wait, err := uintParam(q, "wait", 0, int64(changes.MaxWait/time.Second))
	if err != nil {
		writeError(c, err)
		return
	}
	limit, err := uintParam(q, "limit", 100, changes.MaxLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	if limit < 1 {
		writeError(c, rolegate.Invalid("invalid_limit", "limit", "limit must be an integer from 1 to %d", changes.MaxLimit))
		return
	}
	ctx := c.Request.Context()
	page, err := a.svc.Changes(ctx, c.Param("entity"), changes.Query{Since: since, Limit: int(limit), Wait: time.Duration(wait) * time.Second})
	if err != nil {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			c.Abort() // the caller went away while waiting: nobody to answer
			return
		}
		writeError(c, err)
		return
	}
	out := wire.Changes{Data: make([]wire.Change, 0, len(page.Items)), Revision: page.Revision, HasMore: page.HasMore}
	for _, it := range page.Items {
		out.Data = append(out.Data, wire.Change{Revision: it.Revision, Type: it.Type, Op: it.Op,
			UserID: it.UserID, RoleID: it.RoleID, Scope: it.Scope})
	}
	c.Header("Cache-Control", "no-store")
	if page.Busy {
		// Too many calls wait already: this one answered at once; come back
		// in a moment rather than at once.
		c.Header("Retry-After", "1")
	}
	c.JSON(http.StatusOK, out)
}

// uintParam reads a query parameter that is a decimal integer from 0 to max
// (digits only), given at most once. def is its value when absent; -1 makes
// it required.
func uintParam(q url.Values, name string, def, max int64) (int64, error) {
	bad := func() error {
		return rolegate.Invalid("invalid_"+name, name, "%s must be an integer from 0 to %d, given once", name, max)
	}
	vs, ok := q[name]
	switch {
	case !ok && def < 0:
		return 0, rolegate.Invalid("invalid_"+name, name, "%s is required: the revision to list the changes after (0 for all)", name)
	case !ok:
		return def, nil
	case len(vs) != 1 || vs[0] == "" || len(vs[0]) > 19:
		return 0, bad()
	}
	for _, r := range vs[0] {
		if r < '0' || r > '9' {
			return 0, bad()
		}
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n > max {
		return 0, bad()
	}
	return n, nil
}

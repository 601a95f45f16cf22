package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/policy"
)

func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func auditEventOf(e policy.AuditEvent) wire.AuditEvent {
	return wire.AuditEvent{ID: e.ID, EntityID: e.EntityID, Time: timeString(e.Time), Actor: nullable(e.Actor),
		Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Before: rawOrNull(e.Before),
		After: rawOrNull(e.After), RequestID: nullable(e.RequestID)}
}

func auditCursor(e policy.AuditEvent) policy.Cursor {
	return policy.Cursor{Value: e.Time.UTC().Format(time.RFC3339Nano), ID: e.ID}
}

// listAuditEvents is GET /v1/entities/{e}/audit-events: newest first,
// filtered by object_type and actor.
func (a *api) listAuditEvents(c *gin.Context) {
	entity := c.Param("entity")
	q, tok, limit, err := pageRequest(c, "audit_events", entity)
	if err != nil {
		writeError(c, err)
		return
	}
	var f policy.AuditFilter
	if f.ObjectType, err = oneOf(q, "object_type", "", policy.AuditObjectTypes...); err != nil {
		writeError(c, err)
		return
	}
	f.Actor = q.Get("actor")
	if len(f.Actor) > 255 {
		writeError(c, rolegate.Invalid("invalid_actor", "actor", "actor must be at most 255 characters"))
		return
	}
	p := policy.Page{Limit: limit, Sort: "time", Desc: true}
	rows, next, prev, err := keyset("audit_events", entity, q, tok, p, func(p policy.Page) ([]policy.AuditEvent, error) {
		return a.svc.ListAuditEvents(c.Request.Context(), entity, f, p)
	}, auditCursor)
	if err != nil {
		writeError(c, err)
		return
	}
	out := wire.Page[wire.AuditEvent]{Data: make([]wire.AuditEvent, 0, len(rows)), NextPaginationToken: next, PrevPaginationToken: prev}
	for _, e := range rows {
		out.Data = append(out.Data, auditEventOf(e))
	}
	c.JSON(http.StatusOK, out)
}

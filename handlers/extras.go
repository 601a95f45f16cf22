package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate/policy"
)

// ---- who can ----

type viaJSON struct {
	RoleID   *string `json:"role_id"`
	RoleName *string `json:"role_name"`
	// Direct marks the user's own rights (granted without a role); role_id
	// and role_name are null then.
	Direct bool `json:"direct,omitempty"`
}

type holderJSON struct {
	UserID     string    `json:"user_id"`
	Permission string    `json:"permission"`
	Via        []viaJSON `json:"via"`
}

func viaOf(ms []policy.Match) []viaJSON {
	out := make([]viaJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, viaJSON{RoleID: nullable(m.RoleID), RoleName: nullable(m.RoleName), Direct: m.RoleID == ""})
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
	rows, next, _, err := keyset("who_can", entity, q, tok, policy.Page{Limit: limit, Sort: "id"},
		func(p policy.Page) ([]policy.Holder, error) {
			if p.Desc {
				return nil, invalidToken() // forward only
			}
			after := ""
			if p.After != nil {
				after = p.After.ID
			}
			return a.svc.WhoCan(c.Request.Context(), entity, q.Get("object_type"), q.Get("action"), q.Get("scope"), after, p.Limit)
		}, func(h policy.Holder) policy.Cursor { return policy.Cursor{Value: h.UserID, ID: h.UserID} })
	if err != nil {
		writeError(c, err)
		return
	}
	out := struct {
		Data                []holderJSON `json:"data"`
		NextPaginationToken *string      `json:"next_pagination_token"`
	}{Data: make([]holderJSON, 0, len(rows)), NextPaginationToken: next}
	for _, h := range rows {
		out.Data = append(out.Data, holderJSON{UserID: h.UserID, Permission: string(h.Permission), Via: viaOf(h.Via)})
	}
	c.JSON(http.StatusOK, out)
}

// ---- dry runs ----

type rightJSON struct {
	UserID     string  `json:"user_id"`
	Scope      *string `json:"scope,omitempty"`
	ObjectType string  `json:"object_type"`
	Action     string  `json:"action"`
	Permission string  `json:"permission"`
}

type dryRunJSON struct {
	DryRun bool        `json:"dry_run"`
	Gained []rightJSON `json:"gained"`
	Lost   []rightJSON `json:"lost"`
}

func rightsOf(rs []policy.Right) []rightJSON {
	out := make([]rightJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, rightJSON{UserID: r.UserID, Scope: nullable(r.Scope), ObjectType: r.ObjectType, Action: r.Action, Permission: string(r.Permission)})
	}
	return out
}

// dryRun reads ?dry_run: when true, the request's context makes the write a
// dry run, and the result is where the write leaves what it would change.
func dryRun(c *gin.Context) (*policy.DryRunResult, error) {
	b, err := boolParam(c.Request.URL.Query(), "dry_run")
	if err != nil || b == nil || !*b {
		return nil, err
	}
	ctx, res := policy.WithDryRun(c.Request.Context())
	c.Request = c.Request.WithContext(ctx)
	return res, nil
}

func writeDryRun(c *gin.Context, r *policy.DryRunResult) {
	c.JSON(http.StatusOK, dryRunJSON{DryRun: true, Gained: rightsOf(r.Gained), Lost: rightsOf(r.Lost)})
}

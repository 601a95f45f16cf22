// Package ginguard guards Gin routes with Rolegate checks: 403 on deny, 401
// without a subject, 503 when Rolegate cannot be asked, 500 when it refuses
// the check (a misconfiguration); never an allow on error.
//
//	r.GET("/payables/:id", ginguard.Require(rg, client.Rule{ObjectType: "payable", Action: "read", Subject: subject}), handler)
package ginguard

import (
	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/client"
)

// Require checks rule for each request through ch (a *client.Client or a
// *client.Cache); the handlers after it run only on an allow, and find the
// decision with client.DecisionFrom(c.Request.Context()). A check Rolegate
// refuses (misconfigured credentials or client) is a 500, logged and given
// to client.WithErrorHook; one it cannot answer a 503.
func Require(ch client.Checker, rule client.Rule, opts ...client.GuardOption) gin.HandlerFunc {
	g := client.NewGuard(ch, rule, opts...)
	return func(c *gin.Context) {
		o, d := g.Decide(c.Request)
		if o != client.Allow {
			client.Refuse(c.Writer, o)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(client.WithDecision(c.Request.Context(), d))
		c.Next()
	}
}

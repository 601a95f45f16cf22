// Package ginguard guards Gin routes with Rolegate checks: 403 on deny, 401
// without a subject, 503 when the check fails; never an allow on error.
//
//	r.GET("/payables/:id", ginguard.Require(rg, client.Rule{ObjectType: "payable", Action: "read", Subject: subject}), handler)
package ginguard

import (
	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/client"
)

// Require checks rule for each request through ch (a *client.Client or a
// *client.Cache); the handlers after it run only on an allow, and find the
// decision with client.DecisionFrom(c.Request.Context()).
func Require(ch client.Checker, rule client.Rule) gin.HandlerFunc {
	return func(c *gin.Context) {
		o, d, _ := client.Decide(c.Request.Context(), ch, rule, c.Request)
		if o != client.Allow {
			if o == client.Failed {
				c.Header("Retry-After", "1")
			}
			c.Data(client.StatusOf(o), "application/json", client.ErrorBody(o))
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(client.WithDecision(c.Request.Context(), d))
		c.Next()
	}
}

// Package ginguard guards Gin routes with Rolegate checks: 403 on deny, 401
// without a subject, 503 when Rolegate cannot be asked, 500 when it refuses
// the check (a misconfiguration); never an allow on error.
//
//	r.GET("/payables/:id", ginguard.Require(rg, client.Rule{ObjectType: "payable", Action: "read", Subject: subject}), handler)
//
// A rule of a conditional right sends the object's attributes with
// Resource, read from the Gin context:
//
//	rule := client.Rule{ObjectType: "payable", Action: "approve", Subject: subject,
//		Resource: ginguard.Resource(func(c *gin.Context) map[string]any {
//			p := payables.Get(c.Param("id"))
//			return map[string]any{"amount": p.Amount, "currency": p.Currency}
//		})}
package ginguard

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/client"
)

type ginKey struct{}

// Context returns the Gin context of a request Require is checking (nil for
// any other request): the rule's functions (Subject, Owner, Scope) read path
// parameters through it, e.g. ginguard.Context(r).Param("id").
func Context(r *http.Request) *gin.Context {
	c, _ := r.Context().Value(ginKey{}).(*gin.Context)
	return c
}

// Resource makes a client.Rule's Resource of f, which returns the attributes
// of the object the request is about (conditions read them as resource) from
// the Gin context. Outside Require it returns no attributes, so that a
// conditional allow does not count.
func Resource(f func(*gin.Context) map[string]any) func(*http.Request) map[string]any {
	return func(r *http.Request) map[string]any {
		c := Context(r)
		if c == nil {
			return nil
		}
		return f(c)
	}
}

// Require checks rule for each request through ch (a *client.Client or a
// *client.Cache); the handlers after it run only on an allow, and find the
// decision with client.DecisionFrom(c.Request.Context()). A check Rolegate
// refuses (misconfigured credentials or client) is a 500, logged and given
// to client.WithErrorHook; one it cannot answer a 503.
func Require(ch client.Checker, rule client.Rule, opts ...client.GuardOption) gin.HandlerFunc {
	g := client.NewGuard(ch, rule, opts...)
	return func(c *gin.Context) {
		o, d := g.Decide(c.Request.WithContext(context.WithValue(c.Request.Context(), ginKey{}, c)))
		if o != client.Allow {
			client.Refuse(c.Writer, o)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(client.WithDecision(c.Request.Context(), d))
		c.Next()
	}
}

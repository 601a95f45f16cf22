package handlers

import "github.com/gin-gonic/gin"

// While the server drains (after SIGTERM, before it shuts down), requests are
// still served, each answer with Connection: close so that no client sends
// another request on a connection about to be closed, and /readyz answers
// 503 so that load balancers stop sending new ones.

// closeWhileDraining marks every answer Connection: close once draining()
// holds; net/http then closes the connection after the answer.
func closeWhileDraining(draining func() bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if draining() {
			c.Header("Connection", "close")
		}
		c.Next()
	}
}

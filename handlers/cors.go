package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// CORS lets the browser pages of an explicit list of origins call the API.
// The API authenticates with a bearer token in Authorization, never with a
// cookie, so no answer carries Access-Control-Allow-Credentials and no origin
// is ever answered with "*": a page of another origin gets no CORS header at
// all, and its browser keeps the answer from it.
const (
	corsAllowMethods = "GET, POST, PUT, PATCH, DELETE"
	// What a page may send: the token, the body's type, the conditions of a
	// write and a request id of its own.
	corsAllowHeaders = "Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id"
	// What a page may read besides the simple headers: the revision to pass
	// back as min_revision, the ETag for If-Match, how long to wait on 429/503.
	corsExposeHeaders = "ETag, Retry-After, X-Rolegate-Revision, X-Request-Id, Location, Link, WWW-Authenticate"
	corsMaxAge        = "600"
)

// ParseCORSOrigins reads a comma-separated allow-list of origins
// (scheme://host[:port], as a browser sends them in Origin). "*", "null",
// a path or anything but http(s) is refused: the list names each origin.
func ParseCORSOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "/") {
			return nil, fmt.Errorf("%q is not an origin such as https://app.example.com (no \"*\", no path)", o)
		}
		out = append(out, strings.ToLower(o))
	}
	return out, nil
}

// cors answers preflights of allowed origins and marks their answers as
// readable by them; nil when no origin is allowed (CORS off).
func cors(origins []string) gin.HandlerFunc {
	if len(origins) == 0 {
		return nil
	}
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return func(c *gin.Context) {
		p := c.Request.URL.Path
		if p == "/console" || strings.HasPrefix(p, "/console/") || p == "/metrics" || strings.HasPrefix(p, "/debug/") {
			// Same-origin pages and operators' endpoints: never for other
			// origins.
			c.Next()
			return
		}
		c.Writer.Header().Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		if origin == "" || !allowed[strings.ToLower(origin)] {
			// Not ours to allow: no CORS header, and a preflight goes on to
			// the usual 404/405.
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		c.Next()
	}
}

package handlers

import (
	"strings"

	"github.com/gin-gonic/gin"
)

// registerFacades registers the compatible role APIs beside the native one:
// Dintero-style (dintero.go), Monite-style (monite.go) and Papershift-style
// JSON:API (papershift.go). Each is a thin encoding over the same Service; the
// codecs of rights are in dintero_codec.go, monite_codec.go and
// papershift_codec.go, what each shows of rights and how its writes keep the
// rest in facadeview.go and unseen.go.
func registerFacades(r *gin.Engine, a *api, d Deps) {
	registerDintero(r, a.svc, d.Auth)
	registerMonite(r, a.svc, d.Auth)
	registerPapershift(r, a.svc, d.Auth)
}

// apiKind is which of the APIs a path belongs to.
type apiKind int

const (
	kindNative     apiKind = iota
	kindDintero            // /v1/accounts/...
	kindMonite             // /v1/roles and /v1/roles/...
	kindPapershift         // /api/...
)

// apiOf says which API a path belongs to, by its prefix; a request's path or
// a route's (FullPath) alike. Every choice that depends on the API (error
// bodies, the entity header a facade names) is made by it.
func apiOf(path string) apiKind {
	switch {
	case strings.HasPrefix(path, "/v1/accounts/"):
		return kindDintero
	case path == "/v1/roles" || strings.HasPrefix(path, "/v1/roles/"):
		return kindMonite
	case strings.HasPrefix(path, "/api/"):
		return kindPapershift
	}
	return kindNative
}

// errorWriterFor picks the error body of the API a path belongs to, for
// answers given before a route's own handlers run (unknown routes, bodies
// over the limit).
func errorWriterFor(path string) func(*gin.Context, error) {
	if strings.HasSuffix(path, "/auth/token") {
		return tokenEndpointError // native, Monite's and Dintero's token endpoints
	}
	switch apiOf(path) {
	case kindDintero:
		return dinteroError
	case kindMonite:
		return moniteError
	case kindPapershift:
		return papershiftError
	}
	return writeError
}

// tokenEndpointError answers an error of the token endpoints that comes
// before them (such as a body over their limit) as RFC 6749 section 5.2 says.
func tokenEndpointError(c *gin.Context, err error) {
	status, e := classify(c, err)
	if status >= 500 {
		oauthError(c, status, "server_error", "try again")
		return
	}
	oauthError(c, status, "invalid_request", e.Message)
}

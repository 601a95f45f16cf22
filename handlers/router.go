// Package handlers is Rolegate's HTTP transport (Gin): routing, request
// decoding, the error body, authentication and the native API. It talks to
// policy's Service only.
package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/openapi"
	"github.com/rolegate/rolegate/policy"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// Authenticator turns a bearer token into the caller.
type Authenticator interface {
	Authenticate(token string) (auth.Actor, error)
}

// Deps is what the router needs.
type Deps struct {
	Service *policy.Service
	Auth    Authenticator
	Logger  *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// MaxBodyMemory bounds the bytes of the request bodies being read at
	// once (bodybudget.go); 0 means DefaultBodyMemory.
	MaxBodyMemory int64
	// Metrics, when set, receives the service's Prometheus metrics, served
	// without authentication on GET /metrics.
	Metrics *prometheus.Registry
	// Pprof mounts net/http/pprof under /debug/pprof, behind the bearer token.
	Pprof bool
	// Tokens issues API clients' tokens; nil serves no token endpoints.
	Tokens TokenIssuer
	// MetricsPublic serves /metrics without a token; otherwise it needs a
	// platform administrator's token (the bootstrap token, an admin client).
	MetricsPublic bool
	// RateLimits bounds each client's and each entity's calls (ratelimit.go);
	// the zero value limits nothing.
	RateLimits RateLimits
	// Limiter, when set, is used instead of one made from RateLimits: the
	// server shares it with its gRPC port (one budget per caller).
	Limiter *RateLimiter
	// TokenLimits ration the token endpoints' secret checks for failing
	// callers (auth.go); the zero value is the defaults.
	TokenLimits TokenLimits
	// MaxReports and MaxReportsPerEntity bound the access reports streamed
	// at once (reportslots.go); 0 is the default.
	MaxReports, MaxReportsPerEntity int
	// CORSOrigins are the origins whose browser pages may call the API
	// (cors.go); none: CORS is off.
	CORSOrigins []string
	// Draining reports whether the server is shutting down (drain.go):
	// answers then carry Connection: close and /readyz is 503. nil: never.
	Draining func() bool
}

type api struct {
	svc      *policy.Service
	log      *slog.Logger
	reports  *reportSlots
	draining func() bool
}

// NewRouter registers every route of the service in one place.
func NewRouter(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.MaxBodyMemory <= 0 {
		d.MaxBodyMemory = DefaultBodyMemory
	}
	if d.Draining == nil {
		d.Draining = func() bool { return false }
	}
	a := &api{svc: d.Service, log: d.Logger, reports: newReportSlots(d.MaxReports, d.MaxReportsPerEntity), draining: d.Draining}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// No route answers a redirect: a client that follows one resends the
	// method and the token to another path ("DELETE .../users/.." resolved
	// by a browser to ".../entities/e/", redirected to the entity itself).
	// A path that does not match is 404.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// Routes match the escaped path, so an id holding "/" is one segment
	// (%2F); unescapePathValues decodes the values (gin's own unescaping
	// would read "+" as a space).
	r.UseEscapedPath = true
	r.UnescapePathValues = false
	o := newOps(d)
	r.Use(closeWhileDraining(d.Draining), unescapePathValues, requestID(), accessLog(d.Logger), o.middleware())
	if cr := cors(d.CORSOrigins); cr != nil {
		r.Use(cr)
	}
	r.Use(recovery(), limitBody(d.MaxBodyBytes, d.MaxBodyMemory))
	lim := d.Limiter
	if lim == nil {
		lim = NewRateLimiter(d.RateLimits)
	}
	if lim != nil {
		r.Use(lim.rl.attach)
	}
	r.NoRoute(func(c *gin.Context) {
		errorWriterFor(c.Request.URL.Path)(c, rolegate.Errorf(rolegate.KindNotFound, "route_not_found", "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: errorInfo{Code: "method_not_allowed",
			Message: "method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path}})
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", a.ready)
	r.GET("/openapi.json", serveOpenAPI(d.Logger))
	registerConsole(r) // the admin console (console.go), not part of the API
	o.register(r, d)

	v1 := r.Group("/v1", authenticate(d.Auth, writeError), dryRunParam)
	v1.POST("/entities", a.createEntity)
	v1.GET("/entities", a.listEntities)
	v1.GET("/entities/:entity", a.getEntity)
	v1.DELETE("/entities/:entity", a.deleteEntity)

	v1.POST("/entities/:entity/roles", a.createRole)
	v1.GET("/entities/:entity/roles", a.listRoles)
	v1.GET("/entities/:entity/roles/:role", a.getRole)
	v1.PATCH("/entities/:entity/roles/:role", a.patchRole)
	v1.PUT("/entities/:entity/roles/:role", a.putRole)
	v1.DELETE("/entities/:entity/roles/:role", a.deleteRole)
	v1.GET("/entities/:entity/roles/:role/users", a.listRoleUsers)

	v1.POST("/entities/:entity/users", a.createUser)
	v1.POST("/entities/:entity/users/import", a.importUsers) // importRoute
	v1.GET("/entities/:entity/users", a.listUsers)
	v1.GET("/entities/:entity/users/:user", a.getUser)
	v1.PATCH("/entities/:entity/users/:user", a.patchUser)
	v1.DELETE("/entities/:entity/users/:user", a.deleteUser)
	v1.GET("/entities/:entity/users/:user/roles", a.listUserRoles)
	v1.PUT("/entities/:entity/users/:user/roles/:role", a.assignRole)
	v1.DELETE("/entities/:entity/users/:user/roles/:role", a.unassignRole)
	v1.GET("/entities/:entity/users/:user/permissions", a.userPermissions)
	v1.GET("/entities/:entity/audit-events", a.listAuditEvents)
	v1.GET("/entities/:entity/changes", a.listChanges)
	v1.GET("/entities/:entity/who-can", a.whoCan)
	v1.GET("/entities/:entity/access-report", a.accessReport)
	v1.GET("/entities/:entity/users/:user/access-history", a.accessHistory)
	registerConstraints(v1, a) // separation of duties (constraints.go)

	v1.POST("/check", a.check)
	v1.POST("/check/batch", a.checkBatch)
	v1.GET("/object-types", a.objectTypes)
	registerAuth(r, v1, a, d)

	registerFacades(r, a, d)
	return r
}

func (a *api) ready(c *gin.Context) {
	if a.draining() {
		// Not through writeError: a planned shutdown is not a failure to
		// log.
		c.Set(errorCodeKey, "shutting_down")
		c.Header("Retry-After", "1")
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, errorBody{Error: errorInfo{Code: "shutting_down", Message: "the server is shutting down"}})
		return
	}
	if err := a.svc.Ready(c.Request.Context()); err != nil {
		a.log.Warn("not ready: storage does not answer", "error", err)
		writeError(c, rolegate.Errorf(rolegate.KindUnavailable, "storage_unavailable", "storage does not answer"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// serveOpenAPI serves the OpenAPI document (api/openapi.yaml as JSON) without
// a token. The document is converted on first request, not at start (the
// conversion takes tens of milliseconds; start-up takes a few).
func serveOpenAPI(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		doc, err := openapi.JSON()
		if err != nil {
			log.Error("openapi document does not convert", "error", err)
			writeError(c, rolegate.Errorf(rolegate.KindInternal, "internal", "internal error"))
			return
		}
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", doc)
	}
}

func (a *api) objectTypes(c *gin.Context) {
	cat := a.svc.Catalog()
	if cat == nil {
		c.JSON(http.StatusOK, wire.ObjectTypes{Data: []wire.CatalogObject{}, Enforced: false})
		return
	}
	var data []wire.CatalogObject // as the catalog holds them: nil stays null
	if cat.ObjectTypes != nil {
		data = make([]wire.CatalogObject, 0, len(cat.ObjectTypes))
	}
	for _, o := range cat.ObjectTypes {
		data = append(data, wire.CatalogObject{ObjectType: o.ObjectType, Actions: o.Actions})
	}
	c.JSON(http.StatusOK, wire.ObjectTypes{Data: data, Enforced: true})
}

// authenticate requires a valid bearer token and puts the caller into the
// request's context; failures are answered by fail in the API's own body.
func authenticate(authn Authenticator, fail func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		// The scheme is case-insensitive (RFC 9110 11.1).
		token, ok := "", len(h) > 7 && strings.EqualFold(h[:7], "Bearer ")
		if ok {
			token = h[7:]
		}
		if !ok {
			fail(c, rolegate.Errorf(rolegate.KindUnauthenticated, "unauthenticated", "an Authorization: Bearer <token> header is required"))
			return
		}
		actor, err := authn.Authenticate(strings.TrimSpace(token))
		if err == nil && actor.ID == "" {
			// A caller without a name is nobody: the service refuses it
			// too, and internal calls are an explicit auth.InternalActor.
			err = rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is not valid")
		}
		if err != nil {
			fail(c, err)
			return
		}
		c.Request = c.Request.WithContext(auth.WithActor(c.Request.Context(), actor))
		if !limitRate(c) {
			return
		}
		// A caller bound to one entity finds nothing of another: 404 before
		// anything else is looked at (the service checks again).
		for _, p := range []string{"entity", "oid"} {
			if id := c.Param(p); id != "" && !boundTo(actor, id) {
				fail(c, policy.EntityNotFound(id))
				return
			}
		}
		c.Next()
	}
}

// unescapePathValues decodes the route's parameters, matched on the escaped
// path: "a%2Fb" is the id "a/b". The escaped path is always well-formed, so
// decoding does not fail.
func unescapePathValues(c *gin.Context) {
	for i, p := range c.Params {
		if v, err := url.PathUnescape(p.Value); err == nil {
			c.Params[i].Value = v
		}
	}
	c.Next()
}

// platformOnly lets only platform administrators through (metrics, pprof).
func platformOnly(c *gin.Context) {
	if a := auth.ActorFrom(c.Request.Context()); a.EntityID != "" || !a.Has(auth.ScopeAdmin) {
		writeError(c, rolegate.Errorf(rolegate.KindForbidden, "forbidden", "this call is for platform administrators"))
		return
	}
	c.Next()
}

// boundTo reports whether the caller may see entity id at all.
func boundTo(a auth.Actor, id string) bool { return a.EntityID == "" || a.EntityID == id }

const requestIDKey = "request_id"

// SaneRequestID reports whether id matches ^[A-Za-z0-9._:-]{1,128}$, the
// rule for a caller's request id on HTTP and gRPC (a loop: the regular
// expression cost a microsecond a request).
func SaneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestID takes the caller's X-Request-Id when it is sane, else makes one,
// and echoes it.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !SaneRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(requestIDKey, id)
		c.Request = c.Request.WithContext(policy.WithRequestID(c.Request.Context(), id))
		c.Header("X-Request-Id", id)
		c.Next()
	}
}

// accessLog logs one line per request; never headers or bodies.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		} else if c.Request.URL.Path != "/v1/check" && c.Request.URL.Path != "/v1/check/batch" {
			level = slog.LevelInfo
		}
		// Asked first: the line's attributes cost allocations even when
		// the level is off (checks log at debug).
		if !log.Enabled(c.Request.Context(), level) {
			return
		}
		log.Log(c.Request.Context(), level, "request", "method", c.Request.Method, "route", c.FullPath(),
			"status", status, "duration_ms", float64(time.Since(start).Microseconds())/1000,
			"request_id", c.GetString(requestIDKey))
	}
}

// recovery answers a panic with the error body; the panic is logged.
func recovery() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, rec any) {
		slog.Error("panic in handler", "panic", rec, "route", c.FullPath(), "request_id", c.GetString(requestIDKey))
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Error: errorInfo{Code: "internal", Message: "internal error"}})
	})
}

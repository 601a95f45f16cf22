package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/handlers/grpcapi"
	"github.com/rolegate/rolegate/policy"
)

// Config is every setting of the program, from flags and ROLEGATE_* variables.
type Config struct {
	Addr          string
	GRPCAddr      string // the gRPC API of checks (handlers/grpcapi); "": not served
	DatabaseURL   string
	AdminToken    string
	RoleTemplates string
	CatalogFile   string
	MaxEntities   int
	LogLevel      slog.Level
	LogFormat     string
	ShutdownGrace time.Duration
	Metrics       bool // serve /metrics
	MetricsPublic bool // serve /metrics without a token
	Pprof         bool // mount /debug/pprof behind the bearer token
	Fix           bool // doctor: repair what is found
	Tokens        TokenSettings

	// AdminTokenFile is where AdminToken was read from ("" when it was given
	// directly): a file keeps it off the command line (/proc/*/cmdline,
	// /debug/pprof/cmdline).
	AdminTokenFile string
	// adminTokenSource names where AdminToken came from, for the start-up
	// log ("" when none was given and the stored or a generated one is used).
	adminTokenSource string
	// Quotas bound what one entity may hold (0: the defaults).
	Quotas policy.Quotas
	// MaxConnections bounds the connections served at once; more wait to be
	// accepted.
	MaxConnections int
	// MaxConnectionsPerAddress bounds the connections held from one remote
	// address (0: no bound, for deployments behind a proxy).
	MaxConnectionsPerAddress int
	// BusyIdleTimeout is how long a connection may sit idle while three
	// quarters of MaxConnections are held.
	BusyIdleTimeout time.Duration
	// ReadTimeout bounds reading one request, body included.
	ReadTimeout time.Duration
	// MaxBodyMemory bounds the bytes of the request bodies read at once.
	MaxBodyMemory int64
	// GRPCCallTimeout bounds a unary gRPC call, its message included, and
	// the check and sending of one answer on a stream.
	GRPCCallTimeout time.Duration
	// GRPCStreamIdleTimeout is how long a gRPC stream may go without a
	// question before it is ended.
	GRPCStreamIdleTimeout time.Duration
	// GRPCMaxStreams bounds the gRPC streams of checks open at once.
	GRPCMaxStreams int

	RateLimitCheck    float64       // checks per second per client and per entity; 0: unlimited
	RateLimitManage   float64       // other calls per second per client and per entity; 0: unlimited
	ReadHeaderTimeout time.Duration // how long a client may take to send the request headers
	MaxHeaderBytes    int           // largest request header block

	RedisURL      string        // change notifications between instances; "" for none
	RedisChannel  string        // the pub/sub channel they travel on
	SweepInterval time.Duration // how often the revisions of held entities are compared with the store's
	// ExpirySweep is how often expired assignments are removed from the
	// store (checks stop counting them at their expiry already).
	ExpirySweep time.Duration
	// HistoryRetention is how long entities' history is kept (0: forever);
	// the history sweep removes what is older, every ExpirySweep.
	HistoryRetention time.Duration

	// SQLiteSynchronous is SQLite's synchronous mode (full, normal, extra):
	// how a commit waits for the disk (adapters.OpenOptions).
	SQLiteSynchronous string

	MaxChangeWaiters          int // long polls of the changes feed waiting at once
	MaxChangeWaitersPerEntity int // ... on one entity
	MaxChangeWaitersPerCaller int // ... on one entity by one caller (token subject)
	MaxReports                int // access reports streamed at once
	MaxReportsPerEntity       int // ... of one entity

	// CORSOrigins may call the API from browser pages; none: CORS is off.
	CORSOrigins []string
	// StoreTimeout bounds every store transaction (and so every sweep's):
	// past it the transaction rolls back and the caller gets 503
	// storage_unavailable. Below the HTTP write timeout (30 s), so that a
	// write never commits after its answer could no longer be sent.
	StoreTimeout time.Duration
	// DrainPeriod is how long, after SIGTERM, requests are still served
	// (with Connection: close, /readyz 503) before the server shuts down.
	DrainPeriod time.Duration

	templates []policy.RoleTemplate
	catalog   *policy.Catalog
	stderr    io.Writer
}

// serverFlags registers the settings of a server command (serve, migrate,
// doctor, keys) on fs, each with its default taken from its ROLEGATE_*
// variable (settings.go); the flags parsed, finish checks the result.
func serverFlags(fs *pflag.FlagSet, cmd string, getenv func(string) string, stderr io.Writer) (*Config, *settings) {
	f := &settings{fs: fs, getenv: getenv}
	c := &Config{stderr: stderr}
	f.boolean(&c.Metrics, "metrics", true, "serve Prometheus metrics on GET /metrics, to platform administrators' tokens")
	f.boolean(&c.MetricsPublic, "metrics-public", false, "serve /metrics without a token: only where the port is private")
	f.boolean(&c.Pprof, "pprof", false, "serve net/http/pprof under /debug/pprof, behind the admin token")
	f.str(&c.Addr, "addr", ":8080", "listen address")
	f.str(&c.GRPCAddr, "grpc-addr", "", "listen address of the gRPC API of checks (such as :9090); empty: not served")
	f.address(&c.DatabaseURL, "database-url", "sqlite://rolegate.db", "sqlite://<path>, postgres://... or mysql://...")
	f.secret(&c.AdminToken, "admin-token", "bootstrap bearer token with every right; generated on first start when unset")
	f.str(&c.AdminTokenFile, "admin-token-file", "", "file holding the admin token (one trailing newline is ignored); keeps it off the command line")
	f.str(&c.RoleTemplates, "role-templates", "", "JSON file of the system roles every new entity gets")
	f.str(&c.CatalogFile, "catalog", "", "JSON file of the object types and actions roles may name")
	f.address(&c.RedisURL, "redis-url", "", "redis://host:6379/0: tell other instances of every change over Redis pub/sub")
	f.str(&c.RedisChannel, "redis-channel", "rolegate:changes", "Redis pub/sub channel of the change notifications")
	// Checked settings: a refused value is reported after parsing, the first
	// in this order.
	typed(f, &c.Quotas.MaxRoles, "max-roles-per-entity", 0, integer[int64](0, math.MaxInt64, "is not a number >= 0 (0 is the default)"), "most active roles one entity may hold; 0 is the default, 10000")
	typed(f, &c.Quotas.MaxUsers, "max-users-per-entity", 0, integer[int64](0, math.MaxInt64, "is not a number >= 0 (0 is the default)"), "most users one entity may hold; 0 is the default, 1000000")
	typed(f, &c.Quotas.MaxRules, "max-rules-per-entity", 0, integer[int64](0, math.MaxInt64, "is not a number >= 0 (0 is the default)"), "most compiled rules (rights and assignments) one entity may hold; 0 is the default, 2000000")
	typed(f, &c.MaxChangeWaiters, "max-change-waiters", changes.DefaultMaxWaiters, integer[int](1, math.MaxInt, "is not a positive integer"), "most calls of the changes feed waiting for a write at once; more answer at once")
	typed(f, &c.MaxChangeWaitersPerEntity, "max-change-waiters-per-entity", changes.DefaultMaxWaitersPerEntity, integer[int](1, math.MaxInt, "is not a positive integer"), "most calls of the changes feed waiting on one entity at once")
	typed(f, &c.MaxChangeWaitersPerCaller, "max-change-waiters-per-caller", changes.DefaultMaxWaitersPerCaller, integer[int](1, math.MaxInt, "is not a positive integer"), "most calls of the changes feed one caller (client, user, admin token) may have waiting on one entity at once; more are 429")
	typed(f, &c.MaxReports, "max-reports", handlers.DefaultMaxReports, integer[int](1, math.MaxInt, "is not a positive integer"), "most access reports streamed at once; more are 503 server_busy")
	typed(f, &c.MaxReportsPerEntity, "max-reports-per-entity", handlers.DefaultMaxReportsPerEntity, integer[int](1, math.MaxInt, "is not a positive integer"), "most access reports of one entity streamed at once")
	typed(f, &c.MaxConnections, "max-connections", 10000, integer[int](1, math.MaxInt, "is not a positive integer"), "most connections served at once; more wait to be accepted")
	typed(f, &c.MaxConnectionsPerAddress, "max-connections-per-address", 1000, integer[int](0, math.MaxInt, "is not a number >= 0"), "most connections held from one remote address; 0 is no limit (behind a proxy)")
	typed(f, &c.BusyIdleTimeout, "busy-idle-timeout", 5*time.Second, duration(100*time.Millisecond, math.MaxInt64, "is not a duration of at least 100ms such as 5s"), "how long a connection may sit idle while three quarters of max-connections are held")
	typed(f, &c.ReadTimeout, "read-timeout", 10*time.Second, duration(1, math.MaxInt64, "is not a positive duration such as 10s"), "how long a client may take to send a whole request, body included")
	typed(f, &c.GRPCCallTimeout, "grpc-call-timeout", grpcapi.DefaultCallTimeout, duration(100*time.Millisecond, math.MaxInt64, "is not a duration of at least 100ms such as 30s"), "longest a unary gRPC call may take, its message included, and an answer on a stream may wait to be read")
	typed(f, &c.GRPCStreamIdleTimeout, "grpc-stream-idle-timeout", grpcapi.DefaultStreamIdle, duration(100*time.Millisecond, math.MaxInt64, "is not a duration of at least 100ms such as 2m"), "how long a gRPC stream of checks may go without a question before it is ended")
	typed(f, &c.GRPCMaxStreams, "grpc-max-streams", grpcapi.DefaultMaxOpenStreams, integer[int](1, math.MaxInt, "is not a positive integer"), "most gRPC streams of checks open at once; more are UNAVAILABLE server_busy")
	typed(f, &c.MaxEntities, "max-entities", 100000, integer[int](1, math.MaxInt, "is not a positive integer"), "most entities whose policy is held in memory")
	typed(f, &c.LogLevel, "log-level", slog.LevelInfo, logLevel, "debug, info, warn or error")
	typed(f, &c.LogFormat, "log-format", "text", oneOf("is not text or json", "text", "json"), "text or json")
	typed(f, &c.ShutdownGrace, "shutdown-grace", 15*time.Second, duration(0, math.MaxInt64, "is not a duration such as 15s"), "how long shutdown waits for requests in flight")
	tokenFlags(f, &c.Tokens)
	typed(f, &c.CORSOrigins, "cors-origins", nil, handlers.ParseCORSOrigins, "comma-separated origins (https://app.example.com) whose browser pages may call the API; none: CORS is off")
	typed(f, &c.RateLimitCheck, "rate-limit-check", 0, rate, "check requests per second per client and per entity; 0 is unlimited")
	typed(f, &c.RateLimitManage, "rate-limit-manage", 0, rate, "other authenticated requests per second per client and per entity; 0 is unlimited")
	typed(f, &c.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, duration(1, math.MaxInt64, "is not a positive duration such as 5s"), "how long a client may take to send the request headers")
	typed(f, &c.MaxBodyMemory, "max-body-memory", 64<<20, integer[int64](1<<20, math.MaxInt64, "is not a number of bytes of at least 1048576"), "bytes of request bodies read at once, by all requests together; past it a body is 503 server_busy")
	typed(f, &c.MaxHeaderBytes, "max-header-bytes", 64<<10, integer[int](1024, 1<<20, "is not a number of bytes from 1024 to 1048576"), "largest request header block in bytes; larger is 431")
	typed(f, &c.ExpirySweep, "expiry-sweep", time.Minute, duration(100*time.Millisecond, math.MaxInt64, "is not a duration of at least 100ms such as 1m"), "how often expired assignments are removed from the store, each with an assignment.expire audit event")
	typed(f, &c.HistoryRetention, "history-retention", 0, duration(0, math.MaxInt64, "is not a duration >= 0 such as 8760h (0 keeps history forever)"), "how long the history of entities' policies is kept for answers as of a past instant (0 is forever); older history is removed by a sweep, each entity swept with a history.sweep audit event")
	typed(f, &c.SQLiteSynchronous, "sqlite-synchronous", "full", oneOf("is not full, normal or extra", adapters.SQLiteSynchronousModes...), "SQLite only: full (a write acknowledged survives a power loss) or normal (faster commits; survives the process being killed, but the last writes acknowledged may be lost on a power loss), or extra")
	typed(f, &c.SweepInterval, "sweep-interval", 10*time.Second, duration(10*time.Millisecond, math.MaxInt64, "is not a duration of at least 10ms such as 10s"), "how often the revisions of the entities held are compared with the store's, reloading those that moved")
	typed(f, &c.StoreTimeout, "store-timeout", 10*time.Second, duration(100*time.Millisecond, 25*time.Second, "is not a duration from 100ms to 25s (below the 30 s HTTP write timeout)"), "longest a store transaction may take; past it it rolls back and the request is 503 storage_unavailable")
	typed(f, &c.DrainPeriod, "drain-period", 5*time.Second, duration(0, 10*time.Minute, "is not a duration from 0s to 10m such as 5s"), "after SIGTERM, how long requests are still served (with Connection: close, /readyz 503) before shutdown")
	if cmd == "doctor" {
		fs.BoolVar(&c.Fix, "fix", false, "repair the rules of inconsistent entities from their role, user and assignment rows")
	}
	return c, f
}

// loadConfig reads the variables, then the flags (which win), into typed
// values, and checks the result: the settings of command cmd as its cobra
// command reads them, without the command.
func loadConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := pflag.NewFlagSet("rolegate "+cmd, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	c, f := serverFlags(fs, cmd, getenv, stderr)
	if f.envErr != nil {
		return *c, f.envErr
	}
	if err := fs.Parse(singleDash(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return *c, ErrUsage
		}
		return *c, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return *c, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return *c, c.finish(f, getenv, stderr)
}

// finish checks the settings once the flags are parsed, and reads the files
// they name.
func (c *Config) finish(f *settings, getenv func(string) string, stderr io.Writer) error {
	fs := f.fs
	if f.envErr != nil {
		return f.envErr
	}
	if err := c.readAdminToken(); err != nil {
		return err
	}
	switch {
	case c.AdminTokenFile != "":
		c.adminTokenSource = "file " + c.AdminTokenFile
	case c.AdminToken != "" && getenv("ROLEGATE_ADMIN_TOKEN") != "":
		c.adminTokenSource = "ROLEGATE_ADMIN_TOKEN"
	}
	fs.Visit(func(given *pflag.Flag) {
		if given.Name == "admin-token" {
			c.adminTokenSource = "-admin-token"
			fmt.Fprintln(stderr, "rolegate: warning: -admin-token shows the token to every local user (/proc/*/cmdline) and in /debug/pprof/cmdline; prefer -admin-token-file or ROLEGATE_ADMIN_TOKEN_FILE")
		}
		if given.Name == "admin-token-file" {
			c.adminTokenSource = "file " + c.AdminTokenFile
		}
	})
	if err := f.refused(); err != nil {
		return err
	}
	if err := c.Tokens.check(); err != nil {
		return err
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return fmt.Errorf("redis-url: %q is not a URL such as redis://127.0.0.1:6379/0", adapters.RedactURL(c.RedisURL))
	}
	if c.RedisChannel == "" {
		return errors.New("redis-channel: must not be empty")
	}
	if c.DatabaseURL == "" || !strings.Contains(c.DatabaseURL, "://") {
		return fmt.Errorf("database-url: %q is not a URL such as sqlite://rolegate.db", c.DatabaseURL)
	}
	if c.CatalogFile != "" {
		data, err := os.ReadFile(c.CatalogFile)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if c.catalog, err = policy.ParseCatalog(data); err != nil {
			return err
		}
	}
	if c.RoleTemplates != "" {
		data, err := os.ReadFile(c.RoleTemplates)
		if err != nil {
			return fmt.Errorf("role templates: %w", err)
		}
		if c.templates, err = policy.ParseTemplates(data, c.catalog); err != nil {
			return err
		}
	} else if c.catalog != nil {
		if err := policy.ValidateTemplates(policy.DefaultTemplates(), c.catalog); err != nil {
			return fmt.Errorf("default role templates do not fit the catalog: %w", err)
		}
	}
	return nil
}

// MinAdminTokenLen is the shortest admin token accepted: 32 characters, such
// as 16 random bytes in hex; a generated token has 43 of base64 after "rg_".
const MinAdminTokenLen = 32

// readAdminToken reads the admin token from its file when one is named, and
// refuses a token an attacker could guess: shorter than MinAdminTokenLen, or
// holding spaces or control characters (a mangled copy). Unset is fine: one is
// generated.
func (c *Config) readAdminToken() error {
	if c.AdminTokenFile != "" {
		if c.AdminToken != "" {
			return errors.New("admin token: set either ROLEGATE_ADMIN_TOKEN (-admin-token) or ROLEGATE_ADMIN_TOKEN_FILE (-admin-token-file), not both")
		}
		data, err := os.ReadFile(c.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("admin token file: %w", err)
		}
		token := strings.TrimSuffix(string(data), "\n")
		token = strings.TrimSuffix(token, "\r")
		if token == "" {
			return fmt.Errorf("admin token file %s is empty", c.AdminTokenFile)
		}
		c.AdminToken = token
	}
	if c.AdminToken == "" {
		return nil
	}
	if len(c.AdminToken) < MinAdminTokenLen {
		return fmt.Errorf("admin token: %d characters is too short to resist guessing; use at least %d, such as the output of openssl rand -hex 32", len(c.AdminToken), MinAdminTokenLen)
	}
	for _, r := range c.AdminToken {
		if r <= ' ' || r == 0x7f {
			return errors.New("admin token: must not hold spaces, newlines or control characters")
		}
	}
	if strings.Count(c.AdminToken, ".") == 2 {
		// Bearer tokens with two dots are read as JWTs: this one would
		// never be taken for the admin token.
		return errors.New("admin token: must not hold exactly two dots (it would be read as a JWT)")
	}
	return nil
}

func (c Config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

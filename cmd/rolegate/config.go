package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate/policy"
)

// Config is every setting of the program, from flags and ROLEGATE_* variables.
type Config struct {
	Addr          string
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
	// Quotas bound what one entity may hold (0: the defaults).
	Quotas policy.Quotas
	// MaxConnections bounds the connections served at once; more wait to be
	// accepted.
	MaxConnections int
	// ReadTimeout bounds reading one request, body included.
	ReadTimeout time.Duration
	// MaxBodyMemory bounds the bytes of the request bodies read at once.
	MaxBodyMemory int64

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

	MaxChangeWaiters          int // long polls of the changes feed waiting at once
	MaxChangeWaitersPerEntity int // ... on one entity

	templates []policy.RoleTemplate
	catalog   *policy.Catalog
	stderr    io.Writer
}

// loadConfig reads the variables, then the flags (which win), and checks
// the result.
func loadConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("rolegate "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := Config{stderr: stderr}
	var maxEntities, logLevel, grace string
	var rateCheck, rateManage, headerTimeout, headerBytes, sweep, expirySweep string
	var maxRoles, maxUsers, maxRules, maxConns, readTimeout, bodyMemory string
	var maxWaiters, maxWaitersPerEntity string
	metrics, err := envBool(getenv, "ROLEGATE_METRICS", true)
	if err != nil {
		return c, err
	}
	metricsPublic, err := envBool(getenv, "ROLEGATE_METRICS_PUBLIC", false)
	if err != nil {
		return c, err
	}
	pprof, err := envBool(getenv, "ROLEGATE_PPROF", false)
	if err != nil {
		return c, err
	}
	fs.StringVar(&c.Addr, "addr", env("ROLEGATE_ADDR", ":8080"), "listen address (ROLEGATE_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("ROLEGATE_DATABASE_URL", "sqlite://rolegate.db"), "sqlite://<path>, postgres://... or mysql://... (ROLEGATE_DATABASE_URL)")
	fs.StringVar(&c.AdminToken, "admin-token", env("ROLEGATE_ADMIN_TOKEN", ""), "bootstrap bearer token with every right; generated on first start when unset (ROLEGATE_ADMIN_TOKEN)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", env("ROLEGATE_ADMIN_TOKEN_FILE", ""), "file holding the admin token (one trailing newline is ignored); keeps it off the command line (ROLEGATE_ADMIN_TOKEN_FILE)")
	fs.StringVar(&c.RoleTemplates, "role-templates", env("ROLEGATE_ROLE_TEMPLATES", ""), "JSON file of the system roles every new entity gets (ROLEGATE_ROLE_TEMPLATES)")
	fs.StringVar(&c.CatalogFile, "catalog", env("ROLEGATE_CATALOG", ""), "JSON file of the object types and actions roles may name (ROLEGATE_CATALOG)")
	fs.StringVar(&maxEntities, "max-entities", env("ROLEGATE_MAX_ENTITIES", "100000"), "most entities whose policy is held in memory (ROLEGATE_MAX_ENTITIES)")
	fs.StringVar(&logLevel, "log-level", env("ROLEGATE_LOG_LEVEL", "info"), "debug, info, warn or error (ROLEGATE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("ROLEGATE_LOG_FORMAT", "text"), "text or json (ROLEGATE_LOG_FORMAT)")
	fs.StringVar(&grace, "shutdown-grace", env("ROLEGATE_SHUTDOWN_GRACE", "15s"), "how long shutdown waits for requests in flight (ROLEGATE_SHUTDOWN_GRACE)")
	fs.StringVar(&rateCheck, "rate-limit-check", env("ROLEGATE_RATE_LIMIT_CHECK", "0"), "check requests per second per client and per entity; 0 is unlimited (ROLEGATE_RATE_LIMIT_CHECK)")
	fs.StringVar(&rateManage, "rate-limit-manage", env("ROLEGATE_RATE_LIMIT_MANAGE", "0"), "other authenticated requests per second per client and per entity; 0 is unlimited (ROLEGATE_RATE_LIMIT_MANAGE)")
	fs.StringVar(&headerTimeout, "read-header-timeout", env("ROLEGATE_READ_HEADER_TIMEOUT", "5s"), "how long a client may take to send the request headers (ROLEGATE_READ_HEADER_TIMEOUT)")
	fs.StringVar(&headerBytes, "max-header-bytes", env("ROLEGATE_MAX_HEADER_BYTES", "65536"), "largest request header block in bytes; larger is 431 (ROLEGATE_MAX_HEADER_BYTES)")
	fs.StringVar(&c.RedisURL, "redis-url", env("ROLEGATE_REDIS_URL", ""), "redis://host:6379/0: tell other instances of every change over Redis pub/sub (ROLEGATE_REDIS_URL)")
	fs.StringVar(&c.RedisChannel, "redis-channel", env("ROLEGATE_REDIS_CHANNEL", "rolegate:changes"), "Redis pub/sub channel of the change notifications (ROLEGATE_REDIS_CHANNEL)")
	fs.StringVar(&expirySweep, "expiry-sweep", env("ROLEGATE_EXPIRY_SWEEP", "1m"), "how often expired assignments are removed from the store, each with an assignment.expire audit event (ROLEGATE_EXPIRY_SWEEP)")
	fs.StringVar(&sweep, "sweep-interval", env("ROLEGATE_SWEEP_INTERVAL", "10s"), "how often the revisions of the entities held are compared with the store's, reloading those that moved (ROLEGATE_SWEEP_INTERVAL)")
	fs.BoolVar(&c.Metrics, "metrics", metrics, "serve Prometheus metrics on GET /metrics, to platform administrators' tokens (ROLEGATE_METRICS)")
	fs.BoolVar(&c.MetricsPublic, "metrics-public", metricsPublic, "serve /metrics without a token: only where the port is private (ROLEGATE_METRICS_PUBLIC)")
	fs.BoolVar(&c.Pprof, "pprof", pprof, "serve net/http/pprof under /debug/pprof, behind the admin token (ROLEGATE_PPROF)")
	fs.StringVar(&maxRoles, "max-roles-per-entity", env("ROLEGATE_MAX_ROLES_PER_ENTITY", "0"), "most active roles one entity may hold; 0 is the default, 10000 (ROLEGATE_MAX_ROLES_PER_ENTITY)")
	fs.StringVar(&maxUsers, "max-users-per-entity", env("ROLEGATE_MAX_USERS_PER_ENTITY", "0"), "most users one entity may hold; 0 is the default, 1000000 (ROLEGATE_MAX_USERS_PER_ENTITY)")
	fs.StringVar(&maxRules, "max-rules-per-entity", env("ROLEGATE_MAX_RULES_PER_ENTITY", "0"), "most compiled rules (rights and assignments) one entity may hold; 0 is the default, 2000000 (ROLEGATE_MAX_RULES_PER_ENTITY)")
	fs.StringVar(&maxConns, "max-connections", env("ROLEGATE_MAX_CONNECTIONS", "10000"), "most connections served at once; more wait to be accepted (ROLEGATE_MAX_CONNECTIONS)")
	fs.StringVar(&bodyMemory, "max-body-memory", env("ROLEGATE_MAX_BODY_MEMORY", "67108864"), "bytes of request bodies read at once, by all requests together; past it a body is 503 server_busy (ROLEGATE_MAX_BODY_MEMORY)")
	fs.StringVar(&readTimeout, "read-timeout", env("ROLEGATE_READ_TIMEOUT", "10s"), "how long a client may take to send a whole request, body included (ROLEGATE_READ_TIMEOUT)")
	fs.StringVar(&maxWaiters, "max-change-waiters", env("ROLEGATE_MAX_CHANGE_WAITERS", strconv.Itoa(policy.DefaultMaxChangeWaiters)), "most calls of the changes feed waiting for a write at once; more answer at once (ROLEGATE_MAX_CHANGE_WAITERS)")
	fs.StringVar(&maxWaitersPerEntity, "max-change-waiters-per-entity", env("ROLEGATE_MAX_CHANGE_WAITERS_PER_ENTITY", strconv.Itoa(policy.DefaultMaxChangeWaitersPerEntity)), "most calls of the changes feed waiting on one entity at once (ROLEGATE_MAX_CHANGE_WAITERS_PER_ENTITY)")
	tokenFlags(fs, env, &c.Tokens)
	if cmd == "doctor" {
		fs.BoolVar(&c.Fix, "fix", false, "repair the rules of inconsistent entities from their role, user and assignment rows")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, errUsage
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := c.readAdminToken(); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "admin-token" {
			fmt.Fprintln(stderr, "rolegate: warning: -admin-token shows the token to every local user (/proc/*/cmdline) and in /debug/pprof/cmdline; prefer -admin-token-file or ROLEGATE_ADMIN_TOKEN_FILE")
		}
	})
	for _, q := range []struct {
		name, value string
		dst         *int64
	}{{"max-roles-per-entity", maxRoles, &c.Quotas.MaxRoles}, {"max-users-per-entity", maxUsers, &c.Quotas.MaxUsers}, {"max-rules-per-entity", maxRules, &c.Quotas.MaxRules}} {
		if *q.dst, err = strconv.ParseInt(q.value, 10, 64); err != nil || *q.dst < 0 {
			return c, fmt.Errorf("%s: %q is not a number >= 0 (0 is the default)", q.name, q.value)
		}
	}
	if c.MaxChangeWaiters, err = strconv.Atoi(maxWaiters); err != nil || c.MaxChangeWaiters < 1 {
		return c, fmt.Errorf("max-change-waiters: %q is not a positive integer", maxWaiters)
	}
	if c.MaxChangeWaitersPerEntity, err = strconv.Atoi(maxWaitersPerEntity); err != nil || c.MaxChangeWaitersPerEntity < 1 {
		return c, fmt.Errorf("max-change-waiters-per-entity: %q is not a positive integer", maxWaitersPerEntity)
	}
	if c.MaxConnections, err = strconv.Atoi(maxConns); err != nil || c.MaxConnections < 1 {
		return c, fmt.Errorf("max-connections: %q is not a positive integer", maxConns)
	}
	if c.ReadTimeout, err = time.ParseDuration(readTimeout); err != nil || c.ReadTimeout <= 0 {
		return c, fmt.Errorf("read-timeout: %q is not a positive duration such as 10s", readTimeout)
	}
	if c.MaxEntities, err = strconv.Atoi(maxEntities); err != nil || c.MaxEntities < 1 {
		return c, fmt.Errorf("max-entities: %q is not a positive integer", maxEntities)
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, fmt.Errorf("log-level: %q is not debug, info, warn or error", logLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("log-format: %q is not text or json", c.LogFormat)
	}
	if c.ShutdownGrace, err = time.ParseDuration(grace); err != nil || c.ShutdownGrace < 0 {
		return c, fmt.Errorf("shutdown-grace: %q is not a duration such as 15s", grace)
	}
	if err := c.Tokens.check(); err != nil {
		return c, err
	}
	if c.RateLimitCheck, err = parseRate(rateCheck); err != nil {
		return c, fmt.Errorf("rate-limit-check: %w", err)
	}
	if c.RateLimitManage, err = parseRate(rateManage); err != nil {
		return c, fmt.Errorf("rate-limit-manage: %w", err)
	}
	if c.ReadHeaderTimeout, err = time.ParseDuration(headerTimeout); err != nil || c.ReadHeaderTimeout <= 0 {
		return c, fmt.Errorf("read-header-timeout: %q is not a positive duration such as 5s", headerTimeout)
	}
	if c.MaxBodyMemory, err = strconv.ParseInt(bodyMemory, 10, 64); err != nil || c.MaxBodyMemory < 1<<20 {
		return c, fmt.Errorf("max-body-memory: %q is not a number of bytes of at least 1048576", bodyMemory)
	}
	if c.MaxHeaderBytes, err = strconv.Atoi(headerBytes); err != nil || c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		return c, fmt.Errorf("max-header-bytes: %q is not a number of bytes from 1024 to 1048576", headerBytes)
	}
	if c.ExpirySweep, err = time.ParseDuration(expirySweep); err != nil || c.ExpirySweep < 100*time.Millisecond {
		return c, fmt.Errorf("expiry-sweep: %q is not a duration of at least 100ms such as 1m", expirySweep)
	}
	if c.SweepInterval, err = time.ParseDuration(sweep); err != nil || c.SweepInterval < 10*time.Millisecond {
		return c, fmt.Errorf("sweep-interval: %q is not a duration of at least 10ms such as 10s", sweep)
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return c, fmt.Errorf("redis-url: %q is not a URL such as redis://127.0.0.1:6379/0", redact(c.RedisURL))
	}
	if c.RedisChannel == "" {
		return c, errors.New("redis-channel: must not be empty")
	}
	if c.DatabaseURL == "" || !strings.Contains(c.DatabaseURL, "://") {
		return c, fmt.Errorf("database-url: %q is not a URL such as sqlite://rolegate.db", c.DatabaseURL)
	}
	if c.CatalogFile != "" {
		data, err := os.ReadFile(c.CatalogFile)
		if err != nil {
			return c, fmt.Errorf("catalog: %w", err)
		}
		if c.catalog, err = policy.ParseCatalog(data); err != nil {
			return c, err
		}
	}
	if c.RoleTemplates != "" {
		data, err := os.ReadFile(c.RoleTemplates)
		if err != nil {
			return c, fmt.Errorf("role templates: %w", err)
		}
		if c.templates, err = policy.ParseTemplates(data, c.catalog); err != nil {
			return c, err
		}
	} else if c.catalog != nil {
		if err := policy.ValidateTemplates(policy.DefaultTemplates(), c.catalog); err != nil {
			return c, fmt.Errorf("default role templates do not fit the catalog: %w", err)
		}
	}
	return c, nil
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

// parseRate reads a rate in requests per second: a number >= 0, 0 unlimited.
func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, fmt.Errorf("%q is not a number of requests per second (0 is unlimited)", s)
	}
	return r, nil
}

// envBool reads a boolean variable (true/false, 1/0, ...); def when unset.
func envBool(getenv func(string) string, name string, def bool) (bool, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("%s: %q is not true or false", name, v)
	}
	return b, nil
}

func (c Config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redact hides the password of a database URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

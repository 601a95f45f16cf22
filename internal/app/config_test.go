package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/policy"
)

func TestConfigFlagsWinOverVariables(t *testing.T) {
	env := map[string]string{"ROLEGATE_ADDR": ":9999", "ROLEGATE_MAX_ENTITIES": "50", "ROLEGATE_LOG_LEVEL": "debug"}
	c, err := loadConfig("serve", []string{"-addr", "127.0.0.1:7000"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.MaxEntities != 50 || c.LogLevel.String() != "DEBUG" || c.DatabaseURL != "sqlite://rolegate.db" ||
		c.MaxChangeWaiters != 1000 || c.MaxChangeWaitersPerEntity != 100 || c.MaxChangeWaitersPerCaller != 25 {
		t.Fatalf("config: %+v", c)
	}
	for _, bad := range [][]string{{"-max-entities", "0"}, {"-log-level", "loud"}, {"-log-format", "xml"}, {"-database-url", "rolegate.db"}, {"-nope"}, {"extra"}, {"-catalog", "/does/not/exist"},
		{"-max-change-waiters", "0"}, {"-max-change-waiters-per-entity", "-1"}, {"-max-change-waiters", "many"}, {"-max-change-waiters-per-caller", "0"}} {
		if _, err := loadConfig("serve", bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := Run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}

// TestRateLimitAndServerConfig: rate limits, the read-header timeout and
// the header size limit are flags and variables; bad values are refused.
func TestRateLimitAndServerConfig(t *testing.T) {
	env := map[string]string{"ROLEGATE_RATE_LIMIT_CHECK": "100", "ROLEGATE_RATE_LIMIT_MANAGE": "2.5", "ROLEGATE_READ_HEADER_TIMEOUT": "2s", "ROLEGATE_MAX_HEADER_BYTES": "4096",
		"ROLEGATE_MAX_BODY_MEMORY": "8388608"}
	c, err := loadConfig("serve", []string{"-rate-limit-check", "50"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimitCheck != 50 || c.RateLimitManage != 2.5 || c.ReadHeaderTimeout != 2*time.Second || c.MaxHeaderBytes != 4096 || c.MaxBodyMemory != 8<<20 {
		t.Fatalf("config: %+v", c)
	}
	c, err = loadConfig("serve", nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.RateLimitCheck != 0 || c.RateLimitManage != 0 || c.ReadHeaderTimeout != 5*time.Second || c.MaxHeaderBytes != 64<<10 || c.MaxBodyMemory != 64<<20 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"-rate-limit-check", "-1"}, {"-rate-limit-manage", "lots"}, {"-rate-limit-check", "NaN"},
		{"-rate-limit-manage", "+Inf"}, {"-read-header-timeout", "0s"}, {"-read-header-timeout", "5"}, {"-max-header-bytes", "100"},
		{"-max-header-bytes", "x"}, {"-max-body-memory", "1000"}, {"-max-body-memory", "64MiB"}} {
		if _, err := loadConfig("serve", bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestConfigTypedSettings: every setting is read once into its typed field,
// from the variable named after its flag, the flag winning; refused values
// are reported with the setting's name, the value and what it should be (exit
// 1), while a flag the flag package cannot read is a usage error (exit 2).
func TestConfigTypedSettings(t *testing.T) {
	none := func(string) string { return "" }
	c, err := loadConfig("serve", nil, none, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens.TTL != 15*time.Minute || strings.Join(c.Tokens.Algorithms, ",") != "RS256,ES256" || c.Tokens.FailureCPU != 0.1 ||
		c.Tokens.FailuresPerAddress != 0.5 || c.LogLevel != slog.LevelInfo || c.LogFormat != "text" || c.ShutdownGrace != 15*time.Second ||
		c.ExpirySweep != time.Minute || c.MaxConnections != 10000 || c.ReadTimeout != 10*time.Second || c.MaxEntities != 100000 ||
		c.Quotas != (policy.Quotas{}) || !c.Metrics || c.MetricsPublic || c.Pprof || c.Tokens.UserClaim != "sub" || c.Tokens.EntityClaim != "entity_id" {
		t.Fatalf("defaults: %+v", c)
	}
	env := map[string]string{"ROLEGATE_TOKEN_TTL": "1h", "ROLEGATE_JWT_ALGORITHMS": " ES256, ,EdDSA", "ROLEGATE_TOKEN_FAILURE_CPU": "2.5",
		"ROLEGATE_MAX_ROLES_PER_ENTITY": "7", "ROLEGATE_MAX_USERS_PER_ENTITY": "8", "ROLEGATE_MAX_RULES_PER_ENTITY": "9", "ROLEGATE_LOG_LEVEL": "warn",
		"ROLEGATE_LOG_FORMAT": "json", "ROLEGATE_SHUTDOWN_GRACE": "0s", "ROLEGATE_EXPIRY_SWEEP": "100ms", "ROLEGATE_METRICS": "false",
		"ROLEGATE_PPROF": "1", "ROLEGATE_MAX_ENTITIES": "abc"}
	c, err = loadConfig("serve", []string{"-max-entities", "3", "-metrics=true", "-token-ttl", "24h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens.TTL != 24*time.Hour || strings.Join(c.Tokens.Algorithms, ",") != "ES256,EdDSA" || c.Tokens.FailureCPU != 2.5 ||
		c.Quotas != (policy.Quotas{MaxRoles: 7, MaxUsers: 8, MaxRules: 9}) || c.LogLevel != slog.LevelWarn || c.LogFormat != "json" ||
		c.ShutdownGrace != 0 || c.ExpirySweep != 100*time.Millisecond || !c.Metrics || !c.Pprof || c.MaxEntities != 3 {
		t.Fatalf("from variables and flags (a refused variable replaced by its flag): %+v", c)
	}

	for _, bad := range []struct {
		env  map[string]string
		args []string
		want string // the whole message; "" for a usage error
	}{
		{map[string]string{"ROLEGATE_MAX_ENTITIES": "abc"}, nil, `max-entities: "abc" is not a positive integer`},
		{nil, []string{"-max-entities", "abc"}, `max-entities: "abc" is not a positive integer`},
		{nil, []string{"-max-entities", "0x10"}, `max-entities: "0x10" is not a positive integer`},
		{map[string]string{"ROLEGATE_METRICS": "maybe"}, []string{"-metrics=false"}, `ROLEGATE_METRICS: "maybe" is not true or false`},
		{map[string]string{"ROLEGATE_PPROF": "yes"}, nil, `ROLEGATE_PPROF: "yes" is not true or false`},
		{nil, []string{"-metrics=maybe"}, ""},
		{nil, []string{"-max-entities"}, ""},
		{nil, []string{"-max-roles-per-entity", "-1"}, `max-roles-per-entity: "-1" is not a number >= 0 (0 is the default)`},
		{nil, []string{"-log-level", "loud"}, `log-level: "loud" is not debug, info, warn or error`},
		{map[string]string{"ROLEGATE_LOG_FORMAT": "xml"}, nil, `log-format: "xml" is not text or json`},
		{nil, []string{"-shutdown-grace", "-1s"}, `shutdown-grace: "-1s" is not a duration such as 15s`},
		{map[string]string{"ROLEGATE_TOKEN_TTL": "30s"}, nil, `token-ttl: "30s" is not a duration from 1m to 24h`},
		{nil, []string{"-token-failure-cpu", "0"}, `token-failure-cpu: "0" is not a positive number`},
		{nil, []string{"-token-failures-per-address", "Inf"}, `token-failures-per-address: "Inf" is not a positive number`},
		{nil, []string{"-jwt-algorithms", "RS256,HS256"}, `jwt-algorithms: "HS256" is not an asymmetric algorithm Rolegate accepts (RS*, PS*, ES*, EdDSA)`},
		{nil, []string{"-jwks-url", "https://idp.example/jwks", "-jwt-issuer", "i", "-jwt-audience", "a", "-jwt-algorithms", ""}, `jwt-algorithms: name at least one`},
		{nil, []string{"-rate-limit-check", "NaN"}, `rate-limit-check: "NaN" is not a number of requests per second (0 is unlimited)`},
		{nil, []string{"-read-header-timeout", "0s"}, `read-header-timeout: "0s" is not a positive duration such as 5s`},
		{nil, []string{"-read-timeout", "0"}, `read-timeout: "0" is not a positive duration such as 10s`},
		{nil, []string{"-max-body-memory", "1048575"}, `max-body-memory: "1048575" is not a number of bytes of at least 1048576`},
		{nil, []string{"-max-header-bytes", "2097152"}, `max-header-bytes: "2097152" is not a number of bytes from 1024 to 1048576`},
		{nil, []string{"-expiry-sweep", "10ms"}, `expiry-sweep: "10ms" is not a duration of at least 100ms such as 1m`},
		{nil, []string{"-sweep-interval", "1ms"}, `sweep-interval: "1ms" is not a duration of at least 10ms such as 10s`},
		{nil, []string{"-max-connections", "0"}, `max-connections: "0" is not a positive integer`},
		{nil, []string{"-max-change-waiters-per-entity", "x"}, `max-change-waiters-per-entity: "x" is not a positive integer`},
		{nil, []string{"-redis-url", "http://u:s3cret@r:6379"}, `redis-url: "http://u:xxxxx@r:6379" is not a URL such as redis://127.0.0.1:6379/0`},
	} {
		_, err := loadConfig("serve", bad.args, func(k string) string { return bad.env[k] }, io.Discard)
		switch {
		case err == nil:
			t.Errorf("%v %v accepted", bad.env, bad.args)
		case bad.want == "" && !errors.Is(err, ErrUsage):
			t.Errorf("%v %v: %q is not a usage error", bad.env, bad.args, err)
		case bad.want != "" && (err.Error() != bad.want || errors.Is(err, ErrUsage)):
			t.Errorf("%v %v: %q (usage error: %v), want %q", bad.env, bad.args, err, errors.Is(err, ErrUsage), bad.want)
		}
	}
}

// TestSettingVariables: every flag but doctor's --fix names, in its help, its
// variable: ROLEGATE_ and the flag's name in capitals, "-" as "_".
func TestSettingVariables(t *testing.T) {
	var help strings.Builder
	if _, err := loadConfig("doctor", []string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, ErrUsage) {
		t.Fatalf("-h: %v", err)
	}
	// One line a flag: "      --name type   help (ROLEGATE_NAME) (default ...)".
	n := 0
	for _, line := range strings.Split(help.String(), "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		n++
		want := "(ROLEGATE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + ")"
		if name != "fix" && !strings.Contains(line, want) {
			t.Errorf("--%s: %q does not name %s", name, line, want)
		}
	}
	if n < 40 {
		t.Fatalf("%d flags in the help:\n%s", n, help.String())
	}
}

// TestHelpShowsNoSecret: -help shows no token, key or password given by a
// variable (a help text lands in terminals, logs and bug reports).
func TestHelpShowsNoSecret(t *testing.T) {
	env := map[string]string{
		"ROLEGATE_ADMIN_TOKEN":                 "admin-secret-0123456789abcdef0123456789",
		"ROLEGATE_KEY_ENCRYPTION_KEY":          "kek-secret-0123456789abcdef",
		"ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS": "prev-kek-secret-0123456789",
		"ROLEGATE_DATABASE_URL":                "postgres://rolegate:db-secret-4711@db.internal:5432/rolegate",
		"ROLEGATE_REDIS_URL":                   "redis://:redis-secret-4711@cache.internal:6379/0",
	}
	var help strings.Builder
	if _, err := loadConfig("serve", []string{"-h"}, func(k string) string { return env[k] }, &help); !errors.Is(err, ErrUsage) {
		t.Fatalf("-h: %v", err)
	}
	out := help.String()
	for _, secret := range []string{"admin-secret", "kek-secret", "db-secret", "redis-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("-help shows %s:\n%s", secret, out)
		}
	}
	// The hosts are still shown, so the help says where it would connect.
	for _, host := range []string{"db.internal", "cache.internal"} {
		if !strings.Contains(out, host) {
			t.Errorf("-help does not show %s", host)
		}
	}
	// The values given by the variables are still the settings.
	delete(env, "ROLEGATE_KEY_ENCRYPTION_KEY") // not a key: checked when read
	delete(env, "ROLEGATE_KEY_ENCRYPTION_KEY_PREVIOUS")
	c, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != env["ROLEGATE_ADMIN_TOKEN"] || c.DatabaseURL != env["ROLEGATE_DATABASE_URL"] || c.RedisURL != env["ROLEGATE_REDIS_URL"] {
		t.Fatalf("settings: %+v", c)
	}
}

// TestDrainAndStoreTimeoutSettings: the two settings, their defaults, and
// the values refused (a store timeout must stay below the 30 s after which
// an answer can no longer be sent).
func TestDrainAndStoreTimeoutSettings(t *testing.T) {
	none := func(string) string { return "" }
	c, err := loadConfig("serve", nil, none, io.Discard)
	if err != nil || c.StoreTimeout != 10*time.Second || c.DrainPeriod != 5*time.Second {
		t.Fatalf("defaults: %v %v %v", c.StoreTimeout, c.DrainPeriod, err)
	}
	env := map[string]string{"ROLEGATE_STORE_TIMEOUT": "2s", "ROLEGATE_DRAIN_PERIOD": "0s"}
	c, err = loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.StoreTimeout != 2*time.Second || c.DrainPeriod != 0 {
		t.Fatalf("from variables: %v %v %v", c.StoreTimeout, c.DrainPeriod, err)
	}
	c, err = loadConfig("serve", []string{"-store-timeout", "500ms", "-drain-period", "20s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.StoreTimeout != 500*time.Millisecond || c.DrainPeriod != 20*time.Second {
		t.Fatalf("flags win: %v %v %v", c.StoreTimeout, c.DrainPeriod, err)
	}
	for _, bad := range [][]string{
		{"-store-timeout", "30s"}, {"-store-timeout", "0s"}, {"-store-timeout", "50ms"}, {"-store-timeout", "soon"},
		{"-drain-period", "-1s"}, {"-drain-period", "1h"},
	} {
		if _, err := loadConfig("serve", bad, none, io.Discard); err == nil || !strings.Contains(err.Error(), bad[0][1:]) {
			t.Errorf("%v: %v, want refused", bad, err)
		}
	}
}

// TestSyncConfig: the Redis and sweep settings, their defaults and checks.
func TestSyncConfig(t *testing.T) {
	none := func(string) string { return "" }
	c, err := loadConfig("serve", nil, none, io.Discard)
	if err != nil || c.RedisURL != "" || c.RedisChannel != "rolegate:changes" || c.SweepInterval != 10*time.Second {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	env := map[string]string{"ROLEGATE_REDIS_URL": "redis://r:6379/1", "ROLEGATE_SWEEP_INTERVAL": "30s", "ROLEGATE_REDIS_CHANNEL": "x"}
	c, err = loadConfig("serve", []string{"-sweep-interval", "2s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.RedisURL != "redis://r:6379/1" || c.RedisChannel != "x" || c.SweepInterval != 2*time.Second {
		t.Fatalf("from variables and flags: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"-sweep-interval", "0"}, {"-sweep-interval", "soon"}, {"-redis-url", "127.0.0.1:6379"}, {"-redis-channel", ""}} {
		if _, err := loadConfig("serve", bad, none, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The gRPC API is off unless asked for; the flag wins over the variable
// (the start with each: systemtest's TestGRPCSetting).
func TestGRPCSetting(t *testing.T) {
	env := func(k string) string { return map[string]string{"ROLEGATE_GRPC_ADDR": "127.0.0.1:9"}[k] }
	for _, c := range []struct {
		args   []string
		getenv func(string) string
		want   string
	}{
		{nil, func(string) string { return "" }, ""},
		{nil, env, "127.0.0.1:9"},
		{[]string{"-grpc-addr", "127.0.0.1:10"}, env, "127.0.0.1:10"},
	} {
		cfg, err := loadConfig("serve", c.args, c.getenv, io.Discard)
		if err != nil || cfg.GRPCAddr != c.want {
			t.Fatalf("%v: %q %v, want %q", c.args, cfg.GRPCAddr, err, c.want)
		}
	}
}

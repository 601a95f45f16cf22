package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
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
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}

// TestGeneratedAdminToken: without ROLEGATE_ADMIN_TOKEN a token is generated,
// printed once, kept hashed, and still valid after a restart.
func TestGeneratedAdminToken(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_ADMIN_TOKEN": ""})
	m := regexp.MustCompile(`\n    (rg_[A-Za-z0-9_-]{43})\n`).FindStringSubmatch(s.terminal())
	if m == nil {
		t.Fatalf("no generated token printed to stderr:\n%s", s.terminal())
	}
	token := m[1]
	if st, _, _ := s.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("generated token refused: %d", st)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_ADMIN_TOKEN": ""})
	if strings.Contains(s.output()+s.terminal(), token) {
		t.Fatal("the token was printed again")
	}
	if st, _, _ := s.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("generated token refused after restart: %d", st)
	}
	if st, _, _ := s.callToken(testToken, "GET", "/v1/entities", nil); st != 401 {
		t.Fatalf("another token accepted: %d", st)
	}
}

// TestCatalogAndTemplates: with a catalog, roles naming anything else get 422
// listing the offenders; templates give every new entity their system roles.
func TestCatalogAndTemplates(t *testing.T) {
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	templates := filepath.Join(dir, "templates.json")
	os.WriteFile(catalog, []byte(`{"object_types":[{"object_type":"payable","actions":["read","approve"]},{"object_type":"receipt","actions":["read"]}]}`), 0o644)
	os.WriteFile(templates, []byte(`{"roles":[{"name":"owner","permissions":{"objects":[{"object_type":"*","actions":[{"action_name":"*","permission":"allowed"}]}]}},
		{"name":"viewer","default":true,"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"}]}]}}]}`), 0o644)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_CATALOG": catalog, "ROLEGATE_ROLE_TEMPLATES": templates})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "e"})
	roles := s.must(200, "GET", "/v1/entities/e/roles?sort=name", nil)["data"].([]any)
	if len(roles) != 2 || roles[0].(map[string]any)["name"] != "owner" || roles[1].(map[string]any)["default"] != true {
		t.Fatalf("system roles from templates: %v", roles)
	}
	out := s.must(422, "POST", "/v1/entities/e/roles", map[string]any{"name": "bad", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "pay", "permission": "allowed"}}},
		map[string]any{"object_type": "invoice", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	if errCode(out) != "unknown_object_type" || !strings.Contains(out["error"].(map[string]any)["message"].(string), "invoice, payable.pay") {
		t.Fatalf("catalog offenders: %v", out)
	}
	s.must(201, "POST", "/v1/entities/e/roles", map[string]any{"name": "ok", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "*", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	cat := s.must(200, "GET", "/v1/object-types", nil)
	if cat["enforced"] != true || len(cat["data"].([]any)) != 2 {
		t.Fatalf("object types: %v", cat)
	}
	// New users get the template's default role.
	u := s.must(201, "POST", "/v1/entities/e/users", map[string]any{"id": "v"})
	if c := s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "e", "user_id": "v", "object_type": "payable", "action": "read"}); c["allowed"] != true {
		t.Fatalf("default role from template: %v %v", u, c)
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
		case bad.want == "" && !errors.Is(err, errUsage):
			t.Errorf("%v %v: %q is not a usage error", bad.env, bad.args, err)
		case bad.want != "" && (err.Error() != bad.want || errors.Is(err, errUsage)):
			t.Errorf("%v %v: %q (usage error: %v), want %q", bad.env, bad.args, err, errors.Is(err, errUsage), bad.want)
		}
	}
}

// TestSettingVariables: every flag but doctor's -fix names, in its help, its
// variable: ROLEGATE_ and the flag's name in capitals, "-" as "_".
func TestSettingVariables(t *testing.T) {
	var help strings.Builder
	if _, err := loadConfig("doctor", []string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, errUsage) {
		t.Fatalf("-h: %v", err)
	}
	lines := strings.Split(help.String(), "\n")
	n := 0
	for i, line := range lines {
		name, ok := strings.CutPrefix(line, "  -")
		if !ok || i+1 == len(lines) {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		n++
		want := "(ROLEGATE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + ")"
		if name != "fix" && !strings.Contains(lines[i+1], want) {
			t.Errorf("-%s: %q does not name %s", name, lines[i+1], want)
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
	if _, err := loadConfig("serve", []string{"-h"}, func(k string) string { return env[k] }, &help); !errors.Is(err, errUsage) {
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

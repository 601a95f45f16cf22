package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConfigFlagsWinOverVariables(t *testing.T) {
	env := map[string]string{"ROLEGATE_ADDR": ":9999", "ROLEGATE_MAX_ENTITIES": "50", "ROLEGATE_LOG_LEVEL": "debug"}
	c, err := loadConfig("serve", []string{"-addr", "127.0.0.1:7000"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.MaxEntities != 50 || c.LogLevel.String() != "DEBUG" || c.DatabaseURL != "sqlite://rolegate.db" ||
		c.MaxChangeWaiters != 1000 || c.MaxChangeWaitersPerEntity != 100 {
		t.Fatalf("config: %+v", c)
	}
	for _, bad := range [][]string{{"-max-entities", "0"}, {"-log-level", "loud"}, {"-log-format", "xml"}, {"-database-url", "rolegate.db"}, {"-nope"}, {"extra"}, {"-catalog", "/does/not/exist"},
		{"-max-change-waiters", "0"}, {"-max-change-waiters-per-entity", "-1"}, {"-max-change-waiters", "many"}} {
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

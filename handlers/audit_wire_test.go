package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// TestAuditSnapshotsAreTheWire: the audit log stores an entity and a role as
// policy's snapshots and shows them as stored, documented as the object as
// the native API showed it; both are the api module's types (wire.Entity,
// wire.Role), each converted from the domain on its own side. The two are
// held to the same bytes here: each event's after is the body the write
// answered with, and its before the body a read answered with just before
// the write.
func TestAuditSnapshotsAreTheWire(t *testing.T) {
	svc, _ := testkit.Service(t)
	h := NewRouter(Deps{Service: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: fixedAuth{
		"admin": {ID: "client:ops", Scopes: []string{auth.ScopeAdmin}},
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		return bytes.TrimSpace(b)
	}

	entity := call("POST", "/v1/entities", `{"id":"acme","name":"Acme <&> Ünïcode"}`, 201)
	created := call("POST", "/v1/entities/acme/roles", `{"name":"approver","description":"approves <b>&</b> — ü","default":true,`+
		`"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"approve","permission":"allowed_for_own"},`+
		`{"action_name":"pay","permission":"denied"}]},{"object_type":"*","actions":[{"action_name":"read","permission":"allowed"}]}]}}`, 201)
	var role struct{ ID string }
	if err := json.Unmarshal(created, &role); err != nil {
		t.Fatal(err)
	}
	path := "/v1/entities/acme/roles/" + role.ID
	beforeUpdate := call("GET", path, "", 200)
	updated := call("PATCH", path, `{"description":"","permissions":{"objects":[]}}`, 200)
	beforeDelete := call("GET", path, "", 200)
	call("DELETE", path, "", 204)
	deleted := call("GET", path+"?status=all", "", 200)

	var events struct {
		Data []struct {
			Action string          `json:"action"`
			Before json.RawMessage `json:"before"`
			After  json.RawMessage `json:"after"`
		} `json:"data"`
	}
	if err := json.Unmarshal(call("GET", "/v1/entities/acme/audit-events", "", 200), &events); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		action        string
		before, after []byte
	}{ // newest first
		{policy.AuditRoleDelete, beforeDelete, deleted},
		{policy.AuditRoleUpdate, beforeUpdate, updated},
		{policy.AuditRoleCreate, []byte("null"), created},
		{policy.AuditEntityCreate, []byte("null"), entity},
	}
	if len(events.Data) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(events.Data), len(want), events.Data)
	}
	for i, w := range want {
		e := events.Data[i]
		if e.Action != w.action {
			t.Fatalf("event %d is %s, want %s", i, e.Action, w.action)
		}
		if !bytes.Equal(e.Before, w.before) {
			t.Errorf("%s before:\n%s\nthe API showed\n%s", w.action, e.Before, w.before)
		}
		if !bytes.Equal(e.After, w.after) {
			t.Errorf("%s after:\n%s\nthe API showed\n%s", w.action, e.After, w.after)
		}
	}
}

package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/policy"
)

// The limit tags say what the documented limits say.
func TestLimitTagsMatchLimits(t *testing.T) {
	for _, c := range []struct {
		typ   reflect.Type
		field string
		max   int
	}{
		{reflect.TypeFor[wire.CheckBatch](), "checks", MaxBatch},
		{reflect.TypeFor[wire.ImportRequest](), "users", policy.MaxImportUsers},
		{reflect.TypeFor[wire.ImportUser](), "role_ids", policy.MaxImportRoleIDs},
		{reflect.TypeFor[wire.ImportUser](), "scoped_roles", policy.MaxImportScopes},
		{reflect.TypeFor[wire.ScopedRoles](), "role_ids", policy.MaxImportRoleIDs},
		{reflect.TypeFor[policy.PermissionsDoc](), "objects", policy.MaxRights},
		{reflect.TypeFor[policy.ObjectDoc](), "actions", policy.MaxRights},
	} {
		f, ok := jsonFields(c.typ).lookup(c.field)
		if !ok || f.limit == "" {
			t.Fatalf("%s.%s: no limit tag", c.typ, c.field)
		}
		if max, _ := parseLimit(f.limit); max != c.max {
			t.Errorf("%s.%s: limit %d, the documented limit is %d", c.typ, c.field, max, c.max)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A body past a limit is refused at the element past it, the rest unread,
// naming the field as the service's own validation does.
func TestReadWalkedStopsAtTheLimit(t *testing.T) {
	junk := func(prefix, item, suffix string, n int) string {
		return prefix + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + suffix
	}
	for _, c := range []struct {
		name, body string
		typ        reflect.Type
		code       string
		field      string
	}{
		{"checks", junk(`{"checks":[`, `{}`, `]}`, 300000), reflect.TypeFor[wire.CheckBatch](), "invalid_batch", "checks"},
		{"users", junk(`{"users":[`, `{}`, `]}`, 300000), reflect.TypeFor[wire.ImportRequest](), "too_many_users", "users"},
		{"role_ids", junk(`{"users":[{"id":"a"},{"id":"b","role_ids":[`, `""`, `]}]}`, 300000), reflect.TypeFor[wire.ImportRequest](), "too_many_roles", "users[1].role_ids"},
		{"scoped_roles", junk(`{"users":[{"id":"a","scoped_roles":[`, `{}`, `]}]}`, 300000), reflect.TypeFor[wire.ImportRequest](), "too_many_scopes", "users[0].scoped_roles"},
		{"scoped role_ids", junk(`{"users":[{"id":"a","scoped_roles":[{},{"scope":"t","role_ids":[`, `""`, `]}]}]}`, 300000), reflect.TypeFor[wire.ImportRequest](), "too_many_roles", "users[0].scoped_roles[1].role_ids"},
		{"folded key", junk(`{"CHECKS":[`, `{}`, `]}`, 300000), reflect.TypeFor[wire.CheckBatch](), "invalid_batch", "CHECKS"},
		{"rights", junk(`{"name":"r","permissions":{"objects":[`, `{}`, `]}}`, 300000), reflect.TypeFor[wire.RoleInput](), "too_many_rights", "permissions.objects"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(c.body)}
			_, _, err := readWalked(r, int64(len(c.body)), reflect.PointerTo(c.typ))
			e := rolegate.AsError(err)
			if e == nil || e.Code != c.code || len(e.Details) == 0 || e.Details[0].Field != c.field {
				t.Fatalf("got %v, want %s naming %s", err, c.code, c.field)
			}
			if r.n > 64<<10 {
				t.Fatalf("read %d bytes of %d before refusing", r.n, len(c.body))
			}
		})
	}
}

// Within the limits, the body comes back whole, and what decoding it costs
// counts the Go values, not the JSON bytes.
func TestReadWalkedCostsDecodedMemory(t *testing.T) {
	body := `{"checks":[` + strings.TrimSuffix(strings.Repeat(`{},`, MaxBatch), ",") + `]} `
	got, cost, err := readWalked(strings.NewReader(body), -1, reflect.TypeFor[*wire.CheckBatch]())
	if err != nil || !bytes.Equal(got, []byte(body)) {
		t.Fatalf("%v, %d of %d bytes", err, len(got), len(body))
	}
	if per := int64(reflect.TypeFor[wire.CheckRequest]().Size()); cost < MaxBatch*per || cost < int64(len(body)) {
		t.Fatalf("cost %d for %d checks of %d bytes each", cost, MaxBatch, per)
	}
	// Malformed or trailing data is read whole and left to decodeBytes.
	for _, bad := range []string{`{"checks":[{},`, `{"checks":[]} x`, ``, `[1,2]`} {
		got, _, err := readWalked(strings.NewReader(bad), -1, reflect.TypeFor[*wire.CheckBatch]())
		if err != nil || string(got) != bad {
			t.Fatalf("%q: %v, %q", bad, err, got)
		}
	}
}

// A check is read whole (flat) for what it costs; one with a resource costs
// what its attributes take decoded, not their JSON bytes, alone and in a
// batch, as a token-by-token walk counts them.
func TestReadWalkedCostsResource(t *testing.T) {
	plain := `{"entity_id":"e1","user_id":"u1","object_type":"payable","action":"read"}`
	if !flat(reflect.TypeFor[wire.CheckRequest]()) {
		t.Fatal("a check is not read whole")
	}
	_, cost, err := readWalked(strings.NewReader(plain), -1, reflect.TypeFor[*wire.CheckRequest]())
	if err != nil || cost != int64(reflect.TypeFor[wire.CheckRequest]().Size())+int64(len(plain)) {
		t.Fatalf("plain check: cost %d, %v", cost, err)
	}
	list := `[` + strings.TrimSuffix(strings.Repeat(`1,`, 20000), ",") + `]`
	withResource := `{"entity_id":"e1","resource":{"l":` + list + `,"s":"x"}}`
	walked := &bodyWalk{dec: json.NewDecoder(strings.NewReader(withResource))}
	walked.dec.UseNumber()
	if err := walked.walkTokens(reflect.TypeFor[wire.CheckRequest](), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		typ  reflect.Type
	}{
		{withResource, reflect.TypeFor[*wire.CheckRequest]()},
		{`{"checks":[` + plain + `,` + withResource + `]}`, reflect.TypeFor[*wire.CheckBatch]()},
	} {
		got, cost, err := readWalked(strings.NewReader(c.body), -1, c.typ)
		if err != nil || string(got) != c.body {
			t.Fatalf("%v, %d of %d bytes", err, len(got), len(c.body))
		}
		if cost < walked.cost || cost < 20000*anyCost {
			t.Fatalf("%s: cost %d, a walk counts %d", c.typ, cost, walked.cost)
		}
	}
	// Malformed inside is still read whole and left to decodeBytes.
	for _, bad := range []string{`{"resource":{"a":[1,}}`, `{"resource":[`, `{"entity_id":"e"}]`} {
		got, _, err := readWalked(strings.NewReader(bad), -1, reflect.TypeFor[*wire.CheckRequest]())
		if err != nil || string(got) != bad {
			t.Fatalf("%q: %v, %q", bad, err, got)
		}
	}
}

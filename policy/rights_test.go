package policy_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

func perms(objs ...rolegate.ObjectPermissions) rolegate.Permissions {
	return rolegate.Permissions{Objects: objs}
}

func obj(t string, acts ...string) rolegate.ObjectPermissions {
	o := rolegate.ObjectPermissions{ObjectType: t}
	for i := 0; i+1 < len(acts); i += 2 {
		o.Actions = append(o.Actions, rolegate.ActionPermission{ActionName: acts[i], Permission: rolegate.Permission(acts[i+1])})
	}
	return o
}

// storedRights are rights and the text the adapters stored for them before
// the encoding moved into policy (written by adapters' own encoder, kept
// here as data): existing databases hold exactly these bytes.
var storedRights = []struct {
	p    rolegate.Permissions
	text string
}{
	{perms(), `{"objects":[]}`},
	{perms(obj("payable", "read", "allowed", "approve", "allowed_for_own", "update", "not_allowed", "delete", "denied"), obj("*", "read", "allowed")),
		`{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"},{"action_name":"approve","permission":"allowed_for_own"},{"action_name":"update","permission":"not_allowed"},{"action_name":"delete","permission":"denied"}]},{"object_type":"*","actions":[{"action_name":"read","permission":"allowed"}]}]}`},
	{perms(obj("accounts:/auth/users", "write", "allowed"), obj("empty")),
		`{"objects":[{"object_type":"accounts:/auth/users","actions":[{"action_name":"write","permission":"allowed"}]},{"object_type":"empty","actions":[]}]}`},
	{perms(obj("a<b>&c", "ü", "allowed")), `{"objects":[{"object_type":"a\u003cb\u003e\u0026c","actions":[{"action_name":"ü","permission":"allowed"}]}]}`},
}

// Stored rights read back as the rights written, and today's stored text
// is written again byte for byte.
func TestStoredRightsRoundTripByteForByte(t *testing.T) {
	for _, c := range storedRights {
		got, err := policy.EncodeRights(c.p)
		if err != nil || got != c.text {
			t.Errorf("encode %+v:\n got %s (%v)\nwant %s", c.p, got, err, c.text)
		}
		back, err := policy.DecodeRights(c.text)
		if err != nil {
			t.Fatalf("decode %s: %v", c.text, err)
		}
		if !reflect.DeepEqual(back, c.p) {
			t.Errorf("decode %s:\n got %+v\nwant %+v", c.text, back, c.p)
		}
		again, _ := policy.EncodeRights(back)
		if again != c.text {
			t.Errorf("round trip of %s gave %s", c.text, again)
		}
	}
	// A row stored without rights (the column's empty text) holds none.
	if p, err := policy.DecodeRights(""); err != nil || !reflect.DeepEqual(p, rolegate.Permissions{}) {
		t.Fatalf(`"": %+v, %v`, p, err)
	}
	// Text a later version wrote with more fields still reads.
	p, err := policy.DecodeRights(`{"objects":[{"object_type":"doc","note":"x","actions":[{"action_name":"read","permission":"allowed","until":null}]}],"v":2}`)
	if err != nil || !reflect.DeepEqual(p, perms(obj("doc", "read", "allowed"))) {
		t.Fatalf("later fields: %+v, %v", p, err)
	}
	if _, err := policy.DecodeRights(`{"objects":`); err == nil || !strings.HasPrefix(err.Error(), "stored permissions: ") {
		t.Fatalf("broken text: %v", err)
	}
}

// The canonical encoding as a field of a request or a file: the same shape,
// decoded strictly by the caller's decoder (an unknown field inside the
// rights is refused, naming its place).
func TestPermissionsDocStrictInsideADocument(t *testing.T) {
	var body struct {
		Permissions policy.PermissionsDoc `json:"permissions"`
	}
	dec := json.NewDecoder(strings.NewReader(`{"permissions":{"objects":[{"object_type":"doc","actions":[{"action_name":"read","permission":"allowed","extra":1}]}]}}`))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err == nil || !strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Fatalf("unknown field inside the rights: %v", err)
	}
	dec = json.NewDecoder(strings.NewReader(`{"permissions":{"objects":[{"object_type":7,"actions":[]}]}}`))
	var typeErr *json.UnmarshalTypeError
	if err := dec.Decode(&body); !errors.As(err, &typeErr) || typeErr.Field != "permissions.objects.object_type" {
		t.Fatalf("type error: %v", err)
	}
	for _, c := range storedRights {
		b, _ := json.Marshal(policy.DocOf(c.p))
		if string(b) != c.text {
			t.Errorf("DocOf %+v: %s, want %s", c.p, b, c.text)
		}
	}
}

package handlers

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// Types exercising encoding/json's field rules: tags, "-", unexported
// fields, promoted fields of embedded structs (pointer, unexported, tagged,
// conflicting), case folding, and values not entered (types that decode
// themselves, interfaces, maps, fixed arrays).
type (
	leaf struct {
		A      string `json:"a"`
		B      int    `json:"b,omitempty"`
		Skip   string `json:"-"`
		Dash   string `json:"-,"`
		Kelvin string `json:"kelvin"` // "\u212aelvin" folds to it
		hidden string
	}
	inner struct {
		Deep  []leaf          `json:"deep"`
		Tuple [1]leaf         `json:"tuple"`
		Map   map[string]leaf `json:"map"`
		When  *time.Time      `json:"when"`
		Raw   json.RawMessage `json:"raw"`
		Any   any             `json:"any"`
	}
	Promoted struct {
		P     string `json:"p"`
		Clash string `json:"clash"`
		Inner inner  `json:"inner"`
	}
	Other struct {
		Clash  string `json:"clash"`
		Tagged string `json:"tagged"`
	}
	unexported struct {
		U string `json:"u"`
	}
	Named struct {
		N string `json:"n"`
	}
	body struct {
		Name   string  `json:"name"`
		Items  []*leaf `json:"items"`
		NoTag  string
		Tagged string `json:"tagged"`
		*Promoted
		Other
		unexported
		Named `json:"named"`
	}
)

// TestUnknownFieldAgreesWithEncodingJSON: the unknown field the decoder
// reports (by walking the body along the type) is the one encoding/json
// refused, for bodies with unknown keys anywhere, in any case, before or
// after type errors and errors of types that decode themselves.
func TestUnknownFieldAgreesWithEncodingJSON(t *testing.T) {
	for _, b := range []string{
		`{"name":"x","colour":"red"}`,
		`{"NAME":"x","Colour":"red"}`,
		`{"\u212aelvin":"k"}`,
		`{"items":[{"a":"x"},{"a":"y","zz":1}]}`,
		`{"items":[null,{"Skip":"x"}]}`,
		`{"items":[{"-":"x","hidden":"y"}]}`,
		`{"p":"x","inner":{"deep":[{"a":"1","q":2}]}}`,
		`{"inner":{"tuple":[{"a":"1"},{"zz":1}],"map":{"k":{"a":"1"}}}}`,
		`{"inner":{"map":{"k":{"zz":1}}}}`,
		`{"inner":{"any":{"zz":1},"raw":{"zz":1}},"after":1}`,
		`{"clash":"x"}`,
		`{"u":"x","n":"y"}`,
		`{"named":{"n":"y","m":1}}`,
		`{"NoTag":"x","notag":"y","Promoted":{}}`,
		`{"name":7,"colour":"red"}`,
		`{"colour":"red","name":7}`,
		`{"colour":"red","inner":{"when":"not a time"}}`,
		`{"inner":{"when":"2026-01-02T03:04:05Z"},"colour":"red"}`,
	} {
		compareWithEncodingJSON(t, []byte(b))
	}
	// Random bodies over the names above and a few unknown ones.
	keys := []string{"name", "NAME", "items", "a", "A", "b", "Skip", "-", "hidden", "kelvin", "\u212aelvin", "p", "clash", "inner", "deep",
		"tuple", "map", "when", "raw", "any", "u", "n", "named", "tagged", "NoTag", "Promoted", "Other", "zz", "colour"}
	r := rand.New(rand.NewSource(1))
	var value func(depth int) string
	value = func(depth int) string {
		switch n := r.Intn(6); {
		case depth > 3 || n == 0:
			return []string{`"s"`, `1`, `null`, `true`, `"2026-01-02T03:04:05Z"`}[r.Intn(5)]
		case n < 4:
			var members []string
			for range r.Intn(4) {
				members = append(members, fmt.Sprintf("%q:%s", keys[r.Intn(len(keys))], value(depth+1)))
			}
			return "{" + strings.Join(members, ",") + "}"
		default:
			var items []string
			for range r.Intn(3) {
				items = append(items, value(depth+1))
			}
			return "[" + strings.Join(items, ",") + "]"
		}
	}
	unknown := 0
	for range 5000 {
		var members []string
		for range 1 + r.Intn(4) {
			members = append(members, fmt.Sprintf("%q:%s", keys[r.Intn(len(keys))], value(1)))
		}
		if compareWithEncodingJSON(t, []byte("{"+strings.Join(members, ",")+"}")) {
			unknown++
		}
	}
	if unknown < 500 {
		t.Fatalf("only %d random bodies had an unknown field", unknown)
	}
}

// compareWithEncodingJSON checks decodeBytes against the text of
// encoding/json's error (in this test only), and reports whether the body
// had an unknown field.
func compareWithEncodingJSON(t *testing.T, b []byte) bool {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	want := ""
	if err := dec.Decode(new(body)); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			want = strings.Trim(name, `"`)
		}
	}
	e := rolegate.AsError(decodeBytes(b, new(body)))
	switch {
	case want == "" && e != nil && e.Code == "unknown_field":
		t.Errorf("%s: unknown_field %q; encoding/json: no unknown field", b, e.Details[0].Field)
	case want != "" && (e == nil || e.Code != "unknown_field" || e.Details[0].Field != want || e.Message != fmt.Sprintf("unknown field %q", want)):
		t.Errorf("%s: %+v; encoding/json: unknown field %q", b, e, want)
	}
	return want != ""
}

// TestJSONFieldsPromotion: the shallowest field wins; two at one depth cancel
// unless one is tagged.
func TestJSONFieldsPromotion(t *testing.T) {
	f := jsonFields(reflect.TypeFor[body]())
	for name, want := range map[string]bool{"name": true, "p": true, "inner": true, "tagged": true, "clash": false, "u": true,
		"named": true, "n": false, "NoTag": true, "notag": true, "Promoted": false} {
		if _, ok := f.lookup(name); ok != want {
			t.Errorf("%q: known %v, want %v", name, ok, want)
		}
	}
	f = jsonFields(reflect.TypeFor[leaf]())
	for name, want := range map[string]bool{"a": true, "A": true, "Skip": false, "-": true, "Dash": false, "hidden": false, "\u212aelvin": true} {
		if _, ok := f.lookup(name); ok != want {
			t.Errorf("leaf %q: known %v, want %v", name, ok, want)
		}
	}
}

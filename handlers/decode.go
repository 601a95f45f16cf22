package handlers

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
)

// decodeJSON reads the request body into dst strictly: one JSON value, no
// unknown fields, right types. Malformed JSON is 400 malformed_json; a
// well-formed body that does not fit dst is 422 naming the field; a body over
// the limit is 413.
func decodeJSON(c *gin.Context, dst any) error {
	if c.Request.Body == nil {
		return badRequest("malformed_json", "the request body is empty; a JSON object is expected")
	}
	if batch, ok := dst.(*wire.CheckBatch); ok {
		// A plain batch is decoded as it is read (batchdecode.go) and what
		// that took charged after: its checks are counted one at a time as
		// flatCost counts a check, by decoding it, and a batch past the limit
		// is refused before it is read whole either way.
		body, cost, decoded, err := readBatch(c.Request.Body, c.Request.ContentLength, batch)
		if err != nil {
			return err
		}
		if err := chargeDecoding(c, cost); err != nil {
			return err
		}
		if decoded {
			return nil
		}
		return decodeBytes(body, dst)
	}
	// Walked as it is read (decodelimit.go): a body past a limit is refused
	// unread, and what decoding it costs is charged before it is decoded.
	body, cost, err := readWalked(c.Request.Body, c.Request.ContentLength, reflect.TypeOf(dst))
	if err != nil {
		return err
	}
	if err := chargeDecoding(c, cost); err != nil {
		return err
	}
	return decodeBytes(body, dst)
}

// chargeDecoding charges what decoding the request's body costs against the
// body budget (bodybudget.go).
func chargeDecoding(c *gin.Context, cost int64) error {
	if b, ok := c.Request.Body.(*budgetedBody); ok {
		return b.charge(cost)
	}
	return nil
}

// decodeBytes decodes one strict JSON value.
func decodeBytes(body []byte, dst any) error {
	if decodePlain(body, dst) {
		return nil // a plain check or batch (checkdecode.go)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("malformed_json", "the request body is empty; a JSON object is expected")
	}
	if !json.Valid(body) {
		return badRequest("malformed_json", "the request body is not valid JSON")
	}
	if msg := textProblem(body); msg != "" {
		return badRequest("malformed_json", "%s", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return rolegate.Invalid("invalid_type", "", "the request body must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
		}
		return rolegate.Invalid("invalid_type", field, "%s must be %s, not %s", field, jsonKind(typeErr.Type.String()), typeErr.Value)
	}
	if refusedUnknown(body, dst) {
		if name, ok := unknownField(body, reflect.TypeOf(dst)); ok {
			return rolegate.Invalid("unknown_field", name, "unknown field %q", name)
		}
	}
	return rolegate.Invalid("invalid_body", "", "the request body does not fit: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// refusedUnknown reports whether a strict decoding of body into dst's type
// failed, with an error other than a type error, for an unknown field: a
// decoding that allows them then ends with no error, or a type error only
// (which came later in the body). encoding/json reports an unknown field as
// text only; other errors (a type that decodes itself refusing its value)
// end decoding at once, with or without unknown fields, so they stay.
func refusedUnknown(body []byte, dst any) bool {
	err := json.Unmarshal(body, reflect.New(reflect.TypeOf(dst).Elem()).Interface())
	var typeErr *json.UnmarshalTypeError
	return err == nil || errors.As(err, &typeErr)
}

// unknownField is the first key of body, in document order, that no field of
// t takes: the one Decoder.DisallowUnknownFields refused. The body is walked
// along t by encoding/json's rules (jsonFields); values of a type that decodes
// itself, of an interface type or that do not fit their type (a type error)
// are not entered, as encoding/json does not enter them.
func unknownField(body []byte, t reflect.Type) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	name, found, err := findUnknown(dec, t)
	return name, found && err == nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// findUnknown reads one value of type t (nil: any) from dec, and returns the
// first unknown key in it.
func findUnknown(dec *json.Decoder, t reflect.Type) (string, bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return "", false, nil // a scalar
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		t = nil
	}
	switch {
	case t == nil:
	case delim == '{' && t.Kind() == reflect.Struct:
		fields := jsonFields(t)
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			f, ok := fields.lookup(key.(string))
			if !ok {
				return key.(string), true, nil
			}
			if name, found, err := findUnknown(dec, f.typ); found || err != nil {
				return name, found, err
			}
		}
		_, err := dec.Token()
		return "", false, err
	case delim == '{' && t.Kind() == reflect.Map && mapKeyOK(t.Key()):
		for dec.More() {
			if _, err := dec.Token(); err != nil {
				return "", false, err
			}
			if name, found, err := findUnknown(dec, t.Elem()); found || err != nil {
				return name, found, err
			}
		}
		_, err := dec.Token()
		return "", false, err
	case delim == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i := 0; dec.More(); i++ {
			et := t.Elem()
			if t.Kind() == reflect.Array && i >= t.Len() {
				et = nil // past a fixed array's end: skipped
			}
			if name, found, err := findUnknown(dec, et); found || err != nil {
				return name, found, err
			}
		}
		_, err := dec.Token()
		return "", false, err
	}
	// Not entered: read to the end of this object or array.
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return "", false, err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return "", false, nil
}

// mapKeyOK reports whether encoding/json decodes objects into maps with keys
// of type k (else it is a type error).
func mapKeyOK(k reflect.Type) bool {
	switch k.Kind() {
	case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return reflect.PointerTo(k).Implements(textUnmarshaler)
}

// structFields are the JSON names of a struct type and their fields.
type structFields struct {
	exact  map[string]jsonField
	folded map[string]jsonField
}

// jsonField is a field's type and its limit tag (decodelimit.go).
type jsonField struct {
	typ   reflect.Type
	limit string
}

// lookup finds the field a key goes to: the exact name, else the first
// equal under case folding.
func (f structFields) lookup(key string) (jsonField, bool) {
	if t, ok := f.exact[key]; ok {
		return t, true
	}
	t, ok := f.folded[foldName(key)]
	return t, ok
}

// jsonFields lists the fields encoding/json decodes a struct's objects
// into, by its rules (encoding/json's typeFields): exported fields and those
// of embedded structs, named by their json tag or Go name, "-" skipped; an
// untagged embedded struct's fields are promoted, the shallowest winning, and
// two at one depth, both tagged or neither, cancel each other.
func jsonFields(t reflect.Type) structFields {
	type field struct {
		name   string
		tagged bool
		depth  int
		order  []int
		typ    reflect.Type
		limit  string
	}
	var found []field
	type level struct {
		typ   reflect.Type
		index []int
	}
	next := []level{{typ: t}}
	visited := map[reflect.Type]bool{}
	for depth := 0; len(next) > 0; depth++ {
		current := next
		next = nil
		count := map[reflect.Type]int{}
		for _, l := range current {
			count[l.typ]++
		}
		for _, l := range current {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := 0; i < l.typ.NumField(); i++ {
				sf := l.typ.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(append([]int(nil), l.index...), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{name: name, tagged: name != "", depth: depth, order: index, typ: sf.Type, limit: sf.Tag.Get("limit")}
					if f.name == "" {
						f.name = sf.Name
					}
					found = append(found, f)
					if count[l.typ] > 1 {
						// The same struct embedded twice at one depth: its
						// fields cancel each other.
						found = append(found, f)
					}
					continue
				}
				next = append(next, level{typ: ft, index: index}) // promoted: read at the next depth
			}
		}
	}
	// By name, then depth, then tagged first, then field order.
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if a.name != b.name {
			return a.name < b.name
		}
		if a.depth != b.depth {
			return a.depth < b.depth
		}
		if a.tagged != b.tagged {
			return a.tagged
		}
		return slices.Compare(a.order, b.order) < 0
	})
	var kept []field
	for i := 0; i < len(found); {
		j := i + 1
		for j < len(found) && found[j].name == found[i].name {
			j++
		}
		group := found[i:j]
		if len(group) == 1 || group[0].depth != group[1].depth || group[0].tagged != group[1].tagged {
			kept = append(kept, group[0])
		}
		i = j
	}
	// In field order, as encoding/json keeps them: the first folded match wins.
	sort.Slice(kept, func(i, j int) bool { return slices.Compare(kept[i].order, kept[j].order) < 0 })
	out := structFields{exact: map[string]jsonField{}, folded: map[string]jsonField{}}
	for _, f := range kept {
		jf := jsonField{typ: f.typ, limit: f.limit}
		out.exact[f.name] = jf
		if k := foldName(f.name); out.folded[k].typ == nil {
			out.folded[k] = jf
		}
	}
	return out
}

// validTagName is encoding/json's test of a tag's name: otherwise the Go
// name is used.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// foldName folds a name as encoding/json matches names: ASCII letters to
// upper case, other runes to the smallest of their fold set.
func foldName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonKind names a Go type as a JSON type for people.
func jsonKind(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case t == "struct" || strings.Contains(t, "."):
		return "an object"
	}
	return fmt.Sprintf("of type %s", t)
}

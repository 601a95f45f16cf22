package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
)

// A body is walked token by token as it is read, along the type it decodes
// into, before it is decoded. The walk stops at the first element past a
// limit (a `limit:"<n>,<code>"` tag on a slice field: at most n elements, else
// 422 with code naming the field), so that a megabyte of {} in a check batch
// is refused after the 1,001st check, having read a few kilobytes and decoded
// nothing. A body within the limits leaves an estimate of the memory its
// decoding takes (Go values, not JSON bytes: {} is two bytes and a check of
// a hundred), which is charged against the body budget (bodybudget.go) before
// it is decoded.

// anyCost is what one JSON value costs decoded into an interface or a type
// that decodes itself (not walked): an interface and its boxed value.
const anyCost = 48

// mapEntryCost is the overhead of one map entry besides its key and value.
const mapEntryCost = 16

// tooMany is a walk stopped at an element past its field's limit.
type tooMany struct {
	field, code string
	max         int
}

func (e *tooMany) Error() string { return e.field + " holds too many elements" }

func (e *tooMany) invalid() error {
	return rolegate.Invalid(e.code, e.field, "%s may hold at most %d elements", e.field, e.max)
}

// parseLimit reads a limit tag: "1000,invalid_batch".
func parseLimit(tag string) (int, string) {
	n, code, _ := strings.Cut(tag, ",")
	max, err := strconv.Atoi(n)
	if err != nil || max < 0 {
		panic("handlers: bad limit tag " + strconv.Quote(tag)) // a programming error, caught by any test
	}
	if code == "" {
		code = "too_many_elements"
	}
	return max, code
}

// pathPart is one step of the path of the value being walked: a field
// name, or an index (name empty).
type pathPart struct {
	name  string
	index int
}

// bodyWalk walks one JSON value from dec.
type bodyWalk struct {
	dec  *json.Decoder
	path []pathPart
	cost int64
	raw  json.RawMessage // a flat value's text (walk)
}

// field names the value being walked as errors do: users[3].role_ids.
func (w *bodyWalk) field() string {
	var b strings.Builder
	for _, p := range w.path {
		if p.name == "" {
			fmt.Fprintf(&b, "[%d]", p.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.name)
	}
	return b.String()
}

var fieldsCache sync.Map // reflect.Type -> structFields

func cachedFields(t reflect.Type) structFields {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(structFields)
	}
	f := jsonFields(t)
	fieldsCache.Store(t, f)
	return f
}

var checkRequestType = reflect.TypeFor[wire.CheckRequest]()

// flatTypes caches flat (reflect.Type -> bool).
var flatTypes sync.Map

// attributesType is a check's resource: a JSON object of any values, walked
// for its cost only when a body holds one.
var attributesType = reflect.TypeFor[map[string]any]()

// flat reports whether t is a struct of strings, booleans and numbers,
// none decoding itself, and of attributes (map[string]any) (a check): it
// holds no limit, and without attributes decoding one allocates at most its
// strings, which take fewer bytes than their JSON text. Such a value is read
// whole (Decoder.Token's allocations per token cost more than the rest of a
// check) and costs its JSON text's length; one whose text opens an object or
// array inside (attributes) is walked again, from the text read, for what
// those cost (flatCost).
func flat(t reflect.Type) bool {
	if f, ok := flatTypes.Load(t); ok {
		return f.(bool)
	}
	f := t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(jsonUnmarshaler) && !reflect.PointerTo(t).Implements(textUnmarshaler)
	for i := 0; f && i < t.NumField(); i++ {
		ft := t.Field(i).Type
		switch ft.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			f = !reflect.PointerTo(ft).Implements(jsonUnmarshaler) && !reflect.PointerTo(ft).Implements(textUnmarshaler)
		case reflect.Map:
			f = ft == attributesType
		case reflect.Pointer:
			// A check's as_of or at_revision: one string or integer,
			// allocated once however often its key is repeated.
			et := ft.Elem()
			f = (et.Kind() == reflect.String || et.Kind() == reflect.Int64) &&
				!reflect.PointerTo(et).Implements(jsonUnmarshaler) && !reflect.PointerTo(et).Implements(textUnmarshaler)
		default:
			f = false
		}
	}
	flatTypes.Store(t, f)
	return f
}

// walk reads one value of type t (nil: not walked) whose field carries the
// limit tag lim, adding what decoding it costs.
func (w *bodyWalk) walk(t reflect.Type, lim string) error {
	if t != nil && flat(t) {
		// One value read whole into a buffer reused for every element.
		if err := w.dec.Decode(&w.raw); err != nil {
			return err
		}
		w.cost += flatCost(w.raw, t)
		return nil
	}
	return w.walkTokens(t, lim)
}

// flatCost is what decoding raw, the text of a flat type t, costs: its
// length, plus, when it opens an object or array inside (attributes, or
// text that does not fit t and is refused when decoded), what a walk of
// it along t counts.
func flatCost(raw []byte, t reflect.Type) int64 {
	if len(raw) < 2 || !bytes.ContainsAny(raw[1:], "{[") {
		return int64(len(raw))
	}
	if t == checkRequestType && utf8.Valid(raw) {
		// A plain check counts its resource as it reads it, as the walk
		// below would (TestPlainCostIsWalkCost), without a token each.
		p := plainParser{b: raw}
		var r wire.CheckRequest
		if p.check(&r) && p.end() {
			return int64(len(raw)) + p.cost
		}
	}
	sub := &bodyWalk{dec: json.NewDecoder(bytes.NewReader(raw))}
	sub.dec.UseNumber()
	_ = sub.walkTokens(t, "") // malformed: decoding says so
	return int64(len(raw)) + sub.cost
}

// walkTokens is walk token by token, flat types too.
func (w *bodyWalk) walkTokens(t reflect.Type, lim string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		if tok != nil {
			w.cost += int64(t.Elem().Size())
		}
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		t = nil
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		if s, ok := tok.(string); ok {
			w.cost += int64(len(s))
		}
		if t == nil {
			w.cost += anyCost
		}
		return nil
	}
	switch {
	case t == nil:
	case delim == '{' && t.Kind() == reflect.Struct:
		fields := cachedFields(t)
		for w.dec.More() {
			key, err := w.dec.Token()
			if err != nil {
				return err
			}
			name, _ := key.(string)
			f, known := fields.lookup(name)
			w.path = append(w.path, pathPart{name: name})
			if known {
				err = w.walk(f.typ, f.limit)
			} else {
				err = w.walk(nil, "") // refused when decoded
			}
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
		_, err := w.dec.Token()
		return err
	case delim == '{' && t.Kind() == reflect.Map:
		entry := int64(t.Key().Size()+t.Elem().Size()) + mapEntryCost
		for w.dec.More() {
			key, err := w.dec.Token()
			if err != nil {
				return err
			}
			name, _ := key.(string)
			w.cost += entry + int64(len(name))
			w.path = append(w.path, pathPart{name: name})
			err = w.walk(t.Elem(), "")
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
		_, err := w.dec.Token()
		return err
	case delim == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		max := -1
		var code string
		if lim != "" {
			max, code = parseLimit(lim)
		}
		// A slice grows by copying as it is decoded: count each element
		// twice.
		elem := 2 * int64(t.Elem().Size())
		for i := 0; w.dec.More(); i++ {
			if i == max {
				return &tooMany{field: w.field(), code: code, max: max}
			}
			if t.Kind() == reflect.Slice {
				w.cost += elem
			}
			w.path = append(w.path, pathPart{index: i})
			err := w.walk(t.Elem(), "")
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
		_, err := w.dec.Token()
		return err
	}
	// Not walked (an interface, a type that decodes itself, or a value of
	// the wrong kind, refused when decoded): read to its end, costing each
	// value as anyCost.
	w.cost += anyCost
	for depth := 1; depth > 0; {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		w.cost += anyCost
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			w.cost += int64(len(v))
		}
	}
	return nil
}

// firstErr keeps the first error of a reader other than io.EOF.
type firstErr struct {
	r   io.Reader
	err error
}

func (f *firstErr) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
	return n, err
}

// readWalked reads body (size bytes when known) while walking it along t,
// and returns it whole with the estimated cost of decoding it; a body past a
// limit is refused as soon as the walk reaches the element past it, the rest
// unread. A body that is not JSON is read whole and returned: decodeBytes
// says what is wrong with it.
func readWalked(body io.Reader, size int64, t reflect.Type) ([]byte, int64, error) {
	var buf bytes.Buffer
	if size > 0 {
		// Not all of it at once: a body refused early is never read whole.
		buf.Grow(int(min(size, 64<<10)))
	}
	src := &firstErr{r: body}
	var cost int64
	if et := t; et != nil && et.Kind() == reflect.Pointer && flat(et.Elem()) {
		// Nothing to stop early for: read whole, no walk (see flat); room
		// for ReadFrom's last read, so that it does not grow the buffer.
		buf.Grow(bytes.MinRead)
		_, _ = buf.ReadFrom(src)
		cost = int64(et.Elem().Size()) + flatCost(buf.Bytes(), et.Elem())
	} else {
		w := &bodyWalk{dec: json.NewDecoder(io.TeeReader(src, &buf))}
		w.dec.UseNumber()
		err := w.walk(t, "")
		var tm *tooMany
		if errors.As(err, &tm) {
			return nil, 0, tm.invalid()
		}
		if src.err == nil {
			_, _ = io.Copy(&buf, src) // the rest: trailing data makes the body malformed
		}
		cost = w.cost
	}
	if src.err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(src.err, &tooBig):
			return nil, 0, src.err
		case errors.Is(src.err, errBodyBudget):
			return nil, 0, serverBusy()
		}
		return nil, 0, badRequest("malformed_json", "the request body could not be read")
	}
	return buf.Bytes(), cost, nil
}

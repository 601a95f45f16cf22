package handlers

import (
	"reflect"
	"strconv"
	"unicode/utf8"

	wire "github.com/rolegate/rolegate/api"
)

// Checks are decoded without reflection when their body is plain: objects of
// the check's own keys spelled exactly, strings without escapes, true or
// false, integers, each key's value of its field's type, and a resource of
// flat values (strings without escapes, numbers, true, false, null) and lists
// of them. That is what
// clients send, and what encoding/json decodes to the same values; any other
// body (an escape, an unknown or differently cased key, null, a number
// that is not a plain integer, a value of the wrong type, malformed JSON)
// goes the strict way (decodeBytes), which says what is wrong with it.

// decodePlain decodes body into dst when dst is a check or a batch of
// checks and body is plain, and reports whether it did; dst is untouched
// otherwise.
func decodePlain(body []byte, dst any) bool {
	if !utf8.Valid(body) {
		return false
	}
	p := plainParser{b: body}
	switch d := dst.(type) {
	case *wire.CheckRequest:
		var r wire.CheckRequest
		if !p.check(&r) || !p.end() {
			return false
		}
		*d = r
		return true
	case *wire.CheckBatch:
		var r wire.CheckBatch
		if !p.batch(&r) || !p.end() {
			return false
		}
		*d = r
		return true
	}
	return false
}

type plainParser struct {
	b []byte
	i int
	// cost is what the resources read cost to decode, as the body walk
	// counts it (decodelimit.go): each entry, each value, their strings.
	cost int64
	// intern keeps the strings read in seen, so that one read again (a
	// batch's entity, object types, actions, users) is not allocated again.
	intern bool
	seen   []string
}

func (p *plainParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// end reports whether nothing but white space is left.
func (p *plainParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// byte reports whether the next byte past white space is c, and takes it.
func (p *plainParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters.
func (p *plainParser) str() (string, bool) {
	b, ok := p.raw()
	if !ok || !p.intern {
		return string(b), ok
	}
	// A short list searched from its end beats a map's hashing: the strings
	// a batch repeats are few.
	for i := len(p.seen) - 1; i >= 0; i-- {
		if p.seen[i] == string(b) {
			return p.seen[i], true
		}
	}
	s := string(b)
	if len(p.seen) < maxInterned {
		p.seen = append(p.seen, s)
	}
	return s, true
}

// maxInterned bounds the strings a parser keeps (and searches).
const maxInterned = 32

// raw reads a string as str does, without copying it (a key).
func (p *plainParser) raw() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// boolean reads true or false.
func (p *plainParser) boolean() (bool, bool) {
	p.space()
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		return true, p.delimited()
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
		return false, p.delimited()
	}
	return false, false
}

// integer reads an integer as JSON writes one (no leading zero, no
// fraction or exponent) that fits an int64.
func (p *plainParser) integer() (int64, bool) {
	p.space()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.b[digits] == '0' && p.i > digits+1) || !p.delimited() {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

// delimited reports whether a literal or number ends here (not "truex",
// "12.5").
func (p *plainParser) delimited() bool {
	if p.i == len(p.b) {
		return true
	}
	switch p.b[p.i] {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// check reads one check object.
func (p *plainParser) check(r *wire.CheckRequest) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	for {
		key, ok := p.raw()
		if !ok || !p.byte(':') {
			return false
		}
		var s *string
		switch string(key) { // no copy: compared only
		case "entity_id":
			s = &r.EntityID
		case "user_id":
			s = &r.UserID
		case "object_type":
			s = &r.ObjectType
		case "action":
			s = &r.Action
		case "owner_id":
			s = &r.OwnerID
		case "scope":
			s = &r.Scope
		case "explain":
			if r.Explain, ok = p.boolean(); !ok {
				return false
			}
		case "min_revision":
			if r.MinRevision, ok = p.integer(); !ok {
				return false
			}
		case "as_of":
			// A second one is written where encoding/json writes it:
			// into the first one's string.
			v, ok := p.str()
			if !ok {
				return false
			}
			p.cost += pointerCost[string]() + int64(len(v))
			if r.AsOf == nil {
				r.AsOf = new(string)
			}
			*r.AsOf = v
		case "at_revision":
			v, ok := p.integer()
			if !ok {
				return false
			}
			p.cost += pointerCost[int64]()
			if r.AtRevision == nil {
				r.AtRevision = new(int64)
			}
			*r.AtRevision = v
		case "resource":
			// A second resource is left to encoding/json (which decodes
			// it into the first one's map).
			if r.Resource != nil {
				return false
			}
			if r.Resource, ok = p.attributes(); !ok {
				return false
			}
		default:
			return false
		}
		if s != nil {
			if *s, ok = p.str(); !ok {
				return false
			}
			p.cost += int64(len(*s))
		}
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

// pointerCost is what the body walk counts for a pointer to a T that is
// not null (decodelimit.go): the size of a T.
func pointerCost[T any]() int64 { return int64(reflect.TypeFor[T]().Size()) }

// batch reads {"checks":[...]} of at most MaxBatch checks. A second
// "checks" key is left to encoding/json (which decodes it into the first
// one's elements).
func (p *plainParser) batch(r *wire.CheckBatch) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	key, ok := p.raw()
	if !ok || string(key) != "checks" || !p.byte(':') || !p.byte('[') {
		return false
	}
	r.Checks = make([]wire.CheckRequest, 0, 16)
	if !p.byte(']') {
		for {
			if len(r.Checks) == MaxBatch {
				return false
			}
			var ch wire.CheckRequest
			if !p.check(&ch) {
				return false
			}
			r.Checks = append(r.Checks, ch)
			if p.byte(']') {
				break
			}
			if !p.byte(',') {
				return false
			}
		}
	}
	return p.byte('}')
}

// attributeEntryCost is what one entry of a resource costs, as the body walk
// counts an entry of a map (decodelimit.go).
var attributeEntryCost = int64(attributesType.Key().Size()+attributesType.Elem().Size()) + mapEntryCost

// attributes reads a resource: an object of flat values and lists of them,
// as encoding/json decodes it into a map (numbers as float64, a repeated key's
// last value).
func (p *plainParser) attributes() (map[string]any, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := make(map[string]any, 4)
	if p.byte('}') {
		return m, true
	}
	for {
		key, ok := p.raw()
		if !ok || !p.byte(':') {
			return nil, false
		}
		var v any
		p.space()
		if p.i < len(p.b) && p.b[p.i] == '[' {
			p.i++
			list := []any{}
			if !p.byte(']') {
				for {
					item, ok := p.scalar()
					if !ok {
						return nil, false
					}
					list = append(list, item)
					if p.byte(']') {
						break
					}
					if !p.byte(',') {
						return nil, false
					}
				}
			}
			v = list
			p.cost += 2 * anyCost // the list, and its end
		} else if v, ok = p.scalar(); !ok {
			return nil, false
		}
		m[string(key)] = v
		p.cost += attributeEntryCost + int64(len(key))
		if p.byte('}') {
			return m, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// scalar reads a string without escapes, a number, true, false or null.
func (p *plainParser) scalar() (any, bool) {
	p.space()
	if p.i == len(p.b) {
		return nil, false
	}
	p.cost += anyCost
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		p.cost += int64(len(s))
		return s, ok
	case c == 't' || c == 'f':
		return p.boolean()
	case c == 'n':
		if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
			p.i += 4
			return nil, p.delimited()
		}
		return nil, false
	}
	return p.number()
}

// number reads a JSON number as encoding/json decodes it into an interface:
// a float64 (one out of its range is left to encoding/json, which refuses it).
func (p *plainParser) number() (any, bool) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.b[digits] == '0' && p.i > digits+1) {
		return nil, false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		frac := p.i
		for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == frac {
			return nil, false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		exp := p.i
		for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == exp {
			return nil, false
		}
	}
	if !p.delimited() {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	return f, err == nil
}

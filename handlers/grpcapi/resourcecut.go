package grpcapi

import (
	"google.golang.org/protobuf/encoding/protowire"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/condition"
)

// A check's resource is a Struct, and 1 MiB of tiny Struct fields decodes to
// some 16 MiB of maps and values. Before the check is decoded, its resource
// is cut down on the wire to what is enough to refuse it as the whole would
// be refused (resourceOf): past condition.MaxAttributes fields it is dropped,
// and cutMarker left with how many it held; a nested object or list is
// emptied (still an object, or a list where one is not allowed); a list past
// condition.MaxAttributeString items keeps one item more than that. A
// resource within the limits is left as it is, byte for byte. A cut never
// lets pass what the whole would not: fields are dropped all together (past
// the count) or not at all, never some of them, so that a name repeated
// later in the map (proto keeps the last value) cannot be cut away.

// Field numbers of CheckRequest, BatchCheckRequest, Struct, its map entry,
// Value and ListValue.
const (
	checkResource protowire.Number = 9
	batchChecks   protowire.Number = 1
	structFields  protowire.Number = 1
	entryValue    protowire.Number = 2
	valueStruct   protowire.Number = 5
	valueList     protowire.Number = 6
	listValues    protowire.Number = 1
)

// cutMarker is the field (unknown to the schema, so kept in the message's
// unknown fields) that holds how many fields a dropped resource had.
const cutMarker = protowire.MaxValidNumber

// field is one field of a message on the wire: its number, type, value
// (the bytes of a bytes field) and the whole field as read.
type field struct {
	num protowire.Number
	typ protowire.Type
	val []byte
	raw []byte
}

// next reads the first field of b; ok is false at the end or when it does
// not parse.
func next(b []byte) (f field, rest []byte, ok bool) {
	if len(b) == 0 {
		return f, nil, false
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return f, nil, false
	}
	m := protowire.ConsumeFieldValue(num, typ, b[n:])
	if m < 0 {
		return f, nil, false
	}
	f = field{num: num, typ: typ, raw: b[:n+m]}
	if typ == protowire.BytesType {
		f.val, _ = protowire.ConsumeBytes(b[n:])
	}
	return f, b[n+m:], true
}

// cutBatch cuts the resource of each check of a batch; data itself when
// nothing is cut.
func cutBatch(data []byte) []byte {
	out, changed, _ := rebuild(data, func(f field) ([]byte, bool, bool) {
		if f.num != batchChecks || f.typ != protowire.BytesType {
			return nil, false, true
		}
		c, ch := cutCheck(f.val)
		return c, ch, true
	})
	if !changed {
		return data
	}
	return out
}

// cutCheck cuts a CheckRequest's resource (every occurrence of the field:
// proto merges them into one Struct); changed is false, and out data
// itself, when nothing is cut.
func cutCheck(data []byte) (out []byte, changed bool) {
	count := 0
	for b := data; len(b) > 0; {
		f, rest, ok := next(b)
		if !ok {
			return data, false
		}
		b = rest
		if f.num != checkResource || f.typ != protowire.BytesType {
			continue
		}
		n, _, ch, ok := cutStruct(f.val)
		if !ok {
			return data, false
		}
		count += n
		changed = changed || ch
	}
	if count <= condition.MaxAttributes && !changed {
		return data, false
	}
	if count > condition.MaxAttributes {
		// dropped: the marker says how many it held
		out, _, _ = rebuild(data, func(f field) ([]byte, bool, bool) { return nil, f.num == checkResource, true })
		out = protowire.AppendTag(out, cutMarker, protowire.VarintType)
		return protowire.AppendVarint(out, uint64(count)), true
	}
	out, _, _ = rebuild(data, func(f field) ([]byte, bool, bool) {
		if f.num != checkResource || f.typ != protowire.BytesType {
			return nil, false, true
		}
		_, s, ch, _ := cutStruct(f.val)
		return s, ch, true
	})
	return out, true
}

// cutStruct counts a resource's fields and empties what is nested in their
// values; s is the Struct rewritten when changed. It reads the Struct as a
// stream: past the count nothing more is kept.
func cutStruct(b []byte) (n int, s []byte, changed, ok bool) {
	whole := b
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return 0, nil, false, false
		}
		at := len(whole) - len(b)
		b = rest
		if f.num != structFields || f.typ != protowire.BytesType {
			if changed && n <= condition.MaxAttributes {
				s = append(s, f.raw...)
			}
			continue
		}
		n++
		if n > condition.MaxAttributes {
			continue // counted only
		}
		e, ch, ok := cutEntry(f.val)
		if !ok {
			return 0, nil, false, false
		}
		if ch && !changed {
			// The first change: the fields before it as they were.
			s = append([]byte(nil), whole[:at]...)
			changed = true
		}
		switch {
		case ch:
			s = protowire.AppendBytes(protowire.AppendTag(s, structFields, protowire.BytesType), e)
		case changed:
			s = append(s, f.raw...)
		}
	}
	if !changed || n > condition.MaxAttributes {
		return n, nil, false, true
	}
	return n, s, true, true
}

// cutEntry cuts the value of one map entry of a Struct.
func cutEntry(b []byte) ([]byte, bool, bool) {
	return rebuild(b, func(f field) ([]byte, bool, bool) {
		if f.num != entryValue || f.typ != protowire.BytesType {
			return nil, false, true
		}
		return cutValue(f.val, true)
	})
}

// cutValue empties an object (and, below the top, a list) in a Value, and
// cuts a list at the top to one item past the limit, each item cut.
func cutValue(b []byte, top bool) ([]byte, bool, bool) {
	return rebuild(b, func(f field) ([]byte, bool, bool) {
		if f.typ != protowire.BytesType || len(f.val) == 0 {
			return nil, false, true
		}
		switch {
		case f.num == valueStruct, f.num == valueList && !top:
			return []byte{}, true, true
		case f.num == valueList:
			return cutList(f.val)
		}
		return nil, false, true
	})
}

// cutList keeps a list's first items up to one past the limit, each cut as
// a value below the top; it reads the list as a stream.
func cutList(b []byte) ([]byte, bool, bool) {
	var out []byte
	items, changed := 0, false
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return nil, false, false
		}
		b = rest
		if f.num != listValues || f.typ != protowire.BytesType {
			out = append(out, f.raw...)
			continue
		}
		items++
		if items > condition.MaxAttributeString+1 {
			changed = true
			continue
		}
		v, ch, ok := cutValue(f.val, false)
		if !ok {
			return nil, false, false
		}
		if ch {
			changed = true
			out = protowire.AppendBytes(protowire.AppendTag(out, listValues, protowire.BytesType), v)
		} else {
			out = append(out, f.raw...)
		}
	}
	if !changed {
		return nil, false, true
	}
	return out, true, true
}

// rebuild writes the fields of b again, those fn changes as it says: a
// field it changes with nil bytes is dropped, else written as a bytes field
// of the new bytes. changed is false, and the bytes nil, when fn changed
// none; ok false when b does not parse.
func rebuild(b []byte, fn func(field) ([]byte, bool, bool)) (out []byte, changed, ok bool) {
	whole := b
	for len(b) > 0 {
		f, rest, ok := next(b)
		if !ok {
			return nil, false, false
		}
		v, ch, ok := fn(f)
		if !ok {
			return nil, false, false
		}
		if ch && !changed {
			// The first change: what came before it as it was.
			out = append([]byte(nil), whole[:len(whole)-len(b)]...)
			changed = true
		}
		b = rest
		switch {
		case !changed:
		case !ch:
			out = append(out, f.raw...)
		case v != nil:
			out = protowire.AppendTag(out, f.num, protowire.BytesType)
			out = protowire.AppendBytes(out, v)
		}
	}
	return out, changed, true
}

// cutCount is how many fields a resource cut on the wire held (0: none was
// cut): the cutMarker of r's unknown fields.
func cutCount(r *rolegatev1.CheckRequest) int {
	b := r.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0
		}
		if num == cutMarker && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b[n:])
			if m < 0 {
				return 0
			}
			return int(min(v, 1<<30))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return 0
		}
		b = b[n+m:]
	}
	return 0
}

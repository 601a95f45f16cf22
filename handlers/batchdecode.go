package handlers

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	wire "github.com/rolegate/rolegate/api"
)

// A batch of checks is read and decoded in one pass when it is plain (what
// clients send, checkdecode.go): each check is decoded by the plain parser as
// soon as its bytes have arrived, its cost counted as the body walk counts it
// (decodelimit.go), and the check past MaxBatch refused as soon as it starts,
// the rest of the body unread. Walking the body with encoding/json's token
// reader and then parsing it again cost as much as answering the checks.
// Anything else in a batch body (an escape, a check that is not plain,
// malformed JSON, a key other than "checks" spelled exactly) hands what was
// read, and the rest of the body, to readWalked and decodeBytes, which
// decide it as they decide every other body.

// batchChunk is the most read from a batch body at once: a batch refused at
// its 1,001st check has been read a chunk or two past it.
const batchChunk = 16 << 10

var (
	checkBatchPtrType = reflect.TypeFor[*wire.CheckBatch]()
	checkBatchCost    = int64(reflect.TypeFor[wire.CheckBatch]().Size())
	// checkCost is what the walk counts for an element of checks before the
	// check itself: a slice grows by copying, so each element twice.
	checkCost = 2 * int64(reflect.TypeFor[wire.CheckRequest]().Size())
)

// batchReader reads a batch body into buf as the parser needs it.
type batchReader struct {
	src io.Reader
	buf []byte
	err error // the first error of src, io.EOF once it ended
}

// more reads at least one more byte, or reports false once src has ended
// or failed.
func (r *batchReader) more() bool {
	for r.err == nil {
		if len(r.buf) == cap(r.buf) {
			// Grown only when full: a body of known size fits the buffer
			// readBatch made, with a byte to spare for reading its end.
			r.buf = append(r.buf, make([]byte, min(max(cap(r.buf), 4<<10), batchChunk))...)[:len(r.buf)]
		}
		free := r.buf[len(r.buf):min(cap(r.buf), len(r.buf)+batchChunk)]
		n, err := r.src.Read(free)
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			r.err = err
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// rest is what is left of the body after buf: the rest of src, or what
// ended it.
func (r *batchReader) rest() io.Reader {
	switch {
	case r.err == nil:
		return r.src
	case errors.Is(r.err, io.EOF):
		return strings.NewReader("")
	}
	return errReader{r.err}
}

// readBatch reads a batch body (size bytes when known) into dst. A plain
// body is decoded as it is read: decoded is true, with what decoding it cost
// as readWalked counts it. Any other body comes back as readWalked returns
// it (decoded false), for decodeBytes. A batch past MaxBatch checks is
// refused either way, the rest of the body unread.
func readBatch(src io.Reader, size int64, dst *wire.CheckBatch) (body []byte, cost int64, decoded bool, err error) {
	r := &batchReader{src: src}
	if size > 0 {
		r.buf = make([]byte, 0, min(size+1, batchChunk))
	}
	cost, ok, err := r.decode(dst, size)
	if err != nil {
		return nil, 0, false, err
	}
	if ok {
		return nil, cost, true, nil
	}
	body, cost, err = readWalked(io.MultiReader(bytes.NewReader(r.buf), r.rest()), size, checkBatchPtrType)
	return body, cost, false, err
}

// decode parses the body as it arrives: ok reports a plain batch, decoded
// into dst; err a batch refused for its length.
func (r *batchReader) decode(dst *wire.CheckBatch, size int64) (cost int64, ok bool, err error) {
	p := plainParser{intern: true, seen: make([]string, 0, maxInterned)}
	// next takes c, the next byte past white space, reading more when the
	// body read so far ends first.
	next := func(c byte) bool {
		for {
			p.b = r.buf
			if p.byte(c) {
				return true
			}
			if p.i < len(r.buf) || !r.more() {
				return false
			}
		}
	}
	// The opening: {"checks":[ (or {}).
	for {
		p.b, p.i = r.buf, 0
		if p.byte('{') && p.byte('}') {
			break
		}
		p.i = 0
		if p.byte('{') {
			if key, ok := p.raw(); ok && string(key) == "checks" && p.byte(':') && p.byte('[') {
				break
			}
		}
		if p.i < len(r.buf) || !r.more() {
			return 0, false, nil
		}
	}
	var batch wire.CheckBatch
	cost = checkBatchCost
	if p.b[p.i-1] == '[' {
		n := 16
		if size > 0 {
			n = int(min(size/64, MaxBatch))
		}
		batch.Checks = make([]wire.CheckRequest, 0, n)
		if !next(']') {
			for {
				if len(batch.Checks) == MaxBatch {
					// One more check follows a comma: the walk refuses
					// it here, as an element past the limit.
					return 0, false, (&tooMany{field: "checks", code: "invalid_batch", max: MaxBatch}).invalid()
				}
				// One check, once its closing brace has arrived.
				p.space()
				for p.i == len(r.buf) && r.more() {
					p.b = r.buf
					p.space()
				}
				start := p.i
				sc := objectScan{start: start}
				end := -1
				for {
					var plain bool
					if end, plain = sc.end(r.buf); !plain {
						return 0, false, nil
					}
					if end >= 0 || !r.more() {
						break
					}
				}
				if end < 0 || !utf8.Valid(r.buf[start:end]) {
					return 0, false, nil
				}
				p.b, p.cost = r.buf[:end], 0
				batch.Checks = append(batch.Checks, wire.CheckRequest{})
				if !p.check(&batch.Checks[len(batch.Checks)-1]) || p.i != end {
					return 0, false, nil
				}
				cost += checkCost + int64(end-start)
				if sc.nested {
					cost += p.cost // as flatCost counts a check with a resource
				}
				if next(']') {
					break
				}
				if !next(',') {
					return 0, false, nil
				}
			}
		}
		if !next('}') {
			return 0, false, nil
		}
	}
	// Nothing but white space may follow.
	for {
		p.b = r.buf
		p.space()
		if p.i < len(r.buf) {
			return 0, false, nil
		}
		if !r.more() {
			break
		}
	}
	if !errors.Is(r.err, io.EOF) {
		return 0, false, nil // a body that could not be read whole: readWalked says why
	}
	*dst = batch
	return cost, true, nil
}

// objectScan finds the end of the object that starts at start, in a body
// that arrives piece by piece: each call goes on from where the last one
// stopped.
type objectScan struct {
	start, j, depth int
	begun, inString bool
	// nested: a brace or bracket past the first byte, in a string or not
	// (flatCost's test for a check to walk further).
	nested bool
}

// end returns the index past the object's closing brace, or -1 when b ends
// first; plain is false when the object holds what no plain check holds (an
// escape), or b does not hold an object there.
func (s *objectScan) end(b []byte) (end int, plain bool) {
	if !s.begun {
		if s.start >= len(b) {
			return -1, true
		}
		if b[s.start] != '{' {
			return -1, false
		}
		s.j, s.begun = s.start, true
	}
	for ; s.j < len(b); s.j++ {
		c := b[s.j]
		if s.inString {
			switch c {
			case '"':
				s.inString = false
			case '\\':
				return -1, false
			case '{', '[':
				s.nested = true
			}
			continue
		}
		switch c {
		case '"':
			s.inString = true
		case '{', '[':
			s.nested = s.nested || s.j > s.start
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth == 0 {
				s.j++
				return s.j, true
			}
		}
	}
	return -1, true
}

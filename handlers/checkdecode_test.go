package handlers

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	wire "github.com/rolegate/rolegate/api"
)

// strictDecode is decodeBytes without the plain path.
func strictDecode(body []byte, dst any) bool {
	if !json.Valid(body) || textProblem(body) != "" {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(dst) == nil && !dec.More()
}

// samePlain checks that a body the plain path decodes, encoding/json
// decodes to the same value (and the plain path declines what it refuses).
func samePlain(t *testing.T, body []byte) (plain bool) {
	t.Helper()
	for _, mk := range []func() any{func() any { return new(wire.CheckRequest) }, func() any { return new(wire.CheckBatch) }} {
		got, want := mk(), mk()
		ok := decodePlain(body, got)
		strict := strictDecode(body, want)
		if ok && !strict {
			t.Fatalf("%q: the plain path decodes what encoding/json refuses", body)
		}
		if ok && !reflect.DeepEqual(got, want) {
			if b, isBatch := want.(*wire.CheckBatch); !(isBatch && len(b.Checks) == 0 && len(got.(*wire.CheckBatch).Checks) == 0) {
				t.Fatalf("%q: plain %+v, encoding/json %+v", body, got, want)
			}
		}
		if !ok && !reflect.DeepEqual(got, mk()) {
			t.Fatalf("%q: declined but changed the value", body)
		}
		plain = plain || ok
	}
	return plain
}

var plainSeeds = []string{
	`{"entity_id":"e1","user_id":"u1","object_type":"payable","action":"read","owner_id":""}`,
	` { "entity_id" : "e1" , "user_id":"u1","explain":true,"min_revision":12, "scope":"s" } `,
	`{"entity_id":"e1","entity_id":"e2"}`,
	`{"min_revision":-0}`, `{"min_revision":01}`, `{"min_revision":1.5}`, `{"min_revision":1e3}`, `{"min_revision":9223372036854775808}`,
	`{"min_revision":-9223372036854775808}`, `{"min_revision":-}`, `{"explain":truex}`, `{"explain":false}`, `{"explain":"true"}`,
	`{"ENTITY_ID":"e1"}`, `{"entity_id":"e\u0031"}`, `{"entity_id":"é☃"}`, "{\"entity_id\":\"\xff\"}", "{\"entity_id\":\"a\tb\"}",
	`{"entity_id":null}`, `{"entity_id":1}`, `{"colour":"red"}`, `{}`, `[]`, `null`, ``, `   `, `{"entity_id":"e1",}`, `{,}`,
	`{"entity_id":"e1"} {}`, `{"entity_id":"e1"}x`, `{"entity_id":"e1"`, `{"entity_id":"e1" "user_id":"u"}`,
	`{"checks":[]}`, `{"checks":[{}]}`, `{"checks":[{"entity_id":"e1","user_id":"u1"},{"entity_id":"e2","action":"a"}]}`,
	`{"checks":[{"entity_id":"a","user_id":"u"}],"checks":[{"entity_id":"b"}]}`, `{"checks":null}`, `{"checks":[1]}`,
	`{"checks":[{"entity_id":"e1"},]}`, `{"CHECKS":[{}]}`, `{"checks":[{"entity_id":"e1"}] , "x":1}`, `{"checks":[[]]}`,
	`{"checks":[` + strings.Repeat(`{"entity_id":"e"},`, MaxBatch) + `{}]}`,
	`{"entity_id":"e1","resource":{"amount":1200,"currency":"EUR"}}`, `{"resource":{}}`, `{"resource":null}`, `{"resource":[1]}`,
	`{"checks":[{"entity_id":"e1","resource":{"amount":1.5e3,"tags":["a",null]}}]}`, `{"resource":{"a":{"b":1}}}`,
	`{"resource":{"a":1,"a":"x"}}`, `{"resource":{"a":1},"resource":{"b":2}}`, `{"resource":{"n":-0.5E-3,"m":0,"t":true,"f":false,"z":null}}`,
	`{"resource":{"x":01}}`, `{"resource":{"x":1.}}`, `{"resource":{"x":.5}}`, `{"resource":{"x":1e}}`, `{"resource":{"x":1e999}}`,
	`{"resource":{"x":-}}`, `{"resource":{"x":nul}}`, `{"resource":{"x":[]}}`, `{"resource":{"x":[1,]}}`, `{"resource":{"x":[[1]]}}`,
	`{"resource":{"x":"a\"b"}}`, `{"resource":{"x":1,}}`, `{"resource":{,}}`, `{"resource":{"x" 1}}`, `{"resource":"x"}`,
	`{"resource":{"x":1}x}`, `{"resource":{"x":[1 2]}}`, `{"resource" : { "a" : [ "b" , 2 , null ] , "c" : 3.25 } }`,
	`{"entity_id":"e1","as_of":"2026-03-31T23:59:59Z"}`, `{"at_revision":12}`, `{"as_of":"","at_revision":0}`,
	`{"as_of":"a","as_of":"b"}`, `{"at_revision":1,"at_revision":2}`, `{"as_of":null}`, `{"at_revision":null}`,
	`{"as_of":1}`, `{"at_revision":"1"}`, `{"at_revision":1.5}`, `{"at_revision":9223372036854775808}`, `{"as_of":"a\u0031"}`,
	`{"as_of":"2026-03-31T23:59:59Z","resource":{"a":1},"at_revision":3}`, `{"checks":[{"as_of":"x"},{"at_revision":-1,"resource":{"b":"c"}}]}`,
}

// The plain path decodes what encoding/json decodes, to the same values,
// and nothing it refuses.
func TestDecodePlainIsEncodingJSON(t *testing.T) {
	plain := 0
	for _, s := range plainSeeds {
		if samePlain(t, []byte(s)) {
			plain++
		}
	}
	if plain < 8 {
		t.Fatalf("only %d bodies took the plain path", plain)
	}
	if !decodePlain([]byte(plainSeeds[0]), new(wire.CheckRequest)) {
		t.Fatal("a usual check does not take the plain path")
	}
}

// go test ./handlers -run x -fuzz FuzzDecodePlain -fuzztime 60s
func FuzzDecodePlain(f *testing.F) {
	for _, s := range plainSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { samePlain(t, body) })
}

// walkCost is flatCost by the token walk alone.
func walkCost(raw []byte) int64 {
	sub := &bodyWalk{dec: json.NewDecoder(bytes.NewReader(raw))}
	sub.dec.UseNumber()
	_ = sub.walkTokens(checkRequestType, "")
	return int64(len(raw)) + sub.cost
}

// samePlainCost checks that a check the plain path reads costs what the
// token walk counts for it.
func samePlainCost(t *testing.T, body []byte) {
	t.Helper()
	if !decodePlain(body, new(wire.CheckRequest)) || !bytes.ContainsAny(body, "{[") || len(body) < 2 || !bytes.ContainsAny(body[1:], "{[") {
		return
	}
	if got, want := flatCost(body, checkRequestType), walkCost(body); got != want {
		t.Fatalf("%q: plain cost %d, walk cost %d", body, got, want)
	}
}

func TestPlainCostIsWalkCost(t *testing.T) {
	n := 0
	for _, s := range plainSeeds {
		samePlainCost(t, []byte(s))
		if decodePlain([]byte(s), new(wire.CheckRequest)) && strings.Contains(s, "resource") {
			n++
		}
	}
	if n < 3 {
		t.Fatalf("only %d seeds with a resource took the plain path", n)
	}
}

// go test ./handlers -run x -fuzz FuzzPlainCost -fuzztime 60s
func FuzzPlainCost(f *testing.F) {
	for _, s := range plainSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { samePlainCost(t, body) })
}

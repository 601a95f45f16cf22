package grpcapi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/condition"
)

func wire(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeCheck decodes a check through the codec and reads its resource as
// the call does.
func decodeCheck(t *testing.T, b []byte) (map[string]any, error) {
	t.Helper()
	var r rolegatev1.CheckRequest
	if err := (codec{}).Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	q, err := domain(&r, "resource")
	return q.Resource, err
}

// entry is one Struct field on the wire (a name may repeat: proto keeps the
// last).
func entry(name string, v *structpb.Value) []byte {
	e := protowire.AppendTag(nil, 1, protowire.BytesType)
	e = protowire.AppendString(e, name)
	e = protowire.AppendTag(e, 2, protowire.BytesType)
	e = protowire.AppendBytes(e, wireOf(v))
	out := protowire.AppendTag(nil, structFields, protowire.BytesType)
	return protowire.AppendBytes(out, e)
}

func wireOf(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }

// checkWith is a CheckRequest whose resource is the given Struct fields.
func checkWith(entries ...[]byte) []byte {
	b := wireOf(&rolegatev1.CheckRequest{EntityId: "acme", UserId: "u-1", ObjectType: "payable", Action: "approve"})
	return append(b, resourceField(entries...)...)
}

// resourceField is a CheckRequest's resource field of the given Struct
// fields (a message may hold it twice: proto merges them).
func resourceField(entries ...[]byte) []byte {
	b := protowire.AppendTag(nil, checkResource, protowire.BytesType)
	return protowire.AppendBytes(b, bytes.Join(entries, nil))
}

// A resource within the limits reaches the call byte for byte.
func TestCutLeavesGoodResources(t *testing.T) {
	list := make([]any, condition.MaxAttributeString)
	for i := range list {
		list[i] = float64(i)
	}
	m := map[string]any{"tags": list, "amount": 1200.5, "currency": "EUR", "ok": true, "none": nil}
	for i := len(m); i < condition.MaxAttributes; i++ {
		m[fmt.Sprintf("a%d", i)] = "x"
	}
	s, _ := structpb.NewStruct(m)
	b := wire(t, &rolegatev1.CheckRequest{EntityId: "acme", Resource: s})
	if out, changed := cutCheck(b); changed || !bytes.Equal(out, b) {
		t.Fatal("a good resource was rewritten")
	}
	got, err := decodeCheck(t, b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("%v", err)
	}
	// a repeated name within the count is read as proto reads it: last wins
	got, err = decodeCheck(t, checkWith(entry("amount", structpb.NewNumberValue(1)), entry("amount", structpb.NewNumberValue(99999))))
	if err != nil || got["amount"] != 99999.0 {
		t.Fatalf("repeated name: %v %v", got, err)
	}
	batch := wire(t, &rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{{EntityId: "a", Resource: s}, {EntityId: "b"}}})
	if out := cutBatch(batch); !bytes.Equal(out, batch) {
		t.Fatal("a good batch was rewritten")
	}
}

// Attack: what would be refused is cut before it is decoded, and still
// refused with the same words; nothing cut can pass.
func TestCutRefusesWhatIsCut(t *testing.T) {
	padding := func(n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, entry(fmt.Sprintf("p%d", i), structpb.NewNullValue()))
		}
		return out
	}
	huge := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for i := range 30_000 {
		huge.Fields[fmt.Sprint(i)] = structpb.NewNullValue()
	}
	hugeList := &structpb.ListValue{}
	for range 100_000 {
		hugeList.Values = append(hugeList.Values, structpb.NewBoolValue(true))
	}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		// 70 fields where the last repeats the first: cutting at 65 would
		// keep amount=1; the whole is refused instead.
		"repeated name past the count": {checkWith(append(append([][]byte{entry("amount", structpb.NewNumberValue(1))}, padding(68)...),
			entry("amount", structpb.NewNumberValue(99999)))...), "70 attributes; at most 64"},
		"60,000 fields":             {checkWith(padding(60_000)...), "60000 attributes; at most 64"},
		"two resources, 40 each":    {append(checkWith(padding(40)...), resourceField(padding(40)...)...), "80 attributes"},
		"huge nested object":        {checkWith(entry("a", structpb.NewNumberValue(1)), entry("owner", structpb.NewStructValue(huge))), `attribute "owner": objects are not allowed`},
		"huge list":                 {checkWith(entry("tags", structpb.NewListValue(hugeList))), `attribute "tags": a list of 1025 items; at most 1024`},
		"object in a list":          {checkWith(entry("l", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStructValue(huge)}}))), `attribute "l": item 0: objects are not allowed`},
		"huge list in a list":       {checkWith(entry("l", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewListValue(hugeList)}}))), `attribute "l": item 0: lists may hold only`},
		"nested, first in order":    {checkWith(entry("b", structpb.NewStructValue(huge)), entry("a", structpb.NewStructValue(huge))), `attribute "a"`},
		"marker sent by the caller": {protowire.AppendVarint(protowire.AppendTag(checkWith(), cutMarker, protowire.VarintType), 3), "3 attributes"},
	}
	for name, tc := range cases {
		if len(tc.b) > MaxMessageBytes {
			t.Fatalf("%s: %d bytes, more than a call takes", name, len(tc.b))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got, err := decodeCheck(t, tc.b)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), tc.want) || got != nil {
			t.Fatalf("%s: %v %v, want %q", name, got, err, tc.want)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 4*uint64(len(tc.b))+1<<20 {
			t.Errorf("%s: %d bytes decoded into %d allocated", name, len(tc.b), a)
		}
		// and in a batch, where the field names the check
		batch := protowire.AppendBytes(protowire.AppendTag(wireOf(&rolegatev1.BatchCheckRequest{Checks: []*rolegatev1.CheckRequest{{EntityId: "x"}}}),
			batchChecks, protowire.BytesType), tc.b)
		var br rolegatev1.BatchCheckRequest
		if err := (codec{}).Unmarshal(batch, &br); err != nil || len(br.Checks) != 2 || br.Checks[0].GetEntityId() != "x" {
			t.Fatalf("%s in a batch: %v", name, err)
		}
		if _, err := domain(br.Checks[1], "checks[1].resource"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s in a batch: %v", name, err)
		}
	}
}

// Random resources (repeated names, nesting, long lists, several resource
// fields) read the same cut or not: refused alike, or the same attributes.
func TestCutAgreesWithWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var value func(depth int) *structpb.Value
	value = func(depth int) *structpb.Value {
		switch k := rng.IntN(7); {
		case k == 0:
			return structpb.NewNullValue()
		case k == 1:
			return structpb.NewNumberValue(float64(rng.IntN(100)))
		case k == 2:
			return structpb.NewStringValue("s")
		case k == 3:
			return structpb.NewBoolValue(rng.IntN(2) == 0)
		case k == 4 && depth < 3:
			s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
			for range rng.IntN(3) {
				s.Fields[fmt.Sprint(rng.IntN(5))] = value(depth + 1)
			}
			return structpb.NewStructValue(s)
		case depth < 3:
			l := &structpb.ListValue{}
			n := rng.IntN(4)
			if depth == 0 && rng.IntN(10) == 0 { // long lists of scalars, at the top
				for range condition.MaxAttributeString - 2 + rng.IntN(5) {
					l.Values = append(l.Values, structpb.NewNumberValue(1))
				}
			}
			for range n {
				l.Values = append(l.Values, value(depth+1))
			}
			return structpb.NewListValue(l)
		}
		return structpb.NewNullValue()
	}
	for round := range 1000 {
		var parts [][]byte
		n := rng.IntN(5)
		if rng.IntN(4) == 0 {
			n = condition.MaxAttributes - 3 + rng.IntN(8)
		}
		for range n {
			parts = append(parts, entry(fmt.Sprint(rng.IntN(n+1)), value(0)))
		}
		b := checkWith(parts...)
		if rng.IntN(5) == 0 { // a second resource field, merged by proto
			b = append(b, resourceField(parts[:rng.IntN(len(parts)+1)]...)...)
		}
		var whole rolegatev1.CheckRequest
		if err := proto.Unmarshal(b, &whole); err != nil {
			t.Fatal(err)
		}
		wantRes, wantErr := resourceOf(whole.GetResource(), "resource", 0)
		if wantErr == nil {
			wantRes, wantErr = condition.Normalize(wantRes)
		}
		got, err := decodeCheck(t, b)
		if err == nil {
			got, err = condition.Normalize(got)
		}
		if (err == nil) != (wantErr == nil) {
			// The cut may only refuse more (a name repeated past the count).
			if err == nil || len(whole.GetResource().GetFields()) > condition.MaxAttributes {
				t.Fatalf("round %d: cut %v %v, whole %v %v", round, got, err, wantRes, wantErr)
			}
			continue
		}
		if err == nil && !reflect.DeepEqual(got, wantRes) {
			t.Fatalf("round %d: cut %v, whole %v", round, got, wantRes)
		}
	}
}

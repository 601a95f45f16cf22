package handlers

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
)

// walkedBatch is what a batch body decodes to the way every other body is
// decoded: walked as it is read (readWalked), then decoded (decodeBytes).
func walkedBatch(body string) (wire.CheckBatch, int64, error) {
	var b wire.CheckBatch
	raw, cost, err := readWalked(strings.NewReader(body), int64(len(body)), checkBatchPtrType)
	if err != nil {
		return b, 0, err
	}
	return b, cost, decodeBytes(raw, &b)
}

// sameBatch checks that readBatch, reading body in pieces of every size,
// decodes it to what the walk and decodeBytes decode it to, at the same
// cost, with the same error; and says whether it was decoded in one pass.
func sameBatch(t *testing.T, body string, readers map[string]func(io.Reader) io.Reader) (onePass bool) {
	t.Helper()
	want, wantCost, wantErr := walkedBatch(body)
	for name, mk := range readers {
		for _, size := range []int64{int64(len(body)), -1} {
			var got wire.CheckBatch
			raw, cost, decoded, err := readBatch(mk(strings.NewReader(body)), size, &got)
			if err == nil && !decoded {
				if string(raw) != body {
					t.Fatalf("%s, %q: handed on %q", name, body, raw)
				}
				err = decodeBytes(raw, &got)
			}
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("%s, %q: error %v, want %v", name, body, err, wantErr)
			}
			if wantErr != nil {
				continue
			}
			if cost != wantCost {
				t.Fatalf("%s, %q: cost %d, the walk counts %d", name, body, cost, wantCost)
			}
			if !reflect.DeepEqual(got, want) && !(len(got.Checks) == 0 && len(want.Checks) == 0 && (got.Checks == nil) == (want.Checks == nil)) {
				t.Fatalf("%s, %q:\ngot  %+v\nwant %+v", name, body, got, want)
			}
			onePass = onePass || decoded
		}
	}
	return onePass
}

var batchReaders = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"halves":   iotest.HalfReader,
}

// A batch read and decoded in one pass decodes what the walk and the strict
// decoder decode, to the same checks at the same cost, however its bytes
// arrive; what it declines (not plain, malformed, too long) ends as the walk
// ends it.
func TestReadBatchIsWalkThenDecode(t *testing.T) {
	var bodies []string
	for _, s := range plainSeeds {
		bodies = append(bodies, s)
		if strings.HasPrefix(strings.TrimSpace(s), `{"entity_id"`) || strings.HasPrefix(s, `{"resource"`) || strings.HasPrefix(s, `{"as_of"`) || strings.HasPrefix(s, `{"at_revision"`) || strings.HasPrefix(s, `{"min_revision"`) {
			bodies = append(bodies, `{"checks":[`+s+`]}`, " {\n \"checks\" : [ "+s+" ,\t"+s+" ] } \n")
		}
	}
	bodies = append(bodies, `{}`, ` {} `, `{"checks":[]}`, `{"checks":[ ]}`, `{"checks":[{}],}`, `{"checks":[{}]`, `{"checks":[{}]}}`,
		`{"checks":[{"entity_id":"a}b[","user_id":"{"}]}`, `{"checks":[{"entity_id":"a\"b"}]}`, `{"checks":[{"entity_id":"é☃"}]}`,
		"{\"checks\":[{\"entity_id\":\"\xff\"}]}", `{"checks":[{"entity_id":"e"} {"entity_id":"e"}]}`, `{"checks":[{"entity_id":"e"}}`,
		`{"checks":[{"resource":{"a":[1,2,"x"],"b":{"c":1}}}]}`, `{"checks":[{"resource":{"a":[1,2,"x"]}}]}`, `{"checks":[{"user_id":"[{"}]}`,
		`{"checks":[`+strings.TrimSuffix(strings.Repeat(`{"entity_id":"e","resource":{"n":1}},`, MaxBatch), ",")+`]}`,
		`{"checks":[`+strings.Repeat(`{"entity_id":"e"},`, MaxBatch)+`]}`,
		`{"checks":[`+strings.Repeat(`{"entity_id":"e"},`, MaxBatch)+`x]}`,
		`{"checks":[`+strings.Repeat(`{"entity_id":"e"},`, MaxBatch-1)+`{"entity_id":"e"}}`,
		`{"checks":[`+strings.Repeat(`{"entity_id":"e"},`, MaxBatch-1)+`{"entity_id":"\u0065"},{}]}`)
	onePass := 0
	for _, body := range bodies {
		if sameBatch(t, body, batchReaders) {
			onePass++
		}
	}
	if onePass < 20 {
		t.Fatalf("%d bodies decoded in one pass: the case does not exercise it", onePass)
	}
}

// Random batches of plain and other checks, with random white space, read
// in pieces of random sizes.
func TestReadBatchRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var items []string
	for _, s := range plainSeeds {
		if strings.HasPrefix(strings.TrimSpace(s), "{") && !strings.Contains(s, "checks") {
			items = append(items, strings.TrimSpace(s))
		}
	}
	space := []string{"", "", "", " ", "\n", "\t ", "\r\n  "}
	for range 400 {
		var b strings.Builder
		b.WriteString(space[rng.IntN(len(space))] + "{" + space[rng.IntN(len(space))] + `"checks":` + space[rng.IntN(len(space))] + "[")
		n := rng.IntN(30)
		if rng.IntN(20) == 0 {
			n = MaxBatch - 2 + rng.IntN(4)
		}
		for i := range n {
			if i > 0 {
				b.WriteString(space[rng.IntN(len(space))] + ",")
			}
			it := items[rng.IntN(len(items))]
			if rng.IntN(3) > 0 {
				it = items[rng.IntN(2)] // mostly plain
			}
			b.WriteString(space[rng.IntN(len(space))] + it)
		}
		b.WriteString("]" + space[rng.IntN(len(space))] + "}" + space[rng.IntN(len(space))])
		sameBatch(t, b.String(), map[string]func(io.Reader) io.Reader{
			"random pieces": func(r io.Reader) io.Reader { return &pieceReader{r: r, rng: rng} },
		})
	}
}

// pieceReader returns at most a random number of bytes at a time.
type pieceReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (p *pieceReader) Read(b []byte) (int, error) {
	return p.r.Read(b[:min(len(b), 1+p.rng.IntN(300))])
}

// A batch past MaxBatch is refused at the check past the limit, the rest
// of the body unread, plain or not.
func TestReadBatchStopsAtTheLimit(t *testing.T) {
	for name, item := range map[string]string{"empty": `{}`, "plain": `{"entity_id":"e1","user_id":"u1","object_type":"payable","action":"read"}`,
		"escaped": `{"entity_id":"e\u0031"}`} {
		body := `{"checks":[` + strings.TrimSuffix(strings.Repeat(item+",", 20*MaxBatch), ",") + `]}`
		t.Run(name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(body)}
			_, _, _, err := readBatch(r, int64(len(body)), new(wire.CheckBatch))
			e := rolegate.AsError(err)
			if e == nil || e.Code != "invalid_batch" || len(e.Details) == 0 || e.Details[0].Field != "checks" {
				t.Fatalf("got %v, want invalid_batch naming checks", err)
			}
			if limit := int64(MaxBatch*(len(item)+1)) + 64<<10; int64(r.n) > limit {
				t.Fatalf("read %d bytes of %d before refusing", r.n, len(body))
			}
		})
	}
}

// A body that fails as it is read fails as readWalked fails it.
func TestReadBatchReadErrors(t *testing.T) {
	body := `{"checks":[{"entity_id":"e1"},{"entity_id":"e2"}]}`
	for _, fail := range []error{&http.MaxBytesError{Limit: 10}, errBodyBudget, errors.New("connection reset")} {
		for cut := 0; cut < len(body); cut += 7 {
			src := io.MultiReader(strings.NewReader(body[:cut]), errReader{fail})
			_, _, decoded, err := readBatch(src, -1, new(wire.CheckBatch))
			_, _, want := readWalked(io.MultiReader(strings.NewReader(body[:cut]), errReader{fail}), -1, checkBatchPtrType)
			if decoded || fmt.Sprint(err) != fmt.Sprint(want) {
				t.Fatalf("%v after %d bytes: decoded %v, %v; want %v", fail, cut, decoded, err, want)
			}
		}
	}
}

// BenchmarkReadBatch times reading and decoding a batch of 100 different
// checks: in one pass, and walked then decoded (every other body's way).
//
//	go test ./handlers -run '^$' -bench BenchmarkReadBatch -benchmem
func BenchmarkReadBatch(b *testing.B) {
	body := batch100()
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var got wire.CheckBatch
			if _, _, decoded, err := readBatch(strings.NewReader(body), int64(len(body)), &got); err != nil || !decoded {
				b.Fatal(err, decoded)
			}
		}
	})
	b.Run("walked", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, _, err := walkedBatch(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package handlers

import "testing"

func TestTextProblem(t *testing.T) {
	for _, c := range []struct {
		body string
		bad  bool
	}{
		{`{"a":"plain"}`, false},
		{`{"a":"\u00e9\ud83d\ude00\uD83D\uDE00"}`, false},
		{`{"a":"\\ud800"}`, false}, // an escaped backslash, then text
		{`{"a":"\\\ud83d\ude00"}`, false},
		{`{"a":"\"\u0041"}`, false},
		{"{\"a\":\"\xff\"}", true},
		{"{\"a\":\"\xed\xa0\x80\"}", true}, // a surrogate encoded as UTF-8
		{`{"a":"\udc00"}`, true},
		{`{"a":"\ud800"}`, true},
		{`{"a":"\ud800\u0041"}`, true},
		{`{"a":"\ud800\ud800"}`, true},
		{`{"a":"\\\ud800"}`, true},
		{`{"\ud800":1}`, true},
	} {
		if got := textProblem([]byte(c.body)) != ""; got != c.bad {
			t.Errorf("%s: refused %v, want %v", c.body, got, c.bad)
		}
	}
}

// BenchmarkTextProblem: the cost of the UTF-8 and surrogate check on a
// 1 MiB body of text with escapes, per byte (b.SetBytes).
func BenchmarkTextProblem(b *testing.B) {
	var body []byte
	body = append(body, `{"a":[`...)
	for len(body) < 1<<20 {
		body = append(body, `"Schichtführung \u00e9 \ud83d\ude00 \\ plain text",`...)
	}
	body = append(body, `""]}`...)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if textProblem(body) != "" {
			b.Fatal("refused")
		}
	}
}

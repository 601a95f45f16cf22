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

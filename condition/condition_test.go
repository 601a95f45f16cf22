package condition

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
)

func TestEval(t *testing.T) {
	now := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		expr     string
		resource map[string]any
		user     map[string]any
		want     bool
		wantErr  string
	}{
		{"resource.amount <= 10000.0 && resource.currency == 'EUR'", map[string]any{"amount": 1200.0, "currency": "EUR"}, nil, true, ""},
		{"resource.amount <= 10000.0 && resource.currency == 'EUR'", map[string]any{"amount": 12000.0, "currency": "EUR"}, nil, false, ""},
		{"resource.amount <= 10000", map[string]any{"amount": 1200.0}, nil, true, ""}, // int literal, double attribute
		{"resource.amount <= user.approval_limit", map[string]any{"amount": 9000.0}, map[string]any{"approval_limit": 10000.0}, true, ""},
		{"resource.amount <= user.approval_limit", map[string]any{"amount": 9000.0}, nil, false, "no such key: approval_limit"},
		{"resource.amount <= 10000.0", map[string]any{}, nil, false, "no such key: amount"},
		{"resource.amount <= 10000.0", map[string]any{"amount": "lots"}, nil, false, "no such overload"},
		{"resource.cost_center in ['4711', '4712']", map[string]any{"cost_center": "4711"}, nil, true, ""},
		{"now.getHours('UTC') >= 8 && now.getHours('UTC') < 18", nil, nil, true, ""},
		{"'x' in resource && resource.x", map[string]any{"x": true}, nil, true, ""},
		{"!('x' in resource) || resource.x", map[string]any{}, nil, true, ""},
		{"resource.flag", map[string]any{"flag": "yes"}, nil, false, ErrNotBool.Error()},
	}
	for _, c := range cases {
		p, err := Compile(c.expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", c.expr, err)
		}
		got, err := p.Eval(Input{Resource: c.resource, User: c.user, Now: now})
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q over %v: error %v, want one saying %q", c.expr, c.resource, err, c.wantErr)
			}
			if got {
				t.Errorf("%q: true together with an error", c.expr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q over %v, %v: %v, %v; want %v", c.expr, c.resource, c.user, got, err, c.want)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	cases := []struct{ expr, says string }{
		{"", "empty"},
		{"   ", "empty"},
		{"resource.amount +", "1:"},
		{"'approve'", "not a bool"},
		{"1 + 2", "not a bool"},
		{"unknown_var == 1", "undeclared reference"},
		{"resource.amount <= 10000.0 &&\n  resource.currency = 'EUR'", "2:"},
		{strings.Repeat("true && ", 600) + "true", "bytes; at most"},
		{"\xff == 'a'", "UTF-8"},
		// Quadratic work over attributes is refused when written, not at each check.
		{"resource.list.all(x, resource.list.all(y, resource.list.all(z, x == y && y == z)))", "may cost"},
		{"resource.s.matches(resource.t) && resource.u.matches(resource.v) && resource.w.matches(resource.x) && resource.y.matches(resource.z)", "may cost"},
	}
	for _, c := range cases {
		_, err := Compile(c.expr)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%.60q): %v, want an *Error", c.expr, err)
			continue
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("Compile(%.60q): %q, want it to say %q", c.expr, err, c.says)
		}
	}
}

func TestPositionPointsAtTheMistake(t *testing.T) {
	_, err := Compile("resource.amount <= 10000.0 &&\n  resource.currency = 'EUR'")
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Column < 3 {
		t.Fatalf("got %#v, want line 2 at the '='", err)
	}
}

func TestRuntimeCostLimit(t *testing.T) {
	// Within the estimate for attributes of the allowed size, so it compiles;
	// a list past the allowed size is stopped by the runtime limit.
	p, err := Compile("resource.list.all(x, x >= 0.0)")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]any, 5000)
	for i := range big {
		big[i] = float64(i)
	}
	_, err = p.Eval(Input{Resource: map[string]any{"list": big}})
	if err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("evaluation over 5,000 items: %v, want the cost limit", err)
	}
}

func TestEvalWithinAndBeyondLimits(t *testing.T) {
	// Attributes at the limits run without cost tracking and agree with the
	// limited program; others (not normalized, too long) go through it.
	p, err := Compile("resource.list.all(x, x >= 0.0) && resource.s.size() > 0 && user.n >= 1.0")
	if err != nil {
		t.Fatal(err)
	}
	list := make([]any, MaxAttributeString)
	for i := range list {
		list[i] = float64(i)
	}
	at := Input{Resource: map[string]any{"list": list, "s": strings.Repeat("é", MaxAttributeString)}, User: map[string]any{"n": 1.0}}
	beyond := Input{Resource: map[string]any{"list": list, "s": strings.Repeat("é", MaxAttributeString)}, User: map[string]any{"n": 1}} // an int
	if !withinLimits(at.Resource) || !withinLimits(at.User) || withinLimits(beyond.User) {
		t.Fatal("withinLimits")
	}
	for _, in := range []Input{at, beyond} {
		if ok, err := p.Eval(in); !ok || err != nil {
			t.Fatalf("%v %v", ok, err)
		}
	}
	lim, err := p.limitedProgram()
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := lim.Eval(&activation{at}); err != nil || out != types.True {
		t.Fatalf("limited program: %v %v", out, err)
	}
	for _, attrs := range []map[string]any{
		{"s": strings.Repeat("a", MaxAttributeString+1)},
		{"l": make([]any, MaxAttributeString+1)},
		{"l": []any{[]any{}}},
		{"o": map[string]any{}},
		{strings.Repeat("k", MaxAttributeName+1): 1.0},
	} {
		if withinLimits(attrs) {
			t.Fatalf("%.40v is within the limits", attrs)
		}
	}
}

func TestCacheSharesPrograms(t *testing.T) {
	c := NewCache(2)
	a, _ := c.Get("resource.a == 1")
	b, _ := c.Get("resource.a == 1")
	if a != b {
		t.Fatal("the same source compiled twice")
	}
	c.Get("resource.b == 1")
	x, _ := c.Get("resource.c == 1") // past the bound: compiled, not kept
	y, _ := c.Get("resource.c == 1")
	if x == nil || y == nil || x == y {
		t.Fatalf("past the bound: %p %p, want two fresh programs", x, y)
	}
	if _, err := c.Get("resource.a +"); err == nil {
		t.Fatal("a broken source compiled")
	}
}

func BenchmarkEval(b *testing.B) {
	p, err := Compile("resource.amount <= user.approval_limit && resource.currency == 'EUR'")
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Resource: map[string]any{"amount": 1200.0, "currency": "EUR"}, User: map[string]any{"approval_limit": 10000.0}, Now: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.Eval(in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	got, err := Normalize(map[string]any{"amount": json.Number("1200"), "n": 3, "tags": []any{"a", 1.5, true, nil}, "s": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got["amount"] != 1200.0 || got["n"] != 3.0 || len(got["tags"].([]any)) != 4 || got["s"] != "x" {
		t.Fatalf("got %#v", got)
	}
	if m, err := Normalize(map[string]any{}); m != nil || err != nil {
		t.Fatalf("empty: %v %v", m, err)
	}
	many := map[string]any{}
	for i := 0; i <= MaxAttributes; i++ {
		many[strings.Repeat("k", i+1)] = 1.0
	}
	bad := []map[string]any{
		many,
		{"": 1.0},
		{strings.Repeat("n", MaxAttributeName+1): 1.0},
		{"o": map[string]any{"x": 1.0}},
		{"l": []any{[]any{1.0}}},
		{"l": make([]any, MaxAttributeString+1)},
		{"s": strings.Repeat("é", MaxAttributeString+1)},
		{"f": math.Inf(1)},
		{"j": json.Number("1e999")},
		{"c": struct{}{}},
	}
	for i, b := range bad {
		if _, err := Normalize(b); err == nil {
			t.Errorf("case %d: accepted", i)
		} else if _, ok := err.(*AttributeError); !ok {
			t.Errorf("case %d: %T", i, err)
		}
	}
	if Hash("a") == Hash("b") || len(Hash("a")) != 64 {
		t.Fatal("hash")
	}
}

// Package condition compiles and evaluates the CEL expressions a right may
// carry ("resource.amount <= 10000.0 && resource.currency == 'EUR'").
//
// An expression sees three variables:
//
//	resource  map(string, dyn)  the attributes a check sends
//	user      map(string, dyn)  the attributes stored on the user
//	now       timestamp         the check's time
//
// It must be a bool, at most MaxSource bytes, and cost at most MaxCost by
// CEL's estimate, with every string and list of a check's attributes no
// longer than the limits below (what the API lets a check send); the same
// limit is enforced again while evaluating. So no role can make checks slow.
//
// Evaluation errors (a missing attribute, a wrong type) are reported, never
// turned into a value: the caller decides what an error means. The engine's
// rule is that an allow counts only when its condition is true, and a deny
// applies when its condition is true or cannot be evaluated.
package condition

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Limits on an expression and on the attributes it is evaluated over.
const (
	// MaxSource is the longest expression, in bytes.
	MaxSource = 4096
	// MaxCost is the most an expression may cost by CEL's estimate, and the
	// most one evaluation may spend (CEL's cost units: about one per
	// operation, more for string work).
	MaxCost = 10_000
	// MaxAttributes is the most attributes a resource or a user carries.
	MaxAttributes = 64
	// MaxAttributeString is the longest string attribute, in characters, and
	// the longest list attribute, in items.
	MaxAttributeString = 1024
)

// Error is why an expression was refused: CEL's message and where it points.
type Error struct {
	Message string
	Line    int // 1-based; 0 when the error is about the whole expression
	Column  int // 1-based
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Message)
}

// Program is a compiled expression, safe for concurrent use.
//
// Its cost was bounded when compiled, for attributes within the limits
// (Normalize's): evaluated over such attributes, it runs without tracking
// its cost. Attributes beyond them are evaluated by a second program,
// compiled on first need, that stops at MaxCost.
type Program struct {
	source   string
	prg      cel.Program // no cost tracking: for attributes within the limits
	readsNow bool

	limitedOnce sync.Once
	limited     cel.Program // stops at MaxCost: for any attributes
	limitedErr  error
}

// ReadsNow reports whether the expression reads now: its value may change
// with time alone, so no copy of an answer it gave may be kept.
func (p *Program) ReadsNow() bool { return p.readsNow }

// Source is the expression as written.
func (p *Program) Source() string { return p.source }

// Input is what one evaluation sees.
type Input struct {
	Resource map[string]any
	User     map[string]any
	Now      time.Time
	// Checked says that the caller found Resource and User within the
	// limits (WithinLimits of each), so that evaluating several conditions
	// over one input does not walk the attributes again for each.
	Checked bool
}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(
			cel.Variable("resource", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("user", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("now", cel.TimestampType),
			// JSON numbers arrive as doubles: 1200 <= 10000 must hold.
			cel.CrossTypeNumericComparisons(true),
			cel.ParserExpressionSizeLimit(MaxSource),
			cel.ParserRecursionLimit(32),
		)
	})
	return env, envErr
}

// Compile type-checks and cost-checks an expression. A refusal is an *Error.
func Compile(source string) (*Program, error) {
	if strings.TrimSpace(source) == "" {
		return nil, &Error{Message: "the condition is empty"}
	}
	if len(source) > MaxSource {
		return nil, &Error{Message: fmt.Sprintf("the condition is %d bytes; at most %d", len(source), MaxSource)}
	}
	if !utf8.ValidString(source) {
		return nil, &Error{Message: "the condition is not valid UTF-8"}
	}
	e, err := celEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := e.Compile(source)
	if iss.Err() != nil {
		first := iss.Errors()[0]
		return nil, &Error{Message: first.Message, Line: first.Location.Line(), Column: first.Location.Column() + 1}
	}
	// A dyn (an attribute itself: "resource.urgent") is checked when
	// evaluated; anything else that is not a bool is a mistake now.
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		return nil, &Error{Message: fmt.Sprintf("the condition is a %s, not a bool", ast.OutputType())}
	}
	est, err := e.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, &Error{Message: "the condition's cost cannot be estimated: " + err.Error()}
	}
	if est.Max > MaxCost {
		return nil, &Error{Message: fmt.Sprintf("the condition may cost %d; at most %d (loops over attributes and string work cost most)", est.Max, MaxCost)}
	}
	prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &Error{Message: err.Error()}
	}
	p := &Program{source: source, prg: prg}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "now" {
			p.readsNow = true
			break
		}
	}
	return p, nil
}

// limitedProgram returns the program that stops at MaxCost, compiling it on
// first use.
func (p *Program) limitedProgram() (cel.Program, error) {
	p.limitedOnce.Do(func() {
		e, err := celEnv()
		if err != nil {
			p.limitedErr = err
			return
		}
		ast, iss := e.Compile(p.source)
		if iss.Err() != nil {
			p.limitedErr = iss.Err()
			return
		}
		p.limited, p.limitedErr = e.Program(ast, cel.CostLimit(MaxCost), cel.EvalOptions(cel.OptOptimize))
	})
	return p.limited, p.limitedErr
}

// ErrNotBool is an evaluation whose value is not a bool (a dyn attribute can
// make a well-typed expression yield something else).
var ErrNotBool = errors.New("the condition's value is not a bool")

// Eval evaluates the expression. An error (a missing attribute, a wrong
// type, the cost limit) is returned as is; its text is CEL's ("no such key:
// amount").
func (p *Program) Eval(in Input) (bool, error) {
	prg := p.prg
	if !in.Checked && (!withinLimits(in.Resource) || !withinLimits(in.User)) {
		var err error
		if prg, err = p.limitedProgram(); err != nil {
			return false, err
		}
	}
	out, _, err := prg.Eval(&activation{in})
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, ErrNotBool
	}
	return bool(b), nil
}

// WithinLimits reports whether attributes are as Normalize returns them (or
// empty), so that they can be evaluated as they are.
func WithinLimits(attrs map[string]any) bool { return withinLimits(attrs) }

// withinLimits reports whether attributes are within the limits the cost
// estimate assumed: at most MaxAttributes names of at most MaxAttributeName
// bytes, each value null, a bool, a float64, a string of at most
// MaxAttributeString characters or a list of at most MaxAttributeString such
// scalars (what Normalize returns).
func withinLimits(attrs map[string]any) bool {
	if len(attrs) > MaxAttributes {
		return false
	}
	for k, v := range attrs {
		if len(k) > MaxAttributeName {
			return false
		}
		if l, ok := v.([]any); ok {
			if len(l) > MaxAttributeString {
				return false
			}
			for _, item := range l {
				if !scalarWithinLimits(item) {
					return false
				}
			}
			continue
		}
		if !scalarWithinLimits(v) {
			return false
		}
	}
	return true
}

func scalarWithinLimits(v any) bool {
	switch x := v.(type) {
	case nil, bool, float64:
		return true
	case string:
		return len(x) <= MaxAttributeString || utf8.RuneCountInString(x) <= MaxAttributeString
	}
	return false
}

// activation resolves the three variables without building a map per
// evaluation.
type activation struct{ in Input }

// noAttributes stands for a nil resource or user.
var noAttributes = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "resource":
		if a.in.Resource == nil {
			return noAttributes, true
		}
		return a.in.Resource, true
	case "user":
		if a.in.User == nil {
			return noAttributes, true
		}
		return a.in.User, true
	case "now":
		return types.Timestamp{Time: a.in.Now}, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// estimator bounds the sizes CEL cannot see: strings and lists of the
// attributes, and the attribute maps themselves.
type estimator struct{}

func (estimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if n.Path() == nil {
		return nil
	}
	max := uint64(MaxAttributeString)
	if len(n.Path()) == 1 { // resource, user: the maps
		max = MaxAttributes
	}
	return &checker.SizeEstimate{Min: 0, Max: max}
}

func (estimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Cache shares compiled programs by source, so that a thousand roles with
// the same condition compile it once. It holds at most max programs; past
// that, Get compiles without keeping.
type Cache struct {
	mu   sync.RWMutex
	max  int
	prgs map[string]*Program
}

// NewCache returns a cache of at most max programs.
func NewCache(max int) *Cache { return &Cache{max: max, prgs: map[string]*Program{}} }

// Get returns the compiled program of source, compiling it on first use.
func (c *Cache) Get(source string) (*Program, error) {
	c.mu.RLock()
	p := c.prgs[source]
	c.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	p, err := Compile(source)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.prgs) < c.max {
		c.prgs[source] = p
	}
	c.mu.Unlock()
	return p, nil
}

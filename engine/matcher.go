package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/effector"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/util"
	"github.com/casbin/govaluate"
)

// Casbin's Enforce does the same work before every decision, whatever the
// rules: it copies its function map, builds a g function (with a memo of its
// own) for each role definition, maps the request's and the rules' tokens,
// runs a regular expression over the matcher to look for eval() and looks
// the compiled matcher up by its text. That fixed work cost more than
// evaluating the matcher over a check's few gathered rules, and a batch of
// uniform checks pays it on every check.
//
// A decider therefore compiles the model's matcher once, with Casbin's own
// functions and the decider's holds and cond, and decides each check as
// Casbin's enforce does: the same compiled expression evaluated over each
// rule in order, each rule's effect read from its eft token, and Casbin's
// effector merging them under the model's policy effect, stopping where it
// stops. The decision is still the model's matcher and effect evaluated by
// Casbin's evaluator; only the per-call setup is done once. A model this
// cannot follow exactly (a matcher with eval(), one naming no rule token, one
// calling a function it does not have, such as g()) keeps calling Enforce.
// TestCompiledMatcherIsEnforce holds the two equal over random policies.

// compiledMatcher is a model's matcher compiled for one decider.
type compiledMatcher struct {
	expr   *govaluate.EvaluableExpression
	effect string // the model's policy effect
	eft    int    // the index of p_eft in a rule, -1 when rules have none
	merger effector.DefaultEffector
	params matcherParams
	// Reused from check to check: each rule's effect and match.
	effects []effector.Effect
	results []float64
}

// matcherParams are a check's request values and the rule being matched, as
// the expression reads them (r_sub, p_obj).
type matcherParams struct {
	rTokens []string
	pTokens []string
	r       []any
	p       []string
}

// Get is Casbin's enforceParameters.Get over token lists: a model has a
// handful of tokens, fewer than a map lookup costs.
func (m *matcherParams) Get(name string) (any, error) {
	if name == "" {
		return nil, nil
	}
	switch name[0] {
	case 'p':
		for i, t := range m.pTokens {
			if t == name {
				return m.p[i], nil
			}
		}
	case 'r':
		for i, t := range m.rTokens {
			if t == name {
				return m.r[i], nil
			}
		}
	}
	return nil, errors.New("No parameter '" + name + "' found.")
}

// compileMatcher compiles enf's model matcher with its built-in functions
// and extra, or reports false when the model is one Enforce must decide
// (see above).
func compileMatcher(enf *casbin.Enforcer, extra map[string]govaluate.ExpressionFunction) (*compiledMatcher, bool) {
	m := enf.GetModel()
	r, p, e, mt := m["r"]["r"], m["p"]["p"], m["e"]["e"], m["m"]["m"]
	if r == nil || p == nil || e == nil || mt == nil {
		return nil, false
	}
	exp := mt.Value
	if util.HasEval(exp) || !strings.Contains(exp, "p_") {
		return nil, false
	}
	fm := model.LoadFunctionMap()
	functions := fm.GetFunctions()
	for name, f := range extra {
		functions[name] = f
	}
	expr, err := govaluate.NewEvaluableExpressionWithFunctions(exp, functions)
	if err != nil {
		return nil, false
	}
	c := &compiledMatcher{expr: expr, effect: e.Value, eft: -1,
		params: matcherParams{rTokens: r.Tokens, pTokens: p.Tokens}}
	for i, t := range p.Tokens {
		if t == "p_eft" {
			c.eft = i
			break
		}
	}
	return c, true
}

// enforce decides a request (its values in the order of the request
// definition) over rules as Casbin's Enforce decides it with rules as the
// model's p rules; rules is not empty.
func (c *compiledMatcher) enforce(rules [][]string, rvals ...any) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	if len(rvals) != len(c.params.rTokens) {
		return false, fmt.Errorf("invalid request size: expected %d, got %d, rvals: %v", len(c.params.rTokens), len(rvals), rvals)
	}
	c.params.r = rvals
	defer func() { c.params.r, c.params.p = nil, nil }()
	n := len(rules)
	c.effects = append(c.effects[:0], make([]effector.Effect, n)...)
	c.results = append(c.results[:0], make([]float64, n)...)
	effect := effector.Indeterminate
	for i, pvals := range rules {
		if len(pvals) != len(c.params.pTokens) {
			return false, fmt.Errorf("invalid policy size: expected %d, got %d, pvals: %v", len(c.params.pTokens), len(pvals), pvals)
		}
		c.params.p = pvals
		result, err := c.expr.Eval(&c.params)
		if err != nil {
			return false, err
		}
		switch result := result.(type) {
		case bool:
			if result {
				c.results[i] = 1
			}
		case float64:
			if result != 0 {
				c.results[i] = 1
			}
		default:
			return false, errors.New("matcher result should be bool, int or float")
		}
		c.effects[i] = effector.Allow
		if c.eft >= 0 {
			switch pvals[c.eft] {
			case "allow":
			case "deny":
				c.effects[i] = effector.Deny
			default:
				c.effects[i] = effector.Indeterminate
			}
		}
		effect, _, err = c.merger.MergeEffects(c.effect, c.effects, c.results, i, n)
		if err != nil {
			return false, err
		}
		if effect != effector.Indeterminate {
			break
		}
	}
	return effect == effector.Allow, nil
}

package policy

import (
	"strings"

	"github.com/rolegate/rolegate"
)

// ruleKey identifies a rule in a set: its type and values.
func ruleKey(r rolegate.Rule) string { return r.PType + "\x00" + strings.Join(r.Values, "\x00") }

// diffRules returns the rules in want but not in have, and those in have but
// not in want.
func diffRules(have, want []rolegate.Rule) (add, remove []rolegate.Rule) {
	h := make(map[string]bool, len(have))
	for _, r := range have {
		h[ruleKey(r)] = true
	}
	w := make(map[string]bool, len(want))
	for _, r := range want {
		w[ruleKey(r)] = true
		if !h[ruleKey(r)] {
			add = append(add, r)
		}
	}
	for _, r := range have {
		if !w[ruleKey(r)] {
			remove = append(remove, r)
		}
	}
	return add, remove
}

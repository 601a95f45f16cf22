package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rolegate/rolegate/client"
)

// attrFlags are the attributes of a check's resource or of a user, given as
// --attr name=value (repeatable) and --resource/--attributes '{...}' (one
// JSON object).
type attrFlags struct {
	pairs  []string
	object string
	name   string // the JSON flag's name, for messages
}

// register declares the flags on cmd: --attr, and --NAME for the JSON object.
func (f *attrFlags) register(cmd *cobra.Command, name, what string) {
	f.name = name
	cmd.Flags().StringArrayVar(&f.pairs, "attr", nil, what+" attribute as name=value (repeatable); the value is JSON when it reads as a JSON number, true, false, null, \"string\" or list, else the text as it is")
	cmd.Flags().StringVar(&f.object, name, "", what+" attributes as one JSON object, e.g. '{\"amount\":1200}' (--attr adds to it)")
}

// given reports whether either flag was used.
func (f *attrFlags) given() bool { return len(f.pairs) > 0 || f.object != "" }

// attributes reads the flags: the JSON object, then each --attr; a name
// given twice is a usage error. nil when neither flag was used.
func (f *attrFlags) attributes() (map[string]any, error) {
	if !f.given() {
		return nil, nil
	}
	out := map[string]any{}
	if f.object != "" {
		d := json.NewDecoder(strings.NewReader(f.object))
		d.UseNumber()
		if err := d.Decode(&out); err != nil || out == nil {
			return nil, usageError{fmt.Errorf("--%s must be a JSON object such as '{\"amount\":1200}': %v", f.name, describeJSON(err))}
		}
		if d.More() {
			return nil, usageError{fmt.Errorf("--%s holds more than one JSON value", f.name)}
		}
	}
	for _, p := range f.pairs {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, usageError{fmt.Errorf("--attr %q: give name=value", p)}
		}
		if _, dup := out[name]; dup {
			return nil, usageError{fmt.Errorf("attribute %q is given twice", name)}
		}
		out[name] = attrValue(value)
	}
	return out, nil
}

func describeJSON(err error) string {
	if err == nil {
		return "null"
	}
	return err.Error()
}

// attrValue reads one --attr value: a JSON number (kept as written), true,
// false, null, a quoted string or a list is that value; anything else is the
// text itself ("EUR", "2026-01-01", "" for name=).
func attrValue(s string) any {
	t := strings.TrimSpace(s)
	if t == "" {
		return s
	}
	switch c := t[0]; {
	case c == '"', c == '[', c == '-', c >= '0' && c <= '9', t == "true", t == "false", t == "null":
		d := json.NewDecoder(strings.NewReader(t))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err == nil && !d.More() {
			return v
		}
	}
	return s
}

// attrsText is attributes as one line of JSON (keys sorted), "-" for none.
func attrsText(m map[string]any) string {
	if len(m) == 0 {
		return "-"
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(m); err != nil {
		return "?"
	}
	return strings.TrimSpace(b.String())
}

// conditionCells are a match's condition and its value in this check (true,
// false, or "error: " and why it could not be evaluated), for the explain
// table; "-" when it has none.
func conditionCells(m client.Match) (cond, value string) {
	if m.Condition == "" {
		return "-", "-"
	}
	switch {
	case m.ConditionError != "":
		return m.Condition, "error: " + m.ConditionError
	case m.ConditionValue != nil:
		return m.Condition, fmt.Sprint(*m.ConditionValue)
	}
	return m.Condition, "-"
}

// hasConditions reports whether any right of p is conditional.
func hasConditions(p client.Permissions) bool {
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Condition != "" {
				return true
			}
		}
	}
	return false
}

// rightsTable prints rights, with a CONDITION column when any has one.
func (x *cli) rightsTable(p client.Permissions) error {
	rows := permRows(p)
	if !hasConditions(p) {
		return table(x.stdout, []string{"OBJECT", "ACTION", "PERMISSION"}, rows)
	}
	i := 0
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			rows[i] = append(rows[i], orDash(a.Condition))
			i++
		}
	}
	return table(x.stdout, []string{"OBJECT", "ACTION", "PERMISSION", "CONDITION"}, rows)
}

var errNoChange = errors.New("nothing to change: give --email, --name, --role, --attr or --attributes")

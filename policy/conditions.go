package policy

import (
	"errors"
	"fmt"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
	"github.com/rolegate/rolegate/engine"
)

// Conditions on rights and the attributes they read (issue 24). A right's
// condition is compiled when a role or a user's rights are written
// (ValidatePermissions), stored by its hash with the rules that name it
// (Tx.PutConditions, engine.Conditions) and carried to the engine in the write's
// delta. Attributes, a user's and a check's, are checked and normalized by
// condition.Normalize.

// validateConditions checks the conditions of rights: each compiles, and
// not_allowed carries none. The details name every offender
// (field.objects[i].actions[j].condition); nil when all are fine.
func validateConditions(field string, p rolegate.Permissions) error {
	var details []rolegate.Detail
	for i, o := range p.Objects {
		for j, a := range o.Actions {
			if a.Condition == "" {
				continue
			}
			cf := fmt.Sprintf("%s.objects[%d].actions[%d].condition", field, i, j)
			if a.Permission == rolegate.NotAllowed {
				details = append(details, rolegate.Detail{Field: cf, Message: "not_allowed takes no condition (it gives nothing to narrow)", Value: clip(a.Condition)})
				continue
			}
			if _, err := condition.Compile(a.Condition); err != nil {
				details = append(details, rolegate.Detail{Field: cf, Message: conditionMessage(err), Value: clip(a.Condition)})
			}
		}
	}
	if len(details) == 0 {
		return nil
	}
	return &rolegate.Error{Kind: rolegate.KindInvalid, Code: "invalid_condition", Message: details[0].Field + ": " + details[0].Message, Details: details}
}

// conditionMessage is CEL's message with where it points (line:column).
func conditionMessage(err error) string {
	var ce *condition.Error
	if errors.As(err, &ce) {
		return ce.Error()
	}
	return "the condition cannot be compiled"
}

// putConditions stores the conditions rights name, with the rules compiled
// from them.
func putConditions(tx Tx, entityID string, p rolegate.Permissions) error {
	if conds := engine.Conditions(p); len(conds) > 0 {
		return tx.PutConditions(entityID, conds)
	}
	return nil
}

// normalizeAttributes checks attributes (condition.Normalize) and returns
// them as conditions read them; a refusal is 422 invalid_attributes naming
// field.
func normalizeAttributes(field string, attrs map[string]any) (map[string]any, error) {
	out, err := condition.Normalize(attrs)
	if err != nil {
		msg := err.Error()
		return nil, &rolegate.Error{Kind: rolegate.KindInvalid, Code: "invalid_attributes", Message: field + ": " + msg,
			Details: []rolegate.Detail{{Field: field, Message: msg}}}
	}
	return out, nil
}

// sameAttributes reports whether two users' attributes are the same (as
// stored: nil and empty are).
func sameAttributes(a, b map[string]any) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	ea, errA := EncodeAttributes(a)
	eb, errB := EncodeAttributes(b)
	return errA == nil && errB == nil && ea == eb
}

package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/rolegate/rolegate"
)

var (
	identRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	scopeRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// An object type may carry a sub-resource tail after a colon, as in
	// Dintero's "accounts:/auth/users"; it must fit a casbin_rule column.
	tailRe = regexp.MustCompile(`^[A-Za-z0-9._:/-]+$`)
)

// Limits on what callers may send.
const (
	MaxNameLen        = 255
	MaxDescriptionLen = 4096
	MaxEmailLen       = 320
	MaxRights         = 1000 // (object type, action) pairs in one role
)

// ValidIdent reports whether s may be an object type or an action: an
// identifier or the wildcard.
func ValidIdent(s string) bool { return s == rolegate.Wildcard || identRe.MatchString(s) }

// MaxObjectTypeLen is the longest object type, tail included: the width of a
// casbin_rule column.
const MaxObjectTypeLen = 100

// ValidObjectType reports whether s may be an object type: the wildcard, or an
// identifier optionally followed by ":" and a sub-resource tail of
// A-Za-z0-9._:/- (such as "accounts:/auth/users"), at most 100 characters.
func ValidObjectType(s string) bool {
	if s == rolegate.Wildcard {
		return true
	}
	if len(s) > MaxObjectTypeLen {
		return false
	}
	head, tail, hasTail := strings.Cut(s, ":")
	if !identRe.MatchString(head) {
		return false
	}
	return !hasTail || tailRe.MatchString(tail)
}

// ValidScope reports whether s may be an assignment scope such as "team:42":
// 1-128 of A-Za-z0-9._:-, not "." or "..".
func ValidScope(s string) bool { return scopeRe.MatchString(s) && !rolegate.DotSegment(s) }

// invalidScope is the error for a scope that breaks ValidScope's rules, the
// same wherever a scope is given (assignments, checks, rights, who-can).
func invalidScope(field string) error {
	return rolegate.Invalid("invalid_scope", field, "%s must be 1-128 characters of A-Za-z0-9._:- such as team:42, not . or ..", field)
}

// printableASCII reports whether s holds only printable ASCII characters.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// NormalizeName is a name as Rolegate stores and compares it: Unicode NFC,
// so that "Schichtf\u0075\u0308hrung" and "Schichtf\u00fchrung" are one name.
func NormalizeName(s string) string { return norm.NFC.String(s) }

// ValidateName checks a role name (after NormalizeName): 1-255 characters
// (code points, not bytes) of printable Unicode, not only spaces. Control
// characters, format characters (bidi overrides, zero-width joiners and
// spaces), separators other than the ASCII space and invalid UTF-8 are
// refused.
func ValidateName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return rolegate.Invalid("invalid_name", field, "%s must not be empty", field)
	}
	return validateLabel(field, name, "invalid_name")
}

// validateLabel checks a name that may be empty: at most MaxNameLen
// characters of printable Unicode.
func validateLabel(field, name, code string) error {
	switch {
	case !utf8.ValidString(name):
		return rolegate.Invalid(code, field, "%s must be valid UTF-8", field)
	case utf8.RuneCountInString(name) > MaxNameLen:
		return rolegate.Invalid(code, field, "%s must be at most %d characters", field, MaxNameLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return rolegate.Invalid(code, field, "%s must be printable characters; U+%04X is not", field, r)
		}
	}
	return nil
}

// ValidateASCIIName checks a name under Monite's rule: 1-255 printable ASCII
// characters, not only spaces.
func ValidateASCIIName(field, name string) error {
	if err := ValidateName(field, name); err != nil {
		return err
	}
	if !printableASCII(name) {
		return rolegate.Invalid("invalid_name", field, "%s can contain only ASCII characters", field)
	}
	return nil
}

// validateText checks a free text field: valid UTF-8 without control
// characters, at most max bytes.
func validateText(field, s string, max int) error {
	if len(s) > max {
		return rolegate.Invalid("invalid_"+lastPart(field), field, "%s must be at most %d characters", field, max)
	}
	if !utf8.ValidString(s) {
		return rolegate.Invalid("invalid_"+lastPart(field), field, "%s must be valid UTF-8", field)
	}
	for _, r := range s {
		if r < ' ' && r != '\n' && r != '\t' || r == 0x7f {
			return rolegate.Invalid("invalid_"+lastPart(field), field, "%s must not hold control characters", field)
		}
	}
	return nil
}

func lastPart(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

// Catalog lists the object types a deployment knows and their actions. When a
// service has one, roles may only name what it lists (or "*").
type Catalog struct {
	ObjectTypes []CatalogObject `json:"object_types"`
	index       map[string]map[string]bool
}

// CatalogObject is one object type of a catalog and its actions; its JSON
// tags are the catalog file's format (ParseCatalog).
type CatalogObject struct {
	ObjectType string   `json:"object_type"`
	Actions    []string `json:"actions"`
}

// NewCatalog validates and indexes a catalog.
func NewCatalog(objects []CatalogObject) (*Catalog, error) {
	c := &Catalog{ObjectTypes: objects, index: map[string]map[string]bool{}}
	for i, o := range objects {
		if !identRe.MatchString(o.ObjectType) {
			return nil, fmt.Errorf("catalog: object_types[%d]: %q is not an identifier", i, o.ObjectType)
		}
		if c.index[o.ObjectType] != nil {
			return nil, fmt.Errorf("catalog: object type %q listed twice", o.ObjectType)
		}
		acts := map[string]bool{}
		for _, a := range o.Actions {
			if !identRe.MatchString(a) {
				return nil, fmt.Errorf("catalog: %s: action %q is not an identifier", o.ObjectType, a)
			}
			acts[a] = true
		}
		c.index[o.ObjectType] = acts
	}
	return c, nil
}

// Has reports whether the catalog allows (objectType, action); "*" stands for
// any listed one.
func (c *Catalog) Has(objectType, action string) (objOK, actOK bool) {
	if objectType == rolegate.Wildcard {
		if action == rolegate.Wildcard {
			return true, true
		}
		for _, acts := range c.index {
			if acts[action] {
				return true, true
			}
		}
		return true, false
	}
	acts, ok := c.index[objectType]
	if !ok {
		return false, false
	}
	return true, action == rolegate.Wildcard || acts[action]
}

// ValidatePermissions checks rights as a role or a user holds them: valid
// identifiers, known values, no repeated (object type, action) pair, every
// condition compiling and none on not_allowed (422 invalid_condition), and,
// when a catalog is given, only what it lists. All offenders are reported at
// once.
func ValidatePermissions(field string, p rolegate.Permissions, catalog *Catalog) error {
	var details []rolegate.Detail
	seen := map[[2]string]bool{}
	var unknown []string
	repeated := false // a pair appears more than once: the code is duplicate_permission
	n := 0
	for i, o := range p.Objects {
		of := fmt.Sprintf("%s.objects[%d].object_type", field, i)
		if !ValidObjectType(o.ObjectType) {
			details = append(details, rolegate.Detail{Field: of, Message: "must be \"*\" or an identifier (^[a-z][a-z0-9_]{0,63}$) with an optional \":<sub-resource>\" tail", Value: clip(o.ObjectType)})
			continue
		}
		if len(o.Actions) == 0 {
			details = append(details, rolegate.Detail{Field: fmt.Sprintf("%s.objects[%d].actions", field, i), Message: "must not be empty"})
		}
		for j, a := range o.Actions {
			n++
			af := fmt.Sprintf("%s.objects[%d].actions[%d]", field, i, j)
			if !ValidIdent(a.ActionName) {
				details = append(details, rolegate.Detail{Field: af + ".action_name", Message: "must match ^[a-z][a-z0-9_]{0,63}$ or be \"*\"", Value: clip(a.ActionName)})
				continue
			}
			if !a.Permission.Valid() {
				details = append(details, rolegate.Detail{Field: af + ".permission", Message: "must be one of allowed, allowed_for_own, not_allowed, denied", Value: clip(string(a.Permission))})
			}
			key := [2]string{o.ObjectType, a.ActionName}
			if seen[key] {
				details = append(details, rolegate.Detail{Field: af + ".action_name", Message: fmt.Sprintf("(%s, %s) appears more than once", o.ObjectType, a.ActionName), Value: a.ActionName})
				repeated = true
			}
			seen[key] = true
			if catalog != nil {
				objOK, actOK := catalog.Has(o.ObjectType, a.ActionName)
				switch {
				case !objOK:
					unknown = append(unknown, o.ObjectType)
				case !actOK:
					unknown = append(unknown, o.ObjectType+"."+a.ActionName)
				}
			}
		}
	}
	if n > MaxRights {
		return rolegate.Invalid("too_many_rights", field, "%s holds %d rights; at most %d are allowed", field, n, MaxRights)
	}
	if len(details) > 0 {
		code := "invalid_permissions"
		if repeated {
			code = "duplicate_permission"
		}
		return &rolegate.Error{Kind: rolegate.KindInvalid, Code: code, Message: details[0].Field + ": " + details[0].Message, Details: details}
	}
	if err := validateConditions(field, p); err != nil {
		return err
	}
	if len(unknown) > 0 {
		unknown = dedupe(unknown)
		e := &rolegate.Error{Kind: rolegate.KindInvalid, Code: "unknown_object_type", Message: "not in the object-type catalog: " + strings.Join(unknown, ", ")}
		for _, u := range unknown {
			e.Details = append(e.Details, rolegate.Detail{Field: field, Message: "not in the object-type catalog", Value: u})
		}
		return e
	}
	return nil
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// clip shortens a value echoed back in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

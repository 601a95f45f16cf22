package condition

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"
)

// MaxAttributeName is the longest attribute name, in bytes.
const MaxAttributeName = 64

// Hash names a condition in the compiled rules: the hex SHA-256 of its source
// (an expression is longer than a rule's field holds).
func Hash(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])
}

// AttributeError is why attributes were refused; Name is the attribute ("" for
// the whole object).
type AttributeError struct {
	Name    string
	Message string
}

func (e *AttributeError) Error() string {
	if e.Name == "" {
		return e.Message
	}
	return fmt.Sprintf("attribute %q: %s", e.Name, e.Message)
}

// Normalize checks attributes (a check's resource, a user's attributes)
// against the limits and returns them as conditions read them: at most
// MaxAttributes names of at most MaxAttributeName bytes, each value null, a
// bool, a finite number, a string of at most MaxAttributeString characters,
// or a list of at most MaxAttributeString such scalars. Numbers become
// float64 (json.Number included), so that 1200 and 1200.0 compare alike.
// Nested objects are refused. A refusal is an *AttributeError naming the
// first offending attribute in name order. Empty attributes give nil.
func Normalize(attrs map[string]any) (map[string]any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	if len(attrs) > MaxAttributes {
		return nil, &AttributeError{Message: fmt.Sprintf("%d attributes; at most %d", len(attrs), MaxAttributes)}
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(map[string]any, len(attrs))
	for _, k := range names {
		switch {
		case k == "":
			return nil, &AttributeError{Message: "an attribute name is empty"}
		case len(k) > MaxAttributeName:
			return nil, &AttributeError{Name: k[:MaxAttributeName] + "…", Message: fmt.Sprintf("the name is longer than %d bytes", MaxAttributeName)}
		case !utf8.ValidString(k):
			return nil, &AttributeError{Message: "an attribute name is not valid UTF-8"}
		}
		v := attrs[k]
		if l, ok := v.([]any); ok {
			if len(l) > MaxAttributeString {
				return nil, &AttributeError{Name: k, Message: fmt.Sprintf("a list of %d items; at most %d", len(l), MaxAttributeString)}
			}
			nl := make([]any, len(l))
			for i, item := range l {
				s, err := scalar(item)
				if err != nil {
					return nil, &AttributeError{Name: k, Message: fmt.Sprintf("item %d: %s", i, err)}
				}
				nl[i] = s
			}
			out[k] = nl
			continue
		}
		s, err := scalar(v)
		if err != nil {
			return nil, &AttributeError{Name: k, Message: err.Error()}
		}
		out[k] = s
	}
	return out, nil
}

func scalar(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("not valid UTF-8")
		}
		if n := utf8.RuneCountInString(x); n > MaxAttributeString {
			return nil, fmt.Errorf("a string of %d characters; at most %d", n, MaxAttributeString)
		}
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("the number %s is out of range", x)
		}
		return f, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("the number is not finite")
		}
		return x, nil
	case float32:
		return scalar(float64(x))
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case map[string]any:
		return nil, fmt.Errorf("objects are not allowed as values (use flat names such as owner_department)")
	case []any:
		return nil, fmt.Errorf("lists may hold only null, booleans, numbers and strings")
	}
	return nil, fmt.Errorf("a %T is not a JSON scalar", v)
}

package rolegate

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the transport: each kind has one HTTP status.
type Kind int

// The kinds of error the domain returns.
const (
	KindInternal        Kind = iota // 500: a bug or an unexpected failure
	KindInvalid                     // 422: well-formed but invalid input
	KindBadRequest                  // 400: malformed request
	KindUnauthenticated             // 401
	KindForbidden                   // 403
	KindNotFound                    // 404
	KindConflict                    // 409
	KindPrecondition                // 412
	KindUnavailable                 // 503: storage or policy not available now
	KindGone                        // 410: what was asked for is no longer kept
	KindTooMany                     // 429: the caller is over its share; with Retry-After
)

// Storage sentinels: adapters return these (wrapped) so that the domain can
// tell a missing row or a violated uniqueness constraint from a failure.
var (
	ErrNotFound    = errors.New("not found")
	ErrDuplicate   = errors.New("duplicate key")
	ErrUnavailable = errors.New("storage unavailable")
)

// Detail points at one offending input.
type Detail struct {
	Field   string
	Message string
	Value   string
}

// Error is a coded domain error. Code is a stable snake_case string; Message is
// for people; Details name the offending fields.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details []Detail
	// Violations are the separation-of-duties violations a refused write
	// would have created (code separation_of_duties): at most
	// MaxViolationsShown.
	Violations []Violation
	Err        error // the cause, never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a coded error.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a 422 error naming one field.
func Invalid(code, field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Kind: KindInvalid, Code: code, Message: msg, Details: []Detail{{Field: field, Message: msg}}}
}

// AsError returns the coded error inside err, mapping storage sentinels and
// turning anything else into an internal error that hides its text.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return &Error{Kind: KindNotFound, Code: "not_found", Message: "not found", Err: err}
	case errors.Is(err, ErrUnavailable):
		return &Error{Kind: KindUnavailable, Code: "storage_unavailable", Message: "storage is unavailable, try again", Err: err}
	case errors.Is(err, ErrDuplicate):
		return &Error{Kind: KindConflict, Code: "conflict", Message: "conflicts with an existing object", Err: err}
	}
	return &Error{Kind: KindInternal, Code: "internal", Message: "internal error", Err: err}
}

// IsKind reports whether err is a coded error of the kind.
func IsKind(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}

func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

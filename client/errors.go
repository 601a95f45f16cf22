package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rolegate/rolegate/api"
)

// Error is an answer of the server that is not a success: its HTTP status and
// the error code and message of its body. Get it with errors.As.
type Error struct {
	// Status is the HTTP status, e.g. 404.
	Status int
	// Code is the machine-readable code of the body, e.g. "role_not_found";
	// "http_<status>" when the body held none.
	Code string
	// Message is the server's explanation.
	Message string
	// Details point at the fields of a 422.
	Details []Detail
	// Violations, on a 409 separation_of_duties, are the violations the
	// refused write would have created (the first 20; ViolationsOf).
	Violations []Violation
	// RequestID is the X-Request-Id the server answered with.
	RequestID string
	// RetryAfter is the server's Retry-After, or 0.
	RetryAfter time.Duration
}

// Detail names one field a 422 refused (and the value, when it helps).
type Detail = api.ErrorDetail

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("rolegate: %d %s: %s", e.Status, e.Code, msg)
}

// IsCode reports whether err is a server answer carrying code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsStatus reports whether err is a server answer with this HTTP status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// IsNotFound reports a 404 (a missing object, or one the caller may not see).
func IsNotFound(err error) bool { return IsStatus(err, http.StatusNotFound) }

// ErrMalformedAnswer is wrapped by errors about answers the client could not
// read: the server (or something in between) did not speak Rolegate's API.
var ErrMalformedAnswer = errors.New("rolegate: malformed answer")

package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
)

// The error body is the api module's; these are the names the router's
// error writers use.
type (
	errorBody  = wire.ErrorBody
	errorInfo  = wire.ErrorInfo
	detailJSON = wire.ErrorDetail
)

func detailsOf(ds []rolegate.Detail) []detailJSON {
	if len(ds) == 0 {
		return nil
	}
	out := make([]detailJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, detailJSON{Field: d.Field, Message: d.Message, Value: d.Value})
	}
	return out
}

// statusOf maps an error kind to its HTTP status.
func statusOf(k rolegate.Kind) int {
	switch k {
	case rolegate.KindInvalid:
		return http.StatusUnprocessableEntity
	case rolegate.KindBadRequest:
		return http.StatusBadRequest
	case rolegate.KindUnauthenticated:
		return http.StatusUnauthorized
	case rolegate.KindForbidden:
		return http.StatusForbidden
	case rolegate.KindNotFound:
		return http.StatusNotFound
	case rolegate.KindConflict:
		return http.StatusConflict
	case rolegate.KindPrecondition:
		return http.StatusPreconditionFailed
	case rolegate.KindUnavailable:
		return http.StatusServiceUnavailable
	case rolegate.KindGone:
		return http.StatusGone
	case rolegate.KindTooMany:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// classify maps any error to its HTTP status and coded error, the same for
// the native API and every facade; each API only formats the body its own
// way. Internal errors are logged with their cause (never shown), and the
// headers every API sends with 401 and 503 are set here.
func classify(c *gin.Context, err error) (int, *rolegate.Error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = payloadTooLarge("the request body is larger than %d bytes", tooBig.Limit)
	}
	var e *rolegate.Error
	var status int
	if re := (*requestError)(nil); errors.As(err, &re) {
		e, status = &rolegate.Error{Kind: rolegate.KindBadRequest, Code: re.code, Message: re.message}, re.status
	} else {
		e = rolegate.AsError(err)
		status = statusOf(e.Kind)
	}
	c.Set(errorCodeKey, e.Code) // the metrics label 503s by it
	if status >= 500 {
		slog.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method,
			"path", c.FullPath(), "code", e.Code, "error", err, "request_id", c.GetString(requestIDKey))
	}
	switch status {
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="rolegate"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		c.Header("Retry-After", "1")
	}
	return status, e
}

// errorCodeKey holds on the gin context the code of the error a request
// answered with.
const errorCodeKey = "error_code"

// writeError answers with the native error body.
func writeError(c *gin.Context, err error) {
	status, e := classify(c, err)
	body := errorBody{Error: errorInfo{Code: e.Code, Message: e.Message, Details: detailsOf(e.Details)}}
	if len(e.Violations) > 0 {
		body.Error.Violations = violationsOf(e.Violations) // separation_of_duties
	}
	c.AbortWithStatusJSON(status, body)
}

// requestError is a fault of the request as HTTP carries it, which the
// domain has no kind for: it carries its own status (413, 415), and classify
// answers it as the request's fault (KindBadRequest) with that status.
type requestError struct {
	status        int
	code, message string
}

func (e *requestError) Error() string { return e.message }

func payloadTooLarge(format string, args ...any) error {
	return &requestError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large", message: fmt.Sprintf(format, args...)}
}

func unsupportedMedia(format string, args ...any) error {
	return &requestError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) error {
	return rolegate.Errorf(rolegate.KindBadRequest, code, format, args...)
}

package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/rolegate/rolegate/policy"
)

// decodeJSON reads the request body into dst strictly: one JSON value, no
// unknown fields, right types. Malformed JSON is 400 malformed_json; a
// well-formed body that does not fit dst is 422 naming the field; a body over
// the limit is 413.
func decodeJSON(c *gin.Context, dst any) error {
	if c.Request.Body == nil {
		return badRequest("malformed_json", "the request body is empty; a JSON object is expected")
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, errBodyBudget) {
			return serverBusy()
		}
		return badRequest("malformed_json", "the request body could not be read")
	}
	return decodeBytes(body, dst)
}

// decodeBytes decodes one strict JSON value.
func decodeBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("malformed_json", "the request body is empty; a JSON object is expected")
	}
	if !json.Valid(body) {
		return badRequest("malformed_json", "the request body is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			field := typeErr.Field
			if field == "" {
				return policy.Invalid("invalid_type", "", "the request body must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
			}
			return policy.Invalid("invalid_type", field, "%s must be %s, not %s", field, jsonKind(typeErr.Type.String()), typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return policy.Invalid("unknown_field", name, "unknown field %q", name)
		}
		return policy.Invalid("invalid_body", "", "the request body does not fit: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// jsonKind names a Go type as a JSON type for people.
func jsonKind(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case t == "struct" || strings.Contains(t, "."):
		return "an object"
	}
	return fmt.Sprintf("of type %s", t)
}

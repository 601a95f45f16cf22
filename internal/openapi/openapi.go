// Package openapi serves the OpenAPI document (api/openapi.yaml) as JSON. The
// conversion lives here, on the server's side, so that the api module the Go
// client imports needs no YAML library.
package openapi

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/rolegate/rolegate/api"
)

var (
	once   sync.Once
	asJSON []byte
	jsErr  error
)

// JSON is the document converted to JSON (once; the conversion is checked by
// the tests, so an error here is a broken build).
func JSON() ([]byte, error) {
	once.Do(func() {
		var spaced []byte
		if spaced, jsErr = yaml.YAMLToJSON(api.YAML()); jsErr != nil {
			return
		}
		var b bytes.Buffer
		if jsErr = json.Compact(&b, spaced); jsErr == nil {
			asJSON = b.Bytes()
		}
	})
	return asJSON, jsErr
}

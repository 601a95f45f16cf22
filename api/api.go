// Package api holds Rolegate's OpenAPI 3.1 document: openapi.yaml is the one
// source, embedded here and served as JSON at GET /openapi.json. The
// end-to-end tests of cmd/rolegate hold the server to it.
package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"sync"

	"github.com/goccy/go-yaml"
)

//go:embed openapi.yaml
var source []byte

// YAML is the document as written.
func YAML() []byte { return source }

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
		if spaced, jsErr = yaml.YAMLToJSON(source); jsErr != nil {
			return
		}
		var b bytes.Buffer
		if jsErr = json.Compact(&b, spaced); jsErr == nil {
			asJSON = b.Bytes()
		}
	})
	return asJSON, jsErr
}

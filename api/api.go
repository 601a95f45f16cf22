// Package api is Rolegate's API as its clients see it, owned in one place:
// the OpenAPI 3.1 document (openapi.yaml, embedded here; the server serves it
// as JSON at GET /openapi.json), the native API's request and response
// bodies (types.go; access.go for who-can, dry runs, the report, the import
// and the catalog; errors.go), the audit log's stored snapshots (audit.go)
// and the gRPC API's generated code (proto/, scripts/protoc.sh). It is a
// module of its own that imports nothing of the server, so the Go client
// can use it without the server's dependencies.
package api

import _ "embed"

//go:embed openapi.yaml
var source []byte

// YAML is the document as written.
func YAML() []byte { return source }

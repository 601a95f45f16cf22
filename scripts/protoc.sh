#!/bin/sh
# Regenerates the Go code of the gRPC API (api/proto) from its .proto files.
# Needs protoc (Debian: apt-get install protobuf-compiler) and the plugins:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
set -eu
cd "$(dirname "$0")/.."
PATH="$(go env GOPATH)/bin:$PATH"
protoc -I api/proto \
	--go_out=. --go_opt=module=github.com/rolegate/rolegate \
	--go-grpc_out=. --go-grpc_opt=module=github.com/rolegate/rolegate \
	api/proto/rolegate/v1/check.proto

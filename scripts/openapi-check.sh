#!/usr/bin/env bash
# Checks that api/openapi.yaml is valid and generates clients that compile:
#   1. two independent validators: @redocly/cli (recommended rules, less those
#      tools/openapi/redocly.yaml turns off, each with its reason) and
#      @apidevtools/swagger-parser;
#   2. a Go client by oapi-codegen, built in a module of its own;
#   3. TypeScript types by openapi-typescript, compiled by tsc --noEmit with
#      tools/openapi/typecheck.ts (which also says what must not type-check).
# The npm tools are pinned in tools/openapi/package-lock.json (npm ci); the
# generated code goes to a temp dir and is never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
doc="$root/api/openapi.yaml"
OAPI_CODEGEN="github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"
OAPI_RUNTIME="github.com/oapi-codegen/runtime@v1.9.0"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "--- openapi: npm ci (tools/openapi)"
(cd tools/openapi && npm ci --no-audit --no-fund --loglevel=error)
bin="$root/tools/openapi/node_modules/.bin"

echo "--- openapi: redocly lint"
(cd tools/openapi && "$bin/redocly" lint --config redocly.yaml --format=stylish "$doc" 2>&1 | grep -v '[║╔╚]')

echo "--- openapi: swagger-parser validate"
(cd tools/openapi && node validate.mjs "$doc")

echo "--- openapi: oapi-codegen Go client, go build"
mkdir -p "$tmp/go"
cat >"$tmp/go/cfg.yaml" <<CFG
package: rolegateapi
output: $tmp/go/client.gen.go
generate:
  models: true
  client: true
CFG
go run "$OAPI_CODEGEN" -config "$tmp/go/cfg.yaml" "$doc"
(
	cd "$tmp/go"
	GOFLAGS=-mod=mod go mod init example.test/rolegateapi >/dev/null 2>&1
	GOFLAGS=-mod=mod go get "$OAPI_RUNTIME" >/dev/null 2>&1
	GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
	go build ./... && go vet ./...
)
echo "generated Go client: $(wc -l <"$tmp/go/client.gen.go") lines, builds"

echo "--- openapi: openapi-typescript, tsc --noEmit"
mkdir -p "$tmp/ts"
"$bin/openapi-typescript" "$doc" -o "$tmp/ts/schema.d.ts" --silent
cp tools/openapi/typecheck.ts "$tmp/ts/"
"$bin/tsc" --noEmit --strict --target es2022 --module esnext --moduleResolution bundler "$tmp/ts/typecheck.ts"
echo "generated TypeScript types: $(wc -l <"$tmp/ts/schema.d.ts") lines, compile"

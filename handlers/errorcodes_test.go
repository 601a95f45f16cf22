package handlers

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rolegate/rolegate/internal/openapi"
)

var updateErrorsDoc = flag.Bool("update", false, "rewrite docs/errors.md from ErrorCodes")

// codeArg is where the functions that make coded errors take the code.
var codeArg = map[string]int{"Errorf": 1, "Invalid": 0, "badRequest": 0, "add": 1, "validateLabel": 2, "oauthError": 2}

// namedCodes are the helpers that make the code "invalid_" + the name of
// the parameter or field they are given (its last dotted part), and where
// they take that name.
var namedCodes = map[string]int{"uintParam": 1, "boolParam": 1, "oneOf": 1, "validateText": 0}

// usedErrorCodes finds every error code the server's code makes: string
// literals given as a code to the functions above, as a Code field, or to a
// variable or constant named code; and "invalid_<name>" of the namedCodes
// helpers. A code built any other way (such as "invalid_"+x outside those
// helpers) is reported, so that no code escapes the list.
func usedErrorCodes(t *testing.T, dirs ...string) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			lit := func(e ast.Expr) {
				if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
					s, _ := strconv.Unquote(b.Value)
					used[s] = append(used[s], fmt.Sprintf("%s:%d", f, fset.Position(b.Pos()).Line))
				}
			}
			isCodeName := func(n string) bool { return n == "code" || n == "Code" || strings.HasSuffix(n, "Code") }
			inHelper := ""
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.FuncDecl:
					inHelper = ""
					if _, ok := namedCodes[n.Name.Name]; ok {
						inHelper = n.Name.Name
					}
				case *ast.CallExpr:
					name, recv := "", ""
					switch fn := n.Fun.(type) {
					case *ast.Ident:
						name = fn.Name
					case *ast.SelectorExpr:
						name = fn.Sel.Name
						if id, ok := fn.X.(*ast.Ident); ok {
							recv = id.Name
						}
					}
					if i, ok := codeArg[name]; ok && i < len(n.Args) && !(name == "Errorf" && recv == "fmt") {
						if _, ok := n.Args[i].(*ast.BasicLit); !ok && inHelper == "" {
							if b, ok := n.Args[i].(*ast.BinaryExpr); ok {
								t.Errorf("%s:%d: a code built at run time (%T); list what it can be, or make it in a namedCodes helper", f, fset.Position(b.Pos()).Line, b)
							}
						}
						lit(n.Args[i])
					}
					// (package app has a oneOf of its own, for settings)
					if i, ok := namedCodes[name]; ok && i < len(n.Args) && af.Name.Name != "app" {
						if b, ok := n.Args[i].(*ast.BasicLit); ok && b.Kind == token.STRING {
							field, _ := strconv.Unquote(b.Value)
							code := "invalid_" + field[strings.LastIndex(field, ".")+1:]
							used[code] = append(used[code], fmt.Sprintf("%s:%d", f, fset.Position(b.Pos()).Line))
						} else {
							t.Errorf("%s:%d: %s is given a name that is not a string literal: its code cannot be listed", f, fset.Position(n.Pos()).Line, name)
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && isCodeName(k.Name) {
						lit(n.Value)
					}
				case *ast.AssignStmt:
					for i, l := range n.Lhs {
						if id, ok := l.(*ast.Ident); ok && isCodeName(id.Name) && i < len(n.Rhs) {
							lit(n.Rhs[i])
						}
					}
				case *ast.ValueSpec:
					for i, id := range n.Names {
						if isCodeName(id.Name) && i < len(n.Values) {
							lit(n.Values[i])
						}
					}
				}
				return true
			})
		}
	}
	return used
}

// TestErrorCodesAreListed: every code the server answers with is in
// ErrorCodes (or, for the token endpoints, OAuthErrorCodes), once, and every
// listed code is still used.
func TestErrorCodesAreListed(t *testing.T) {
	used := usedErrorCodes(t, ".", "..", "../policy", "../engine", "../auth", "../changes", "../adapters", "../internal/app", "../cmd/rolegate")
	listed := map[string]bool{}
	for _, list := range [][]ErrorCode{ErrorCodes, OAuthErrorCodes} {
		seen := map[string]bool{}
		for _, e := range list {
			if seen[e.Code] {
				t.Errorf("%s is listed twice", e.Code)
			}
			seen[e.Code] = true
			listed[e.Code] = true
			if e.Meaning == "" || e.Do == "" || http.StatusText(e.Status) == "" {
				t.Errorf("%s: status, meaning and what to do are required: %+v", e.Code, e)
			}
		}
	}
	for code, where := range used {
		if !listed[code] {
			t.Errorf("error code %q (%s) is not in ErrorCodes (handlers/errorcodes.go)", code, strings.Join(where, ", "))
		}
	}
	for code := range listed {
		if used[code] == nil && code != "rate_limited" {
			t.Errorf("%s is listed but no code makes it", code)
		}
	}
	if used["rate_limited"] == nil {
		t.Error("the scan no longer finds rate_limited: it misses codes")
	}
	if len(used) < 80 {
		t.Errorf("only %d codes found: the scan is not reading the code", len(used))
	}
}

// TestErrorCodesInOpenAPI: the OpenAPI document's NativeError enumerates
// exactly the listed codes.
func TestErrorCodesInOpenAPI(t *testing.T) {
	data, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	ne := doc.Components.Schemas["NativeError"]
	if ne == nil || ne.Value.Properties["error"] == nil || ne.Value.Properties["error"].Value.Properties["code"] == nil {
		t.Fatal("no NativeError.error.code in the document")
	}
	var documented []string
	for _, v := range ne.Value.Properties["error"].Value.Properties["code"].Value.Enum {
		documented = append(documented, fmt.Sprint(v))
	}
	var listed []string
	for _, e := range ErrorCodes {
		listed = append(listed, e.Code)
	}
	sort.Strings(documented)
	sort.Strings(listed)
	if strings.Join(documented, " ") != strings.Join(listed, " ") {
		t.Errorf("NativeError's code enum in api/openapi.yaml is not ErrorCodes; write it as:\n  enum: [%s]", strings.Join(listed, ", "))
	}
}

// TestErrorCodesDoc: docs/errors.md is what errorsDoc makes of the list
// (go test ./handlers -run TestErrorCodesDoc -update rewrites it).
func TestErrorCodesDoc(t *testing.T) {
	want := errorsDoc()
	path := filepath.Join("..", "docs", "errors.md")
	if *updateErrorsDoc {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/errors.md is not generated from ErrorCodes: run go test ./handlers -run TestErrorCodesDoc -update")
	}
}

func errorsDoc() []byte {
	var b bytes.Buffer
	b.WriteString(`# Error codes

<!-- Generated from handlers/errorcodes.go by: go test ./handlers -run TestErrorCodesDoc -update -->

Every error of the native API has one body, with a stable ` + "`code`" + ` for programs and a
` + "`message`" + ` for people (` + "`details`" + ` names the offending fields of a 422):

` + "```json" + `
{"error": {"code": "role_name_taken", "message": "a role named \"approver\" already exists"}}
` + "```" + `

Match on ` + "`code`" + `, never on ` + "`message`" + `. Codes are never removed or renamed within a major
version; a new one may appear, so treat an unknown code by its HTTP status. A 5xx never carries
internal error text: report its ` + "`X-Request-Id`" + `, under which the server logs the cause. A
denied check is not an error (200 with ` + "`\"allowed\": false`" + `), and no error ever allows.

The facades answer in their own bodies (docs/facades.md): Papershift's JSON:API
` + "`errors[].code`" + ` and Dintero's ` + "`error.code`" + ` carry these codes (Dintero with 400 for every
bad input); Monite's carry a message (` + "`error.type`" + ` for the version header) and its 422
` + "`detail`" + ` list. The OpenAPI document's ` + "`NativeError`" + ` enumerates these codes
(api/openapi.yaml).

A status with no body code: **431** Request Header Fields Too Large, answered by Go's HTTP server
before Rolegate reads the request when the headers pass ` + "`ROLEGATE_MAX_HEADER_BYTES`" + ` (64 KiB):
send smaller headers (a shorter token, fewer cookies).

## Native API and facades

| code | status | what it means | what to do |
|---|---|---|---|
`)
	row := func(e ErrorCode) {
		fmt.Fprintf(&b, "| `%s` | %d %s | %s | %s |\n", e.Code, e.Status, http.StatusText(e.Status), e.Meaning, e.Do)
	}
	for _, e := range ErrorCodes {
		row(e)
	}
	b.WriteString(`
## Token endpoints (POST /v1/auth/token and the Dintero account token)

These answer as OAuth 2.0 (RFC 6749, section 5.2): ` + "`{\"error\": \"invalid_client\", \"error_description\": \"...\"}`" + `.

| error | status | what it means | what to do |
|---|---|---|---|
`)
	for _, e := range OAuthErrorCodes {
		row(e)
	}
	b.WriteString(`
## The Go client's middleware

` + "`client.Middleware`" + ` and ` + "`ginguard`" + ` answer a refused request of *your* service with the same
body, with their own codes (` + "`forbidden`" + `, ` + "`unauthenticated`" + `, ` + "`authorization_unavailable`" + `);
see docs/client.md.
`)
	return b.Bytes()
}

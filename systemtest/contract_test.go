package systemtest

// The OpenAPI document (api/openapi.yaml, served at /openapi.json) is a
// contract: every request these tests send to a Rolegate server through
// http.DefaultTransport (s.call and friends, http.Get, http.DefaultClient,
// clients without a Transport of their own) and every answer they get is
// checked against it with kin-openapi's openapi3filter.
//
//   - Every answer must match the document: its status must be listed for the
//     operation, its headers and body must fit. An answer to a path and method
//     the document does not name must be the router's 404 route_not_found or
//     405 method_not_allowed.
//   - A request that does not fit the document must be refused by the server
//     (4xx): then the server and the document agree that it is bad. A request
//     the document refuses but the server serves (or fails on with 5xx) is a
//     violation, unless the test marked it as deliberately malformed with
//     deliberate(req) (raw requests) or s.callBad (the s.call helpers), as
//     attack tests do when they measure what malformed input costs.
//
// A violation fails the call (the client gets an error naming it, so the test
// that made it fails), and TestMain fails the run if any was recorded.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/rolegate/rolegate/internal/openapi"
)

// contractChecker validates the traffic to the servers it watches.
type contractChecker struct {
	doc    *openapi3.T
	router routers.Router

	mu         sync.Mutex
	hosts      map[string]bool // host:port of the Rolegate servers under test
	violations []string
	checked    int
	agreed     int             // requests both the document and the server refused
	agreedWhat []string        // which, for ROLEGATE_TEST_CONTRACT_VERBOSE
	seen       map[string]bool // "operationId status" of the exchanges checked
}

// loadContract parses the served document as the server converts it.
func loadContract() (*openapi3.T, error) {
	data, err := openapi.JSON()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	return doc, nil
}

func newContractChecker() (*contractChecker, error) {
	doc, err := loadContract()
	if err != nil {
		return nil, err
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &contractChecker{doc: doc, router: router, hosts: map[string]bool{}, seen: map[string]bool{}}, nil
}

// contract checks every test's traffic; set up by TestMain.
var contract *contractChecker

// watchServer makes the traffic to base (http://host:port) checked until the
// returned function is called, when that server has stopped: its port may
// then go to another server of the tests (an identity provider whose JWKS
// the document does not describe).
func watchServer(base string) (unwatch func()) {
	u, err := url.Parse(base)
	if contract == nil || err != nil {
		return func() {}
	}
	contract.mu.Lock()
	contract.hosts[u.Host] = true
	contract.mu.Unlock()
	return func() {
		contract.mu.Lock()
		delete(contract.hosts, u.Host)
		contract.mu.Unlock()
	}
}

type deliberateKey struct{}

// deliberate marks a request as malformed on purpose: the document need not
// accept it (its answer is still checked).
func deliberate(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), deliberateKey{}, true))
}

type streamedKey struct{}

// streamed marks a request whose answer the test reads as it is streamed
// (and may leave early): its status and headers are checked, not its body.
func streamed(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), streamedKey{}, true))
}

// contractTransport checks the traffic of next against the document.
type contractTransport struct {
	next http.RoundTripper
	c    *contractChecker
}

func (t contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.mu.Lock()
	watched := t.c.hosts[req.URL.Host]
	t.c.mu.Unlock()
	if !watched || isConsole(req.URL.Path) || isPreflight(req) {
		return t.next.RoundTrip(req)
	}
	// A copy of the body for the request's check, when it can be had
	// without consuming a streamed body (slow-body attacks stream theirs).
	var reqBody []byte
	bodyKnown := req.Body == nil || req.Body == http.NoBody
	if !bodyKnown && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(rc)
			rc.Close()
			bodyKnown = true
		}
	}
	res, err := t.next.RoundTrip(req)
	if err != nil {
		return res, err
	}
	if req.Context().Value(streamedKey{}) != nil {
		// The test reads the answer as it comes (and may leave early):
		// check all but the body, and hand the body on unread.
		if v := t.c.check(req, reqBody, bodyKnown, res, nil); v != "" {
			res.Body.Close()
			return nil, errors.New("contract violation (api/openapi.yaml): " + v)
		}
		return res, nil
	}
	resBody, readErr := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if readErr != nil {
		// The answer was cut (a test may cause that); nothing to check.
		res.Body = io.NopCloser(io.MultiReader(bytes.NewReader(resBody), errReader{readErr}))
		return res, nil
	}
	if v := t.c.check(req, reqBody, bodyKnown, res, resBody); v != "" {
		return nil, errors.New("contract violation (api/openapi.yaml): " + v)
	}
	return res, nil
}

// findRoute finds the operation of r. An id holding "/" travels as %2F and
// the server matches routes on the escaped path: so does this, handing the
// operation the decoded values.
func findRoute(router routers.Router, r *http.Request) (*routers.Route, map[string]string, error) {
	esc := r.URL.EscapedPath()
	if !strings.Contains(strings.ToUpper(esc), "%2F") {
		return router.FindRoute(r)
	}
	u := *r.URL
	u.Path, u.RawPath = esc, ""
	m := *r
	m.URL = &u
	route, params, err := router.FindRoute(&m)
	for k, v := range params {
		if d, uerr := url.PathUnescape(v); uerr == nil {
			params[k] = d
		}
	}
	return route, params, err
}

// isConsole: the admin console's page and files (/console, /console/...)
// are not part of the API and not in the document; the API calls the page
// makes are (console_test.go routes the browser's traffic through this
// check).
func isConsole(p string) bool { return p == "/console" || strings.HasPrefix(p, "/console/") }

// isPreflight: a browser's CORS preflight (OPTIONS with
// Access-Control-Request-Method) is the CORS protocol's, not an operation of
// the API (attack_cors_test.go checks its answers).
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// check validates one exchange; it returns the violation, or "".
func (c *contractChecker) check(req *http.Request, reqBody []byte, bodyKnown bool, res *http.Response, resBody []byte) string {
	v := c.validate(req, reqBody, bodyKnown, res, resBody)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked++
	if strings.HasPrefix(v, "agreed") {
		c.agreed++
		if len(c.agreedWhat) < 1000 {
			c.agreedWhat = append(c.agreedWhat, strings.TrimPrefix(v, "agreed: "))
		}
		v = ""
	}
	if v != "" {
		c.violations = append(c.violations, v)
	}
	return v
}

func (c *contractChecker) validate(req *http.Request, reqBody []byte, bodyKnown bool, res *http.Response, resBody []byte) string {
	ctx := context.Background()
	what := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.RequestURI(), res.StatusCode)
	// The router matches on a copy carrying the original body.
	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := findRoute(c.router, r)
	if err == nil {
		c.mu.Lock()
		c.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, res.StatusCode)] = true
		c.mu.Unlock()
	}
	if err != nil {
		code := errorCode(resBody)
		if (res.StatusCode == http.StatusNotFound && code == "route_not_found") ||
			(res.StatusCode == http.StatusMethodNotAllowed && code == "method_not_allowed") {
			return ""
		}
		return fmt.Sprintf("%s: the document has no operation for it (%v), yet the server answered %q", what, err, clip(resBody))
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc: authenticationPresent,
		MultiError:         false,
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	reqErr := error(nil)
	if bodyKnown {
		reqErr = openapi3filter.ValidateRequest(ctx, in)
	} else {
		// The body is streamed: check all but the body.
		o := *opts
		o.ExcludeRequestBody = true
		in.Options = &o
		reqErr = openapi3filter.ValidateRequest(ctx, in)
		in.Options = opts
	}
	// The answer: status, headers, body.
	respIn := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(resBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: false},
	}
	if req.Context().Value(streamedKey{}) != nil {
		respIn.Options.ExcludeResponseBody = true
	}
	if err := openapi3filter.ValidateResponse(ctx, respIn); err != nil {
		return fmt.Sprintf("%s: the answer does not match the document: %v; body %q", what, err, clip(resBody))
	}
	if ref := route.Operation.Responses.Status(res.StatusCode); ref != nil && ref.Value != nil &&
		len(ref.Value.Content) == 0 && len(bytes.TrimSpace(resBody)) > 0 && req.Method != http.MethodHead {
		return fmt.Sprintf("%s: the document gives no body for this status, yet the server answered %q", what, clip(resBody))
	}
	if reqErr != nil {
		if req.Context().Value(deliberateKey{}) != nil {
			return ""
		}
		if res.StatusCode >= 400 && res.StatusCode < 500 {
			// The document and the server both refuse it.
			return fmt.Sprintf("agreed: %s: %v", what, firstLine(reqErr.Error()))
		}
		return fmt.Sprintf("%s: the request does not fit the document (%v), yet the server did not refuse it", what, reqErr)
	}
	return ""
}

// authenticationPresent checks that the request carries the credentials a
// security scheme names; whether they are good is the server's business.
func authenticationPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	scheme := in.SecurityScheme
	switch {
	case scheme.Type == "http" && strings.EqualFold(scheme.Scheme, "basic"):
		if len(h) > 6 && strings.EqualFold(h[:6], "Basic ") {
			return nil
		}
	case scheme.Type == "http" || scheme.Type == "oauth2":
		if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
			return nil
		}
	}
	return fmt.Errorf("no %s credentials", in.SecuritySchemeName)
}

// errorCode digs the native error code out of an answer, if any.
func errorCode(body []byte) string {
	i := bytes.Index(body, []byte(`"code":"`))
	if i < 0 {
		return ""
	}
	rest := body[i+len(`"code":"`):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return string(rest[:j])
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func clip(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// installContract wraps http.DefaultTransport; it is called by TestMain.
func installContract() error {
	c, err := newContractChecker()
	if err != nil {
		return err
	}
	contract = c
	http.DefaultTransport = contractTransport{next: http.DefaultTransport, c: c}
	return nil
}

// contractReport is what TestMain prints after the tests; non-empty
// violations fail the run.
func contractReport() (summary string, violations []string) {
	if contract == nil {
		return "", nil
	}
	contract.mu.Lock()
	defer contract.mu.Unlock()
	v := append([]string(nil), contract.violations...)
	sort.Strings(v)
	if os.Getenv("ROLEGATE_TEST_CONTRACT_VERBOSE") != "" {
		for _, a := range contract.agreedWhat {
			fmt.Fprintln(os.Stderr, "  refused by both:", a)
		}
		// Which documented operations and statuses no test saw.
		var unseen []string
		for path, item := range contract.doc.Paths.Map() {
			for method, op := range item.Operations() {
				for status := range op.Responses.Map() {
					if !contract.seen[op.OperationID+" "+status] {
						unseen = append(unseen, fmt.Sprintf("%s %s (%s) %s", method, path, op.OperationID, status))
					}
				}
			}
		}
		sort.Strings(unseen)
		for _, u := range unseen {
			fmt.Fprintln(os.Stderr, "  never seen:", u)
		}
	}
	return fmt.Sprintf("contract: %d exchanges checked against api/openapi.yaml, %d bad requests refused as the document says, %d violations",
		contract.checked, contract.agreed, len(v)), v
}

// withContract wraps a client's own transport (clients that dial in their
// own way) in the contract check.
func withContract(hc *http.Client) *http.Client {
	if contract == nil {
		return hc
	}
	next := hc.Transport
	if next == nil {
		return hc // http.DefaultTransport is checked already
	}
	hc.Transport = contractTransport{next: next, c: contract}
	return hc
}

package api

// ErrorBody is the one error body of the native API (docs/errors.md lists
// the codes).
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo is an error's code (machine-readable, e.g. "role_not_found"),
// message and, on a 422, the fields refused.
type ErrorInfo struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []ErrorDetail `json:"details,omitempty"`
	// Violations, on a 409 separation_of_duties, are the violations the
	// refused write would have created (the first 20).
	Violations []Violation `json:"violations,omitempty"`
}

// ErrorDetail names one field a 422 refused, and the value when it helps.
type ErrorDetail struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Value   string `json:"value,omitempty"`
}

// OAuthError is the error body of the token endpoint (RFC 6749 5.2).
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Token is the answer of POST /v1/auth/token (RFC 6749 5.1). The fields are
// in the order the server has always written them.
type Token struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

// TokenRequest is a client-credentials request to POST /v1/auth/token, as a
// form or JSON body (the same names either way); the id and secret may come
// by HTTP Basic instead.
type TokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Audience     string `json:"audience"`
	Scope        string `json:"scope"`
}

package handlers

import (
	"unicode/utf16"
	"unicode/utf8"
)

// textProblem reports why a JSON body (already known to be valid JSON)
// would not decode to exactly the text it holds, or "" when it does.
// encoding/json turns invalid UTF-8 and lone UTF-16 surrogates written as
// \u escapes into U+FFFD without a word, so the value stored would not be
// the value sent: both are refused instead (RFC 8259 requires UTF-8).
func textProblem(body []byte) string {
	if !utf8.Valid(body) {
		return "the request body is not valid UTF-8"
	}
	// In valid JSON a backslash appears only inside a string, where it
	// starts an escape.
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(body) || body[i] != 'u' {
			continue
		}
		r, ok := hex4(body, i+1)
		if !ok {
			continue
		}
		i += 4
		switch {
		case utf16.IsSurrogate(r) && r < 0xdc00: // a high surrogate: a low one must follow
			if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
				if lo, ok := hex4(body, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
					i += 6
					continue
				}
			}
			return "the request body holds a lone UTF-16 surrogate (\\u escape); it is not a character"
		case utf16.IsSurrogate(r):
			return "the request body holds a lone UTF-16 surrogate (\\u escape); it is not a character"
		}
	}
	return ""
}

// hex4 reads the four hex digits of a \u escape at body[i:].
func hex4(body []byte, i int) (rune, bool) {
	if i+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

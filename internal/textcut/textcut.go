// Package textcut shortens valid UTF-8 text to a limit without splitting a
// character: by bytes for database and header limits, by characters for
// limits people count (a subject's 255).
package textcut

import "unicode/utf8"

// Bytes returns s cut to at most n bytes, at a character boundary.
func Bytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Runes returns s cut to at most n characters.
func Runes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

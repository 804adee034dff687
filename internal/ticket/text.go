package ticket

import "unicode/utf8"

// Ticket text is valid UTF-8 with limits (MaxSubjectRunes,
// MaxDescriptionBytes, the mail columns' sizes); these shorten it to a
// limit without splitting a character.

// CutBytes returns s cut to at most n bytes, at a character boundary: for
// database and header limits.
func CutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CutRunes returns s cut to at most n characters: for limits people count
// (a subject's 255).
func CutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

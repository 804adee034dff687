package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CanonicalVersion is the first element of every canonical encoding, so a
// future change of encoding can live beside old rows.
const CanonicalVersion = "helpdesk.audit.v1"

// Canonical is the byte encoding of an entry that its hash covers:
//
//	hash = SHA-256(prev_hash || Canonical(e))
//
// It is UTF-8 JSON text without any whitespace: an array of exactly these
// eleven values, in this order:
//
//	["helpdesk.audit.v1",at,actor_id,actor,action,object,result,ip,user_agent,request_id,detail]
//
// The values are written as follows.
//
//   - at: a string, the time in UTC in RFC 3339 with a fraction of at most
//     six digits and no trailing zeros (Go's time.RFC3339Nano), e.g.
//     "2026-11-27T00:00:03.1234Z". Appended rows carry microseconds, which
//     PostgreSQL's timestamptz stores exactly.
//   - actor_id: an integer, or null.
//   - the other fields: strings. A string is written between double quotes
//     with only these escapes: \" and \\, \b \f \n \r \t, and \u00xx
//     (lowercase hex) for the remaining characters below U+0020. Everything
//     else, including non-ASCII, is literal UTF-8.
//   - detail: an object (null details are {}), keys sorted by their UTF-8
//     bytes, nested objects alike, arrays in order, true/false/null as such,
//     and numbers in plain decimal: optional "-", integer digits without
//     leading zeros, and a "." fraction only when it is non-zero, without
//     trailing zeros; no exponent; negative zero is 0 (so 1e3 is 1000 and
//     1.50 is 1.5).
//
// Append stores strings with invalid UTF-8 or NUL (which PostgreSQL text
// cannot hold) replaced by U+FFFD and cut to MaxStringBytes (see cutMark),
// and the detail in this normalized form, so Canonical of a row read back
// equals Canonical at append time.
func Canonical(e Entry) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, '[')
	b = appendString(b, CanonicalVersion)
	b = append(b, ',')
	b = appendString(b, e.At.UTC().Format(time.RFC3339Nano))
	b = append(b, ',')
	if e.ActorID == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *e.ActorID, 10)
	}
	for _, s := range []string{e.Actor, e.Action, e.Object, e.Result, e.IP, e.UserAgent, e.RequestID} {
		b = append(b, ',')
		b = appendString(b, s)
	}
	b = append(b, ',')
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := appendValue(b, detail)
	if err != nil {
		return nil, err
	}
	return append(b, ']'), nil
}

func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	// Copy runs of bytes that need no escape at once; every audit row
	// passes its strings through here twice (detail and hash).
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendValue encodes a value as decoded by decodeDetail.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case string:
		return appendString(b, v), nil
	case json.Number:
		n, err := normalizeNumber(string(v))
		if err != nil {
			return nil, err
		}
		return append(b, n...), nil
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys) // Go compares strings by their bytes
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	default:
		return nil, fmt.Errorf("audit: detail holds a %T, not a JSON value", v)
	}
}

// maxNumberDigits bounds a detail number's plain-decimal expansion, so that
// 1e999999 cannot make a megabyte of zeros.
const maxNumberDigits = 1000

// normalizeNumber rewrites a JSON number in the canonical plain decimal form.
func normalizeNumber(s string) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("audit: detail number %.40q is not a plain JSON number of at most %d digits", s, maxNumberDigits)
	}
	rest := s
	neg := strings.HasPrefix(rest, "-")
	if neg {
		rest = rest[1:]
	}
	end := strings.IndexAny(rest, ".eE")
	if end < 0 {
		end = len(rest)
	}
	intPart := rest[:end]
	rest = rest[end:]
	if intPart == "" || !allDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') {
		return bad()
	}
	var frac string
	if strings.HasPrefix(rest, ".") {
		rest = rest[1:]
		end := strings.IndexAny(rest, "eE")
		if end < 0 {
			end = len(rest)
		}
		frac, rest = rest[:end], rest[end:]
		if frac == "" || !allDigits(frac) {
			return bad()
		}
	}
	exp := 0
	if rest != "" {
		rest = rest[1:] // e or E
		sign := 1
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			if rest[0] == '-' {
				sign = -1
			}
			rest = rest[1:]
		}
		if rest == "" || !allDigits(rest) || len(rest) > 7 {
			return bad()
		}
		e, _ := strconv.Atoi(rest)
		exp = sign * e
	}
	digits := intPart + frac
	point := len(intPart) + exp // decimal point position within digits
	for digits != "" && digits[0] == '0' {
		digits = digits[1:]
		point--
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0", nil
	}
	width := len(digits) - point // digits written when point <= 0
	if point > 0 {
		width = max(point, len(digits))
	}
	if width > maxNumberDigits {
		return bad()
	}
	var out strings.Builder
	if neg {
		out.WriteByte('-')
	}
	switch {
	case point <= 0:
		out.WriteString("0.")
		out.WriteString(strings.Repeat("0", -point))
		out.WriteString(digits)
	case point >= len(digits):
		out.WriteString(digits)
		out.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		out.WriteString(digits[:point])
		out.WriteByte('.')
		out.WriteString(digits[point:])
	}
	return out.String(), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normalize makes e what is stored and hashed: every string cleaned and
// capped, the detail normalized. It returns the detail's canonical JSON, the
// text to store. Actor, action and result must have been validated.
func normalize(e *Entry) ([]byte, error) {
	e.mapFields(capString)
	detail, detailJSON, err := normalizeDetail(e.Detail)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	e.Detail = detail
	return detailJSON, nil
}

// normalizeDetail turns any JSON-marshalable detail into the tree that is
// hashed and stored: decoded with json.Number, strings cleaned and capped.
// The result's canonical JSON is returned too, as the text to store.
func normalizeDetail(detail map[string]any) (map[string]any, []byte, error) {
	if len(detail) == 0 {
		return map[string]any{}, []byte("{}"), nil
	}
	raw, err := json.Marshal(capValue(detail))
	if err != nil {
		return nil, nil, fmt.Errorf("audit: encode detail: %w", err)
	}
	m, err := decodeDetail(raw)
	if err != nil {
		return nil, nil, err
	}
	m = capValue(m).(map[string]any)
	canon, err := appendValue(nil, m)
	if err != nil {
		return nil, nil, err
	}
	// What the caller gets back is what a read returns: numbers normalized.
	if m, err = decodeDetail(canon); err != nil {
		return nil, nil, err
	}
	return m, canon, nil
}

// decodeDetail parses a stored detail, keeping numbers exact.
func decodeDetail(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("audit: decode detail: %w", err)
	}
	if d.More() {
		return nil, errors.New("audit: decode detail: trailing data")
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// cleanString makes s storable in a PostgreSQL text or jsonb value.
func cleanString(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

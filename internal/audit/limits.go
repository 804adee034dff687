package audit

import (
	"fmt"
	"unicode/utf8"
)

// MaxStringBytes bounds every string an entry stores: actor, action,
// object, result, ip, user agent, request id, and every key and string
// value in the detail at any depth. Many of them come from outsiders (the
// email typed into the sign-in form, the User-Agent header, the request
// path), and the log is append-only, so without a bound an anonymous
// caller could grow it by a megabyte a request.
const MaxStringBytes = 256

// A string longer than MaxStringBytes is stored as its first bytes (cut at
// a character boundary) followed by this mark and the original length, the
// whole within MaxStringBytes: "ann@exa…[cut: 1048576 bytes]". The mark
// is part of the stored, hashed string, so a reader of the log or an export
// sees that the value was cut and how long it was.
const cutMark = "…[cut: %d bytes]"

// capString makes s storable (see cleanString) and at most MaxStringBytes.
// Only a bounded prefix is examined, so a megabyte string costs no more
// than a short one.
func capString(s string) string {
	n := len(s)
	if n > 4*MaxStringBytes {
		s = s[:4*MaxStringBytes]
	}
	s = cleanString(s)
	if n <= 4*MaxStringBytes && len(s) <= MaxStringBytes {
		return s
	}
	mark := fmt.Sprintf(cutMark, n)
	if cut := MaxStringBytes - len(mark); len(s) > cut {
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut]
	}
	return s + mark
}

// capValue cleans and caps every key and string of a detail value, in the
// maps, slices and strings callers build details from and that decoded
// JSON is made of. Normalizing caps a detail twice: before it is encoded
// (encoding a megabyte string only to cut it afterwards would cost a
// megabyte of work per entry) and after it is decoded again (for strings
// inside values of other types). It never changes the caller's maps.
func capValue(v any) any { return mapValue(v, capString) }

// mapValue is v with f applied to every key and string in it, through the
// maps, slices and strings callers build details from and that decoded
// JSON is made of; maps and slices are copied, never changed in place.
func mapValue(v any, f func(string) string) any {
	switch v := v.(type) {
	case string:
		return f(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[f(k)] = mapValue(x, f)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(v))
		for k, x := range v {
			out[f(k)] = f(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = mapValue(x, f)
		}
		return out
	case []string:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = f(x)
		}
		return out
	default:
		return v
	}
}

// mapFields applies f to each of e's text fields.
func (e *Entry) mapFields(f func(string) string) {
	for _, s := range []*string{&e.Actor, &e.Action, &e.Object, &e.Result, &e.IP, &e.UserAgent, &e.RequestID} {
		*s = f(*s)
	}
}

// MapStrings returns e with f applied to every string it holds: its text
// fields and every key and string inside its detail (the detail's maps and
// slices are copied, never changed in place). For example
// e.MapStrings(strings.Clone) gives an entry that shares no memory with
// buffers its strings were taken from.
func (e Entry) MapStrings(f func(string) string) Entry {
	e.mapFields(f)
	if e.Detail != nil {
		e.Detail = mapValue(e.Detail, f).(map[string]any)
	}
	return e
}

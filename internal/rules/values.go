package rules

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// The helpers below read condition values and facts. Values normally come
// from decoded JSON (float64, string, bool, []any), but Go callers may
// build rules and facts with ints and typed slices; both are accepted so a
// rule means the same thing however it was built. Anything else is "not
// of the right type", which never matches.

const maxExactFloat = 1 << 53 // larger float64 ids are not exact

// asID reads a positive whole number.
func asID(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n >= 1 && n <= maxExactFloat && n == math.Trunc(n) {
			return int64(n), true
		}
	case int64:
		return n, n > 0
	case int:
		return int64(n), n > 0
	case int32:
		return int64(n), n > 0
	case json.Number:
		id, err := strconv.ParseInt(string(n), 10, 64)
		return id, err == nil && id > 0
	}
	return 0, false
}

// asIDs reads a list of ids; bad is the index of the first item that is
// not one (-1 when the value is not a list at all).
func asIDs(v any) (ids []int64, bad int, ok bool) {
	switch l := v.(type) {
	case []any:
		ids = make([]int64, len(l))
		for i, x := range l {
			id, ok := asID(x)
			if !ok {
				return nil, i, false
			}
			ids[i] = id
		}
		return ids, 0, true
	case []int64:
		for i, id := range l {
			if id <= 0 {
				return nil, i, false
			}
		}
		return l, 0, true
	case []int:
		ids = make([]int64, len(l))
		for i, x := range l {
			if x <= 0 {
				return nil, i, false
			}
			ids[i] = int64(x)
		}
		return ids, 0, true
	case []float64:
		ids = make([]int64, len(l))
		for i, x := range l {
			id, ok := asID(x)
			if !ok {
				return nil, i, false
			}
			ids[i] = id
		}
		return ids, 0, true
	}
	return nil, -1, false
}

// asStrings reads a list of strings; bad is as for asIDs.
func asStrings(v any) (ss []string, bad int, ok bool) {
	switch l := v.(type) {
	case []string:
		return l, 0, true
	case []any:
		ss = make([]string, len(l))
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, i, false
			}
			ss[i] = s
		}
		return ss, 0, true
	}
	return nil, -1, false
}

// asNumber reads a finite number.
func asNumber(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case int32:
		f = float64(n)
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

const dateLayout = "2006-01-02"

// asDate reads a "YYYY-MM-DD" date.
func asDate(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(dateLayout, s)
	return t, err == nil
}

// asDateTime reads an RFC 3339 instant.
func asDateTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// isEmptyValue reports whether a custom field value counts as "no value"
// for set/not_set: absent, null, "" or an empty list.
func isEmptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case []string:
		return len(x) == 0
	}
	return false
}

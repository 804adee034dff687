package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// Decoders for optional JSON body fields. Each adds a field error (and
// reads as absent) when the value has the wrong type, so a handler
// collects every problem of a request in one answer.

// boolField decodes an optional boolean; null counts as absent.
func boolField(obj map[string]json.RawMessage, name string, errs *[]FieldError) *bool {
	raw, ok := obj[name]
	if !ok || rawIsNull(raw) {
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		*errs = append(*errs, FieldError{Field: name, Detail: "must be true or false"})
		return nil
	}
	return &b
}

// intField decodes an optional whole number from lo to hi; null counts as
// absent.
func intField(obj map[string]json.RawMessage, name string, lo, hi int, errs *[]FieldError) *int {
	raw, ok := obj[name]
	if !ok || rawIsNull(raw) {
		return nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		*errs = append(*errs, FieldError{Field: name, Detail: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)})
		return nil
	}
	n := int(f)
	return &n
}

// nullableID reads an optional id that may be null: present reports
// whether the field was sent, id is nil for null.
func nullableID(obj map[string]json.RawMessage, name string, errs *[]FieldError) (id *int64, present bool) {
	raw, ok := obj[name]
	if !ok {
		return nil, false
	}
	if rawIsNull(raw) {
		return nil, true
	}
	n, ok := parseID(raw)
	if !ok {
		*errs = append(*errs, FieldError{Field: name, Detail: "must be a positive id or null"})
		return nil, false
	}
	return &n, true
}

func parseID(raw json.RawMessage) (int64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || f < 1 || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// idListField decodes an optional array of positive ids.
func idListField(obj map[string]json.RawMessage, name string, errs *[]FieldError) ([]int64, bool) {
	raw, ok := obj[name]
	if !ok || rawIsNull(raw) {
		return nil, ok
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		*errs = append(*errs, FieldError{Field: name, Detail: "must be an array of ids"})
		return nil, false
	}
	out := make([]int64, 0, len(items))
	for i, it := range items {
		n, ok := parseID(it)
		if !ok {
			*errs = append(*errs, FieldError{Field: fmt.Sprintf("%s[%d]", name, i), Detail: "must be a positive id"})
			continue
		}
		out = append(out, n)
	}
	return out, true
}

// stringListField decodes an optional array of strings.
func stringListField(obj map[string]json.RawMessage, name string, errs *[]FieldError) ([]string, bool) {
	raw, ok := obj[name]
	if !ok || rawIsNull(raw) {
		return nil, ok
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		*errs = append(*errs, FieldError{Field: name, Detail: "must be an array of strings"})
		return nil, false
	}
	if out == nil {
		out = []string{}
	}
	return out, true
}

// objectField decodes an optional JSON object into its raw members.
func objectField(obj map[string]json.RawMessage, name string, errs *[]FieldError) (map[string]json.RawMessage, bool) {
	raw, ok := obj[name]
	if !ok || rawIsNull(raw) {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(raw), &m); err != nil || m == nil {
		*errs = append(*errs, FieldError{Field: name, Detail: "must be an object"})
		return nil, false
	}
	return m, true
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Request bodies decode into structs of Field members (decode), and each
// handler's parse function checks them in one step that collects every
// field error, so one answer names all that is wrong with a request.

// Field is one member of a JSON request body as the client sent it.
// Decoding never fails on a Field: whether the member was there, was
// null or had another JSON type than T is recorded for the parse
// function to judge, which is how "absent" and "null" can mean different
// things (assignee: null unassigns; an absent assignee is left alone).
type Field[T any] struct {
	Set  bool  // the member was in the body
	Null bool  // its value was null
	Err  error // why its value is not a T (nil when it is, or is null)
	V    T
}

// UnmarshalJSON records raw; it never fails.
func (f *Field[T]) UnmarshalJSON(raw []byte) error {
	*f = Field[T]{Set: true}
	if rawIsNull(raw) {
		f.Null = true
		return nil
	}
	f.Err = json.Unmarshal(raw, &f.V)
	return nil
}

// Value is f's value when it was sent, not null and of type T.
func (f Field[T]) Value() (T, bool) { return f.V, f.Set && !f.Null && f.Err == nil }

// decode checks the content type, then decodes the body strictly into dst
// (decodeBody).
func decode(c *fiber.Ctx, dst any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	return decodeBody(c.Body(), dst)
}

// requireJSON refuses a body that is not sent as application/json (415).
func requireJSON(c *fiber.Ctx) error {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationJSON {
		return &Problem{Type: typeUnsupported, Title: "Unsupported media type", Status: fiber.StatusUnsupportedMediaType,
			Detail: "send the request body as application/json"}
	}
	return nil
}

// decodeBody decodes a JSON object into dst, a pointer to a struct whose
// members are Fields named by their json tags: a syntax error is 400;
// anything that is not an object, or has members dst does not name, is
// 422 (every unknown member is listed).
func decodeBody(body []byte, dst any) error {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return malformed(fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", se, se.Offset))
		}
		return malformed("the body is not valid JSON")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return invalid("the body must be a JSON object")
	}
	known := memberNames(dst)
	var errs []FieldError
	for _, k := range sortedKeys(obj) {
		if !contains(known, k) {
			errs = append(errs, FieldError{Field: k, Detail: "unknown field; allowed fields are " + strings.Join(known, ", ")})
		}
	}
	if len(errs) > 0 {
		return invalid("the body has unknown fields", errs...)
	}
	// Only known names are left, spelt exactly (the struct decoder would
	// also match them case-insensitively), and Fields never fail.
	return json.Unmarshal(body, dst)
}

// noBody accepts an empty body or an empty JSON object (POST actions
// that take no parameters).
func noBody(c *fiber.Ctx) error {
	if len(c.Body()) == 0 {
		return nil
	}
	return decode(c, &struct{}{})
}

// memberNames lists the json names of the members of *dst in order.
func memberNames(dst any) []string {
	t := reflect.TypeOf(dst).Elem()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fieldErrors collects what is wrong with a request, field by field.
type fieldErrors []FieldError

func (e *fieldErrors) add(field, detail string) {
	*e = append(*e, FieldError{Field: field, Detail: detail})
}

// has reports whether field name was sent with field name's error already
// listed (a wrong type), so "is required" is not added on top.
func (e fieldErrors) has(name string) bool {
	for _, fe := range e {
		if fe.Field == name {
			return true
		}
	}
	return false
}

// typed returns f's value if it has one; a value of the wrong type adds
// detail. Null and absent read as nil.
func typed[T any](e *fieldErrors, name string, f Field[T], detail string) *T {
	if f.Err != nil {
		e.add(name, detail)
	}
	if v, ok := f.Value(); ok {
		return &v
	}
	return nil
}

// str is an optional string; null reads as absent.
func str(e *fieldErrors, name string, f Field[string]) *string {
	return typed(e, name, f, "must be a string")
}

// required is a string that must be sent (not null).
func required(e *fieldErrors, name string, f Field[string]) *string {
	v := str(e, name, f)
	if v == nil && f.Err == nil {
		e.add(name, "is required")
	}
	return v
}

// positive is an optional positive whole number; null reads as absent.
func positive(e *fieldErrors, name string, f Field[int64], detail string) *int64 {
	v := typed(e, name, f, detail)
	if v != nil && *v <= 0 {
		e.add(name, detail)
		return nil
	}
	return v
}

// boolean is an optional true or false; null reads as absent.
func boolean(e *fieldErrors, name string, f Field[bool]) *bool {
	return typed(e, name, f, "must be true or false")
}

// wholeNumber is an optional whole number from lo to hi; null reads as
// absent.
func wholeNumber(e *fieldErrors, name string, f Field[float64], lo, hi int) *int {
	v, ok := f.Value()
	if f.Err != nil || ok && (v != math.Trunc(v) || v < float64(lo) || v > float64(hi)) {
		e.add(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return nil
	}
	if !ok {
		return nil
	}
	n := int(v)
	return &n
}

// nullableID is an optional id that may be null (to clear it): present
// reports whether a valid value or null was sent, id is nil for null.
func nullableID(e *fieldErrors, name string, f Field[json.RawMessage]) (id *int64, present bool) {
	if !f.Set {
		return nil, false
	}
	if f.Null {
		return nil, true
	}
	n, ok := parseID(f.V)
	if !ok {
		e.add(name, "must be a positive id or null")
		return nil, false
	}
	return &n, true
}

// parseID reads a positive whole number that is exact as a float64 (ids
// are JSON numbers, which JavaScript clients hold as doubles).
func parseID(raw json.RawMessage) (int64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || f < 1 || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// idList is an optional array of positive ids; present reports whether it
// was sent (null included).
func idList(e *fieldErrors, name string, f Field[[]json.RawMessage]) (ids []int64, present bool) {
	if f.Err != nil {
		e.add(name, "must be an array of ids")
		return nil, false
	}
	if !f.Set || f.Null {
		return nil, f.Set
	}
	ids = make([]int64, 0, len(f.V))
	for i, raw := range f.V {
		n, ok := parseID(raw)
		if !ok {
			e.add(fmt.Sprintf("%s[%d]", name, i), "must be a positive id")
			continue
		}
		ids = append(ids, n)
	}
	return ids, true
}

// stringList is an optional array of strings; present reports whether it
// was sent (null included, as nil).
func stringList(e *fieldErrors, name string, f Field[[]string]) (list []string, present bool) {
	if f.Err != nil {
		e.add(name, "must be an array of strings")
		return nil, false
	}
	if !f.Set || f.Null {
		return nil, f.Set
	}
	if f.V == nil {
		return []string{}, true
	}
	return f.V, true
}

// object is an optional JSON object, as its raw members; null reads as
// absent.
func object(e *fieldErrors, name string, f Field[map[string]json.RawMessage]) map[string]json.RawMessage {
	if v := typed(e, name, f, "must be an object"); v != nil {
		return *v
	}
	return nil
}

// rawIsNull reports whether a JSON value is null.
func rawIsNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

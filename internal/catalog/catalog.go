// Package catalog holds the pure rules of ticket classification: the
// category tree and custom field definitions with the validation of their
// values. The store keeps them; the API and routing decide with them.
package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldType is the kind of value a custom field holds.
type FieldType string

// The custom field types.
const (
	TypeText        FieldType = "text"
	TypeLongText    FieldType = "long_text"
	TypeNumber      FieldType = "number"
	TypeDropdown    FieldType = "dropdown"
	TypeMultiChoice FieldType = "multi_choice"
	TypeCheckbox    FieldType = "checkbox"
	TypeDate        FieldType = "date"
	TypeDateTime    FieldType = "datetime"
	TypeUser        FieldType = "user"
)

// Types lists every field type.
func Types() []FieldType {
	return []FieldType{TypeText, TypeLongText, TypeNumber, TypeDropdown, TypeMultiChoice, TypeCheckbox, TypeDate, TypeDateTime, TypeUser}
}

// ParseType returns the type named s or an error listing the valid ones.
func ParseType(s string) (FieldType, error) {
	var names []string
	for _, t := range Types() {
		if string(t) == s {
			return t, nil
		}
		names = append(names, string(t))
	}
	return "", fmt.Errorf("unknown type %q; want one of %s", s, strings.Join(names, ", "))
}

// Choice reports whether values of t are option ids.
func (t FieldType) Choice() bool { return t == TypeDropdown || t == TypeMultiChoice }

// Problem is one validation problem, named by its place.
type Problem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Option is one choice of a dropdown or multi-choice field. Its id never
// changes, so stored values stay readable when the label does.
type Option struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Retired bool   `json:"retired,omitempty"`
}

// ParseOptions reads the API's options: each item a plain string (id and
// label) or {"id", "label"}.
func ParseOptions(raw json.RawMessage) ([]Option, []Problem) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, []Problem{{"options", "must be an array of strings or {\"id\", \"label\"} objects"}}
	}
	var out []Option
	var probs []Problem
	seen := map[string]bool{}
	for i, it := range items {
		place := fmt.Sprintf("options[%d]", i)
		var o Option
		var s string
		if json.Unmarshal(it, &s) == nil {
			o = Option{ID: strings.TrimSpace(s), Label: strings.TrimSpace(s)}
		} else if err := json.Unmarshal(it, &o); err != nil {
			probs = append(probs, Problem{place, "must be a string or an {\"id\", \"label\"} object"})
			continue
		}
		o.ID, o.Label = strings.TrimSpace(o.ID), strings.TrimSpace(o.Label)
		if o.Label == "" {
			o.Label = o.ID
		}
		switch {
		case o.ID == "" || utf8.RuneCountInString(o.ID) > 64:
			probs = append(probs, Problem{place + ".id", "must be 1 to 64 characters"})
		case utf8.RuneCountInString(o.Label) > 200:
			probs = append(probs, Problem{place + ".label", "must be at most 200 characters"})
		case seen[o.ID]:
			probs = append(probs, Problem{place + ".id", fmt.Sprintf("%q is listed twice", o.ID)})
		default:
			seen[o.ID] = true
			out = append(out, o)
		}
	}
	return out, probs
}

// MergeOptions applies an update to existing options: known ids keep
// their id (the label may change), new ids are added, and ids the update
// leaves out are kept retired, since tickets may still hold them.
func MergeOptions(old, update []Option) []Option {
	out := slices.Clone(update)
	for _, o := range old {
		if !slices.ContainsFunc(update, func(u Option) bool { return u.ID == o.ID }) {
			o.Retired = true
			out = append(out, o)
		}
	}
	return out
}

// Field is a custom field definition.
type Field struct {
	ID                int64     `json:"id"`
	Key               string    `json:"key"`
	Label             string    `json:"label"`
	Type              FieldType `json:"type"`
	Options           []Option  `json:"options"`
	Required          bool      `json:"required"`
	RequiredToResolve bool      `json:"required_to_resolve"`
	// CategoryIDs empty: every category; otherwise these and their
	// subcategories.
	CategoryIDs []int64 `json:"category_ids"`
	Retired     bool    `json:"retired"`
	Position    int     `json:"position"`
	// VisibleToRequester: requesters see the field, its values and its
	// changes (default). Hidden fields are for staff only: requesters can
	// neither read, set, filter by nor learn of them (see
	// ticket.ForRequester).
	VisibleToRequester bool `json:"visible_to_requester"`
}

// ForRequesters keeps the fields requesters may see.
func ForRequesters(fs []Field) []Field {
	out := make([]Field, 0, len(fs))
	for _, f := range fs {
		if f.VisibleToRequester {
			out = append(out, f)
		}
	}
	return out
}

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidateDefinition checks a field definition as a whole.
func ValidateDefinition(f Field) []Problem {
	var probs []Problem
	if !keyPattern.MatchString(f.Key) {
		probs = append(probs, Problem{"key", "must start with a lower-case letter and have only a-z, 0-9 and _ (at most 63 characters)"})
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(f.Label)); n < 1 || n > 200 {
		probs = append(probs, Problem{"label", "must be 1 to 200 characters"})
	}
	if _, err := ParseType(string(f.Type)); err != nil {
		probs = append(probs, Problem{"type", err.Error()})
	} else if f.Type.Choice() && len(f.Options) == 0 {
		probs = append(probs, Problem{"options", fmt.Sprintf("a %s field needs at least one option", f.Type)})
	} else if !f.Type.Choice() && len(f.Options) > 0 {
		probs = append(probs, Problem{"options", fmt.Sprintf("a %s field has no options", f.Type)})
	}
	for i, id := range f.CategoryIDs {
		if id <= 0 {
			probs = append(probs, Problem{fmt.Sprintf("category_ids[%d]", i), "must be a positive id"})
		}
	}
	if f.Required && !f.VisibleToRequester {
		// Requesters could not open a ticket in its categories at all.
		probs = append(probs, Problem{"visible_to_requester", "a field required on new tickets must be visible to requesters, " +
			"who fill it in; use required_to_resolve for a field staff complete"})
	}
	return probs
}

// AppliesTo reports whether the field applies to a ticket whose category
// path (its category first, then ancestors) is path.
func (f Field) AppliesTo(path []int64) bool {
	if len(f.CategoryIDs) == 0 {
		return true
	}
	for _, id := range f.CategoryIDs {
		if slices.Contains(path, id) {
			return true
		}
	}
	return false
}

func (f Field) option(v string) (Option, bool) {
	for _, o := range f.Options {
		if o.ID == v {
			return o, true
		}
	}
	for _, o := range f.Options {
		if strings.EqualFold(o.Label, v) {
			return o, true
		}
	}
	return Option{}, false
}

func (f Field) optionList() string {
	var ids []string
	for _, o := range f.Options {
		if !o.Retired {
			ids = append(ids, o.ID)
		}
	}
	return strings.Join(ids, ", ")
}

// Normalize validates one value and returns its stored form. Choices take
// the option id (or, for convenience, its label) and store the id.
func (f Field) Normalize(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, fmt.Errorf("must not be null")
	}
	choose := func(s string) (string, error) {
		o, ok := f.option(s)
		if !ok {
			return "", fmt.Errorf("%q is not one of the options: %s", s, f.optionList())
		}
		if o.Retired {
			return "", fmt.Errorf("option %q is retired; choose one of %s", o.ID, f.optionList())
		}
		return o.ID, nil
	}
	switch f.Type {
	case TypeText, TypeLongText, TypeDropdown, TypeDate, TypeDateTime:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("must be a string")
		}
		switch f.Type {
		case TypeText:
			s = strings.TrimSpace(s)
			if n := utf8.RuneCountInString(s); n < 1 || n > 255 {
				return nil, fmt.Errorf("must be 1 to 255 characters")
			}
			return s, nil
		case TypeLongText:
			if s == "" || len(s) > 64<<10 {
				return nil, fmt.Errorf("must be 1 byte to 64 KiB")
			}
			return s, nil
		case TypeDropdown:
			return choose(s)
		case TypeDate:
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				return nil, fmt.Errorf("must be a date like 2026-12-04")
			}
			return s, nil
		default:
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("must be an RFC 3339 time with an offset, like 2026-12-04T09:30:00+01:00")
			}
			return t.UTC().Format(time.RFC3339Nano), nil
		}
	case TypeNumber, TypeUser:
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("must be a number")
		}
		if f.Type == TypeUser {
			if n != math.Trunc(n) || n < 1 || n > 1<<53 {
				return nil, fmt.Errorf("must be a user id")
			}
			return int64(n), nil
		}
		return n, nil
	case TypeCheckbox:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("must be true or false")
		}
		return b, nil
	case TypeMultiChoice:
		var items []string
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("must be an array of option ids")
		}
		ids := make([]string, 0, len(items))
		for _, it := range items {
			id, err := choose(it)
			if err != nil {
				return nil, err
			}
			if slices.Contains(ids, id) {
				return nil, fmt.Errorf("lists %q twice", id)
			}
			ids = append(ids, id)
		}
		order := func(id string) int { return slices.IndexFunc(f.Options, func(o Option) bool { return o.ID == id }) }
		sort.Slice(ids, func(i, j int) bool { return order(ids[i]) < order(ids[j]) })
		return ids, nil
	}
	return nil, fmt.Errorf("unknown field type %q", f.Type)
}

// Values is a ticket's custom field values by key, as stored.
type Values map[string]any

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []string:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// ValidateValues checks a create's (current nil) or update's custom_fields
// against the fields applying to the category path. It returns the
// normalized changes (key -> value, nil clears) and every problem.
func ValidateValues(fields []Field, path []int64, input map[string]json.RawMessage, current Values) (map[string]any, []Problem) {
	byKey := map[string]Field{}
	for _, f := range fields {
		byKey[f.Key] = f
	}
	changes := map[string]any{}
	var probs []Problem
	keys := make([]string, 0, len(input))
	for k := range input {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		place := "custom_fields." + k
		f, ok := byKey[k]
		switch {
		case !ok:
			probs = append(probs, Problem{place, "no such custom field"})
			continue
		case f.Retired:
			probs = append(probs, Problem{place, "is retired"})
			continue
		case !f.AppliesTo(path):
			probs = append(probs, Problem{place, "does not apply to this category"})
			continue
		}
		if string(bytes.TrimSpace(input[k])) == "null" {
			if f.Required {
				probs = append(probs, Problem{place, "is required and cannot be cleared"})
				continue
			}
			changes[k] = nil
			continue
		}
		v, err := f.Normalize(input[k])
		if err != nil {
			probs = append(probs, Problem{place, err.Error()})
			continue
		}
		if empty(v) {
			v = nil
		}
		changes[k] = v
	}
	if current == nil {
		for _, f := range fields {
			if f.Required && !f.Retired && f.AppliesTo(path) && empty(changes[f.Key]) && !hasProblem(probs, "custom_fields."+f.Key) {
				probs = append(probs, Problem{"custom_fields." + f.Key, "is required"})
			}
		}
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Field < probs[j].Field })
	return changes, probs
}

func hasProblem(ps []Problem, field string) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return p.Field == field })
}

// MissingToResolve lists the applicable fields required to resolve a
// ticket that have no value in v.
func MissingToResolve(fields []Field, path []int64, v Values) []Problem {
	var probs []Problem
	for _, f := range fields {
		if f.RequiredToResolve && !f.Retired && f.AppliesTo(path) && empty(v[f.Key]) {
			probs = append(probs, Problem{"custom_fields." + f.Key, "is required to resolve the ticket"})
		}
	}
	return probs
}

// Category is one node of the category tree.
type Category struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	ParentID *int64 `json:"parent_id"`
	Archived bool   `json:"archived"`
	// Path is the category's place for people: "Hardware / Printers".
	Path string `json:"path"`
}

// ValidateName trims a category name and checks it.
func ValidateName(name string) (string, *Problem) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		return name, &Problem{"name", "must be 1 to 100 characters"}
	}
	if strings.Contains(name, "/") {
		return name, &Problem{"name", `must not contain "/" (it separates the parts of a category path)`}
	}
	return name, nil
}

// Tree indexes categories for path and subtree questions.
type Tree struct {
	byID     map[int64]Category
	children map[int64][]int64 // 0: roots
}

// NewTree indexes cs.
func NewTree(cs []Category) *Tree {
	t := &Tree{byID: map[int64]Category{}, children: map[int64][]int64{}}
	for _, c := range cs {
		t.byID[c.ID] = c
		var parent int64
		if c.ParentID != nil {
			parent = *c.ParentID
		}
		t.children[parent] = append(t.children[parent], c.ID)
	}
	for k := range t.children {
		kids := t.children[k]
		sort.Slice(kids, func(i, j int) bool {
			a, b := strings.ToLower(t.byID[kids[i]].Name), strings.ToLower(t.byID[kids[j]].Name)
			return a < b || a == b && kids[i] < kids[j]
		})
	}
	return t
}

// Get returns a category with its path.
func (t *Tree) Get(id int64) (Category, bool) {
	c, ok := t.byID[id]
	if ok {
		c.Path = t.PathName(id)
	}
	return c, ok
}

// Ancestors returns id, its parent, … up to the root; nil when unknown.
func (t *Tree) Ancestors(id int64) []int64 {
	var out []int64
	for cur, ok := t.byID[id]; ok && len(out) <= len(t.byID); cur, ok = t.parent(cur) {
		out = append(out, cur.ID)
	}
	return out
}

func (t *Tree) parent(c Category) (Category, bool) {
	if c.ParentID == nil {
		return Category{}, false
	}
	p, ok := t.byID[*c.ParentID]
	return p, ok
}

// PathName is the category's path for people ("Hardware / Printers").
func (t *Tree) PathName(id int64) string {
	anc := t.Ancestors(id)
	parts := make([]string, len(anc))
	for i, a := range anc {
		parts[len(anc)-1-i] = t.byID[a].Name
	}
	return strings.Join(parts, " / ")
}

// Descendants returns id and every category under it.
func (t *Tree) Descendants(id int64) []int64 {
	out := []int64{id}
	for i := 0; i < len(out) && i <= len(t.byID); i++ {
		out = append(out, t.children[out[i]]...)
	}
	return out
}

// WouldCycle reports whether moving id under newParent makes it its own
// ancestor.
func (t *Tree) WouldCycle(id, newParent int64) bool {
	return slices.Contains(t.Ancestors(newParent), id)
}

// Sorted returns every category depth-first, siblings by name, with paths.
func (t *Tree) Sorted() []Category {
	var out []Category
	var walk func(parent int64)
	walk = func(parent int64) {
		for _, id := range t.children[parent] {
			c, _ := t.Get(id)
			out = append(out, c)
			walk(id)
		}
	}
	walk(0)
	return out
}

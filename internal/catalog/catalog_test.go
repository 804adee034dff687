package catalog

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestNormalizeEveryType(t *testing.T) {
	drop := Field{Key: "m", Type: TypeDropdown, Options: []Option{{ID: "laserjet", Label: "LaserJet"}, {ID: "old", Label: "Old", Retired: true}}}
	multi := Field{Key: "x", Type: TypeMultiChoice, Options: []Option{{ID: "a", Label: "A"}, {ID: "b", Label: "B"}}}
	cases := []struct {
		name string
		f    Field
		in   string
		want any // nil: an error is expected
	}{
		{"text trimmed", Field{Type: TypeText}, `"  hi "`, "hi"},
		{"text empty", Field{Type: TypeText}, `"  "`, nil},
		{"text number", Field{Type: TypeText}, `3`, nil},
		{"long text", Field{Type: TypeLongText}, `"a\nb"`, "a\nb"},
		{"number", Field{Type: TypeNumber}, `12.5`, 12.5},
		{"number as string", Field{Type: TypeNumber}, `"12"`, nil},
		{"dropdown id", drop, `"laserjet"`, "laserjet"},
		{"dropdown label", drop, `"LaserJet"`, "laserjet"},
		{"dropdown unknown", drop, `"purple"`, nil},
		{"dropdown retired", drop, `"old"`, nil},
		{"multi in option order", multi, `["b","a"]`, "[a b]"},
		{"multi twice", multi, `["a","a"]`, nil},
		{"multi not a list", multi, `"a"`, nil},
		{"checkbox", Field{Type: TypeCheckbox}, `true`, true},
		{"checkbox string", Field{Type: TypeCheckbox}, `"yes"`, nil},
		{"date", Field{Type: TypeDate}, `"2026-12-04"`, "2026-12-04"},
		{"date impossible", Field{Type: TypeDate}, `"2026-02-30"`, nil},
		{"datetime to UTC", Field{Type: TypeDateTime}, `"2026-12-04T10:00:00+01:00"`, "2026-12-04T09:00:00Z"},
		{"datetime without offset", Field{Type: TypeDateTime}, `"2026-12-04T10:00:00"`, nil},
		{"user", Field{Type: TypeUser}, `7`, int64(7)},
		{"user fraction", Field{Type: TypeUser}, `7.5`, nil},
		{"null", Field{Type: TypeText}, `null`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.f.Normalize(json.RawMessage(c.in))
			if c.want == nil {
				if err == nil {
					t.Fatalf("accepted %s as %v", c.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s, ok := c.want.(string); ok && fmt.Sprint(got) == s {
				return
			}
			if got != c.want {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestValidateValuesAndTree(t *testing.T) {
	p1, p2 := int64(1), int64(2)
	tree := NewTree([]Category{{ID: 1, Name: "Hardware"}, {ID: 2, Name: "Printers", ParentID: &p1}, {ID: 3, Name: "Laser", ParentID: &p2}})
	if got := tree.PathName(3); got != "Hardware / Printers / Laser" {
		t.Errorf("path %q", got)
	}
	if !tree.WouldCycle(1, 3) || tree.WouldCycle(3, 1) {
		t.Error("cycle detection")
	}
	if got := fmt.Sprint(tree.Descendants(1)); got != "[1 2 3]" {
		t.Errorf("descendants %s", got)
	}
	fields := []Field{
		{Key: "model", Type: TypeText, Required: true, CategoryIDs: []int64{2}},
		{Key: "pages", Type: TypeNumber, RequiredToResolve: true, CategoryIDs: []int64{2}},
		{Key: "gone", Type: TypeText, Retired: true},
	}
	path := tree.Ancestors(3)
	_, probs := ValidateValues(fields, path, map[string]json.RawMessage{"gone": json.RawMessage(`"x"`), "nope": json.RawMessage(`1`)}, nil)
	if got := fmt.Sprint(probs); got != "[{custom_fields.gone is retired} {custom_fields.model is required} {custom_fields.nope no such custom field}]" {
		t.Errorf("problems %s", got)
	}
	if _, probs := ValidateValues(fields, tree.Ancestors(1), map[string]json.RawMessage{"model": json.RawMessage(`"x"`)}, nil); len(probs) != 1 || probs[0].Detail != "does not apply to this category" {
		t.Errorf("parent category: %v", probs)
	}
	if probs := MissingToResolve(fields, path, Values{"model": "x"}); len(probs) != 1 || probs[0].Field != "custom_fields.pages" {
		t.Errorf("to resolve: %v", probs)
	}
	merged := MergeOptions([]Option{{ID: "a", Label: "A"}, {ID: "b", Label: "B"}}, []Option{{ID: "a", Label: "Alpha"}})
	if fmt.Sprint(merged) != "[{a Alpha false} {b B true}]" {
		t.Errorf("merge %v", merged)
	}
}

func TestVisibilityToRequesters(t *testing.T) {
	shown := Field{Key: "model", Label: "Model", Type: TypeText, VisibleToRequester: true}
	hidden := Field{Key: "risk", Label: "Risk", Type: TypeNumber, RequiredToResolve: true}
	if got := ForRequesters([]Field{shown, hidden}); len(got) != 1 || got[0].Key != "model" {
		t.Errorf("ForRequesters kept %v, want only model", got)
	}
	if probs := ValidateDefinition(hidden); len(probs) != 0 {
		t.Errorf("a hidden field required to resolve is refused: %v", probs)
	}
	hidden.Required = true
	probs := ValidateDefinition(hidden)
	if len(probs) != 1 || probs[0].Field != "visible_to_requester" {
		t.Errorf("a hidden field required on new tickets: %v, want one problem on visible_to_requester", probs)
	}
	shown.Required = true
	if probs := ValidateDefinition(shown); len(probs) != 0 {
		t.Errorf("a visible required field is refused: %v", probs)
	}
}

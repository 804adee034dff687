package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func testSchema() Schema {
	return Schema{
		Fields: map[string]FieldDef{
			"serial":   {Type: "text"},
			"notes":    {Type: "long_text"},
			"seats":    {Type: "number"},
			"os":       {Type: "dropdown", Options: []string{"linux", "windows", "mac"}},
			"modules":  {Type: "multi_choice", Options: []string{"billing", "crm", "hr"}},
			"agreed":   {Type: "checkbox"},
			"due":      {Type: "date"},
			"seen_at":  {Type: "datetime"},
			"owner":    {Type: "user"},
			"location": {Type: "geo"},
		},
		Categories:    map[int64]bool{1: true, 2: true, 3: true},
		Teams:         map[int64]bool{10: true, 11: true},
		Agents:        map[int64]bool{31: true, 32: true, 33: true},
		Organizations: map[int64]bool{100: true, 101: true},
	}
}

func priorityRule() Rule {
	return Rule{
		Name:       "VIP printers",
		Kind:       KindPriority,
		Enabled:    true,
		Conditions: []Condition{{Field: FieldRequesterVIP, Op: "is", Value: true}},
		Actions:    Actions{Priority: ptr("high"), Tags: []string{"vip"}},
	}
}

func assignmentRule() Rule {
	return Rule{
		Name:       "Printers to desk-side",
		Kind:       KindAssignment,
		Enabled:    true,
		Conditions: []Condition{{Field: FieldCategory, Op: "under", Value: float64(1)}},
		Actions:    Actions{TeamID: ptr(int64(10))},
	}
}

// cond returns a mutation that makes the rule's only condition c.
func cond(c Condition) func(*Rule) {
	return func(r *Rule) { r.Conditions = []Condition{c} }
}

func manyStrings(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestValidate(t *testing.T) {
	validConds := func(n int) []Condition {
		cs := make([]Condition, n)
		for i := range cs {
			cs[i] = Condition{Field: FieldChannel, Op: "is", Value: "web"}
		}
		return cs
	}
	cases := []struct {
		name string
		base func() Rule
		mod  func(*Rule)
		want []string // Problem.Field of every problem, in order; nil: valid
	}{
		// valid rules
		{"valid priority rule", priorityRule, func(*Rule) {}, nil},
		{"valid assignment rule with team only", assignmentRule, func(*Rule) {}, nil},
		{"valid assignment rule with agent only", assignmentRule, func(r *Rule) { r.Actions = Actions{AgentID: ptr(int64(31))} }, nil},
		{"valid assignment rule with team and agent", assignmentRule, func(r *Rule) { r.Actions.AgentID = ptr(int64(32)) }, nil},
		{"valid skills strategy", assignmentRule, func(r *Rule) { r.Actions.Strategy = StrategySkills; r.Actions.Skills = []string{"printers"} }, nil},
		{"valid least loaded with priority and tags", assignmentRule, func(r *Rule) {
			r.Actions.Strategy = StrategyLeastLoaded
			r.Actions.Priority = ptr("low")
			r.Actions.Tags = []string{"desk"}
		}, nil},
		{"valid rule without conditions", priorityRule, func(r *Rule) { r.Conditions = nil }, nil},
		{"valid name of 200 multibyte characters", priorityRule, func(r *Rule) { r.Name = "  " + strings.Repeat("é", 200) + " " }, nil},
		{"valid 50 conditions", priorityRule, func(r *Rule) { r.Conditions = validConds(50) }, nil},
		{"valid 21 tags that are 20 once normalized", priorityRule, func(r *Rule) {
			r.Actions.Tags = append(manyStrings(20, func(i int) string { return fmt.Sprintf("t%d", i) }), " T0 ")
		}, nil},
		{"valid tag of 50 characters", priorityRule, func(r *Rule) { r.Actions.Tags = []string{strings.Repeat("ü", 50)} }, nil},
		{"valid every condition type", priorityRule, func(r *Rule) {
			r.Conditions = []Condition{
				{Field: FieldCategory, Op: "is", Value: float64(1)},
				{Field: FieldCategory, Op: "in", Value: []any{float64(1), float64(2)}},
				{Field: FieldCategory, Op: "not_under", Value: float64(3)},
				{Field: FieldKeywords, Op: "none", Value: []any{"printer", "paper jam", "打印机"}},
				{Field: FieldRequesterOrganization, Op: "not_in", Value: []any{float64(100)}},
				{Field: FieldRequesterVIP, Op: "is", Value: false},
				{Field: FieldChannel, Op: "in", Value: []any{"web", "email"}},
				{Field: FieldPriority, Op: "at_least", Value: "medium"},
				{Field: "cf.serial", Op: "contains", Value: "SN-"},
				{Field: "cf.notes", Op: "is", Value: "hello"},
				{Field: "cf.seats", Op: "gte", Value: float64(2.5)},
				{Field: "cf.os", Op: "not_in", Value: []any{"mac"}},
				{Field: "cf.modules", Op: "all", Value: []any{"crm", "hr"}},
				{Field: "cf.agreed", Op: "is", Value: true},
				{Field: "cf.due", Op: "before", Value: "2026-12-04"},
				{Field: "cf.seen_at", Op: "after", Value: "2026-12-04T09:30:00+02:00"},
				{Field: "cf.owner", Op: "in", Value: []any{float64(7), float64(8)}},
				{Field: "cf.owner", Op: "set"},
				{Field: "cf.serial", Op: "not_set"},
			}
		}, nil},
		{"valid values built in Go", priorityRule, func(r *Rule) {
			r.Conditions = []Condition{
				{Field: FieldCategory, Op: "in", Value: []int64{1, 3}},
				{Field: FieldRequesterOrganization, Op: "is", Value: 101},
				{Field: "cf.modules", Op: "any", Value: []string{"billing"}},
				{Field: "cf.seats", Op: "lt", Value: 3},
			}
		}, nil},

		// name and kind
		{"name empty", priorityRule, func(r *Rule) { r.Name = "" }, []string{"name"}},
		{"name only spaces", priorityRule, func(r *Rule) { r.Name = " \t " }, []string{"name"}},
		{"name 201 characters", priorityRule, func(r *Rule) { r.Name = strings.Repeat("a", 201) }, []string{"name"}},
		{"kind empty", priorityRule, func(r *Rule) { r.Kind = "" }, []string{"kind"}},
		{"kind unknown", priorityRule, func(r *Rule) { r.Kind = "escalation" }, []string{"kind"}},

		// conditions: the list and the field
		{"51 conditions", priorityRule, func(r *Rule) { r.Conditions = validConds(51) }, []string{"conditions"}},
		{"field empty", priorityRule, cond(Condition{Op: "is", Value: "web"}), []string{"conditions[0].field"}},
		{"field unknown", priorityRule, cond(Condition{Field: "subject", Op: "is", Value: "x"}), []string{"conditions[0].field"}},
		{"custom field unknown", priorityRule, cond(Condition{Field: "cf.missing", Op: "set"}), []string{"conditions[0].field"}},
		{"custom field without key", priorityRule, cond(Condition{Field: "cf.", Op: "set"}), []string{"conditions[0].field"}},
		{"custom field of untestable type", priorityRule, cond(Condition{Field: "cf.location", Op: "set"}), []string{"conditions[0].field"}},
		{"field name is case-sensitive", priorityRule, cond(Condition{Field: "Category", Op: "is", Value: float64(1)}), []string{"conditions[0].field"}},

		// conditions: the op
		{"op empty", priorityRule, cond(Condition{Field: FieldCategory, Value: float64(1)}), []string{"conditions[0].op"}},
		{"op of another field on category", priorityRule, cond(Condition{Field: FieldCategory, Op: "contains", Value: float64(1)}), []string{"conditions[0].op"}},
		{"op not_in on channel", priorityRule, cond(Condition{Field: FieldChannel, Op: "not_in", Value: []any{"web"}}), []string{"conditions[0].op"}},
		{"op set on a built-in field", priorityRule, cond(Condition{Field: FieldCategory, Op: "set"}), []string{"conditions[0].op"}},
		{"op gt on text field", priorityRule, cond(Condition{Field: "cf.serial", Op: "gt", Value: "a"}), []string{"conditions[0].op"}},
		{"op in on checkbox", priorityRule, cond(Condition{Field: "cf.agreed", Op: "in", Value: []any{true}}), []string{"conditions[0].op"}},
		{"op is on multi_choice", priorityRule, cond(Condition{Field: "cf.modules", Op: "is", Value: "crm"}), []string{"conditions[0].op"}},
		{"op contains on number", priorityRule, cond(Condition{Field: "cf.seats", Op: "contains", Value: "1"}), []string{"conditions[0].op"}},
		{"op eq on date", priorityRule, cond(Condition{Field: "cf.due", Op: "eq", Value: "2026-12-04"}), []string{"conditions[0].op"}},
		{"op not_in on user", priorityRule, cond(Condition{Field: "cf.owner", Op: "not_in", Value: []any{float64(1)}}), []string{"conditions[0].op"}},
		{"bad op in the second condition", priorityRule, func(r *Rule) {
			r.Conditions = append(r.Conditions, Condition{Field: FieldPriority, Op: "gt", Value: "low"})
		}, []string{"conditions[1].op"}},

		// conditions: built-in values
		{"category id as string", priorityRule, cond(Condition{Field: FieldCategory, Op: "is", Value: "1"}), []string{"conditions[0].value"}},
		{"category id fractional", priorityRule, cond(Condition{Field: FieldCategory, Op: "is", Value: 1.5}), []string{"conditions[0].value"}},
		{"category id zero", priorityRule, cond(Condition{Field: FieldCategory, Op: "under", Value: float64(0)}), []string{"conditions[0].value"}},
		{"category id negative", priorityRule, cond(Condition{Field: FieldCategory, Op: "is", Value: float64(-2)}), []string{"conditions[0].value"}},
		{"category id missing", priorityRule, cond(Condition{Field: FieldCategory, Op: "is"}), []string{"conditions[0].value"}},
		{"category unknown", priorityRule, cond(Condition{Field: FieldCategory, Op: "not_under", Value: float64(99)}), []string{"conditions[0].value"}},
		{"category in empty list", priorityRule, cond(Condition{Field: FieldCategory, Op: "in", Value: []any{}}), []string{"conditions[0].value"}},
		{"category in not a list", priorityRule, cond(Condition{Field: FieldCategory, Op: "in", Value: float64(1)}), []string{"conditions[0].value"}},
		{"category in with unknown id", priorityRule, cond(Condition{Field: FieldCategory, Op: "in", Value: []any{float64(1), float64(42)}}), []string{"conditions[0].value"}},
		{"category in with a string", priorityRule, cond(Condition{Field: FieldCategory, Op: "in", Value: []any{float64(1), "2"}}), []string{"conditions[0].value"}},
		{"category in with 101 ids", priorityRule, func(r *Rule) {
			ids := make([]any, 101)
			for i := range ids {
				ids[i] = float64(1)
			}
			r.Conditions = []Condition{{Field: FieldCategory, Op: "in", Value: ids}}
		}, []string{"conditions[0].value"}},
		{"keywords not a list", priorityRule, cond(Condition{Field: FieldKeywords, Op: "any", Value: "printer"}), []string{"conditions[0].value"}},
		{"keywords empty list", priorityRule, cond(Condition{Field: FieldKeywords, Op: "all", Value: []any{}}), []string{"conditions[0].value"}},
		{"keywords with a number", priorityRule, cond(Condition{Field: FieldKeywords, Op: "any", Value: []any{"printer", float64(5)}}), []string{"conditions[0].value"}},
		{"keyword without letters", priorityRule, cond(Condition{Field: FieldKeywords, Op: "none", Value: []any{"!!!"}}), []string{"conditions[0].value"}},
		{"keyword empty", priorityRule, cond(Condition{Field: FieldKeywords, Op: "any", Value: []any{""}}), []string{"conditions[0].value"}},
		{"keyword too long", priorityRule, cond(Condition{Field: FieldKeywords, Op: "any", Value: []any{strings.Repeat("x", 101)}}), []string{"conditions[0].value"}},
		{"organization unknown", priorityRule, cond(Condition{Field: FieldRequesterOrganization, Op: "is", Value: float64(5)}), []string{"conditions[0].value"}},
		{"organization not_in with a string", priorityRule, cond(Condition{Field: FieldRequesterOrganization, Op: "not_in", Value: []any{"100"}}), []string{"conditions[0].value"}},
		{"organization in single id", priorityRule, cond(Condition{Field: FieldRequesterOrganization, Op: "in", Value: float64(100)}), []string{"conditions[0].value"}},
		{"vip as string", priorityRule, cond(Condition{Field: FieldRequesterVIP, Op: "is", Value: "true"}), []string{"conditions[0].value"}},
		{"channel unknown", priorityRule, cond(Condition{Field: FieldChannel, Op: "is", Value: "fax"}), []string{"conditions[0].value"}},
		{"channel upper case", priorityRule, cond(Condition{Field: FieldChannel, Op: "is", Value: "WEB"}), []string{"conditions[0].value"}},
		{"channel in empty", priorityRule, cond(Condition{Field: FieldChannel, Op: "in", Value: []any{}}), []string{"conditions[0].value"}},
		{"channel in with unknown", priorityRule, cond(Condition{Field: FieldChannel, Op: "in", Value: []any{"web", "sms"}}), []string{"conditions[0].value"}},
		{"priority unknown", priorityRule, cond(Condition{Field: FieldPriority, Op: "at_least", Value: "urgent"}), []string{"conditions[0].value"}},
		{"priority as list for is", priorityRule, cond(Condition{Field: FieldPriority, Op: "is", Value: []any{"high"}}), []string{"conditions[0].value"}},
		{"priority in with a number", priorityRule, cond(Condition{Field: FieldPriority, Op: "in", Value: []any{"high", float64(3)}}), []string{"conditions[0].value"}},

		// conditions: custom field values
		{"text value a number", priorityRule, cond(Condition{Field: "cf.serial", Op: "is", Value: float64(5)}), []string{"conditions[0].value"}},
		{"text contains empty", priorityRule, cond(Condition{Field: "cf.serial", Op: "contains", Value: " "}), []string{"conditions[0].value"}},
		{"text value too long", priorityRule, cond(Condition{Field: "cf.notes", Op: "contains", Value: strings.Repeat("a", 256)}), []string{"conditions[0].value"}},
		{"number value a string", priorityRule, cond(Condition{Field: "cf.seats", Op: "gt", Value: "5"}), []string{"conditions[0].value"}},
		{"number value missing", priorityRule, cond(Condition{Field: "cf.seats", Op: "eq"}), []string{"conditions[0].value"}},
		{"dropdown unknown option", priorityRule, cond(Condition{Field: "cf.os", Op: "is", Value: "bsd"}), []string{"conditions[0].value"}},
		{"dropdown option by label case", priorityRule, cond(Condition{Field: "cf.os", Op: "is", Value: "Linux"}), []string{"conditions[0].value"}},
		{"dropdown in empty", priorityRule, cond(Condition{Field: "cf.os", Op: "in", Value: []any{}}), []string{"conditions[0].value"}},
		{"dropdown not_in with unknown option", priorityRule, cond(Condition{Field: "cf.os", Op: "not_in", Value: []any{"linux", "bsd"}}), []string{"conditions[0].value"}},
		{"dropdown in a single string", priorityRule, cond(Condition{Field: "cf.os", Op: "in", Value: "linux"}), []string{"conditions[0].value"}},
		{"multi_choice not a list", priorityRule, cond(Condition{Field: "cf.modules", Op: "any", Value: "crm"}), []string{"conditions[0].value"}},
		{"multi_choice unknown option", priorityRule, cond(Condition{Field: "cf.modules", Op: "all", Value: []any{"payroll"}}), []string{"conditions[0].value"}},
		{"checkbox value a string", priorityRule, cond(Condition{Field: "cf.agreed", Op: "is", Value: "true"}), []string{"conditions[0].value"}},
		{"date impossible", priorityRule, cond(Condition{Field: "cf.due", Op: "before", Value: "2026-13-01"}), []string{"conditions[0].value"}},
		{"date given as datetime", priorityRule, cond(Condition{Field: "cf.due", Op: "after", Value: "2026-12-04T00:00:00Z"}), []string{"conditions[0].value"}},
		{"date as number", priorityRule, cond(Condition{Field: "cf.due", Op: "after", Value: float64(20261204)}), []string{"conditions[0].value"}},
		{"datetime given as date", priorityRule, cond(Condition{Field: "cf.seen_at", Op: "after", Value: "2026-12-04"}), []string{"conditions[0].value"}},
		{"datetime without zone", priorityRule, cond(Condition{Field: "cf.seen_at", Op: "before", Value: "2026-12-04T09:30:00"}), []string{"conditions[0].value"}},
		{"user id zero", priorityRule, cond(Condition{Field: "cf.owner", Op: "is", Value: float64(0)}), []string{"conditions[0].value"}},
		{"user in with a string", priorityRule, cond(Condition{Field: "cf.owner", Op: "in", Value: []any{"a"}}), []string{"conditions[0].value"}},
		{"set with a value", priorityRule, cond(Condition{Field: "cf.serial", Op: "set", Value: true}), []string{"conditions[0].value"}},
		{"not_set with a value", priorityRule, cond(Condition{Field: "cf.os", Op: "not_set", Value: "linux"}), []string{"conditions[0].value"}},

		// actions of priority rules
		{"priority rule without priority", priorityRule, func(r *Rule) { r.Actions.Priority = nil }, []string{"actions.priority"}},
		{"priority rule with unknown priority", priorityRule, func(r *Rule) { r.Actions.Priority = ptr("urgent") }, []string{"actions.priority"}},
		{"priority rule with capitalised priority", priorityRule, func(r *Rule) { r.Actions.Priority = ptr("High") }, []string{"actions.priority"}},
		{"priority rule with team", priorityRule, func(r *Rule) { r.Actions.TeamID = ptr(int64(10)) }, []string{"actions.team_id"}},
		{"priority rule with agent", priorityRule, func(r *Rule) { r.Actions.AgentID = ptr(int64(31)) }, []string{"actions.agent_id"}},
		{"priority rule with strategy", priorityRule, func(r *Rule) { r.Actions.Strategy = StrategyRoundRobin }, []string{"actions.strategy"}},
		{"priority rule with skills", priorityRule, func(r *Rule) { r.Actions.Skills = []string{"printers"} }, []string{"actions.skills"}},

		// actions of assignment rules
		{"assignment rule without team or agent", assignmentRule, func(r *Rule) { r.Actions = Actions{Priority: ptr("high")} }, []string{"actions"}},
		{"assignment rule with unknown team", assignmentRule, func(r *Rule) { r.Actions.TeamID = ptr(int64(12)) }, []string{"actions.team_id"}},
		{"assignment rule with team zero", assignmentRule, func(r *Rule) { r.Actions.TeamID = ptr(int64(0)) }, []string{"actions.team_id"}},
		{"assignment rule with unknown agent", assignmentRule, func(r *Rule) { r.Actions.AgentID = ptr(int64(99)) }, []string{"actions.agent_id"}},
		{"assignment rule with negative agent", assignmentRule, func(r *Rule) { r.Actions = Actions{AgentID: ptr(int64(-31))} }, []string{"actions.agent_id"}},
		{"assignment rule with unknown priority", assignmentRule, func(r *Rule) { r.Actions.Priority = ptr("p1") }, []string{"actions.priority"}},
		{"strategy unknown", assignmentRule, func(r *Rule) { r.Actions.Strategy = "random" }, []string{"actions.strategy"}},
		{"strategy without team", assignmentRule, func(r *Rule) {
			r.Actions = Actions{AgentID: ptr(int64(31)), Strategy: StrategyLeastLoaded}
		}, []string{"actions.strategy"}},
		{"skills strategy without skills", assignmentRule, func(r *Rule) { r.Actions.Strategy = StrategySkills }, []string{"actions.skills"}},
		{"skills without team", assignmentRule, func(r *Rule) {
			r.Actions = Actions{AgentID: ptr(int64(31)), Skills: []string{"printers"}}
		}, []string{"actions.skills"}},
		{"skill empty", assignmentRule, func(r *Rule) { r.Actions.Skills = []string{"printers", "  "} }, []string{"actions.skills"}},
		{"skill too long", assignmentRule, func(r *Rule) { r.Actions.Skills = []string{strings.Repeat("s", 51)} }, []string{"actions.skills"}},
		{"21 skills", assignmentRule, func(r *Rule) {
			r.Actions.Skills = manyStrings(21, func(i int) string { return fmt.Sprintf("s%d", i) })
		}, []string{"actions.skills"}},

		// tags, for either kind
		{"tag empty", priorityRule, func(r *Rule) { r.Actions.Tags = []string{"vip", " "} }, []string{"actions.tags[1]"}},
		{"tag too long", assignmentRule, func(r *Rule) { r.Actions.Tags = []string{strings.Repeat("t", 51)} }, []string{"actions.tags[0]"}},
		{"21 tags", priorityRule, func(r *Rule) {
			r.Actions.Tags = manyStrings(21, func(i int) string { return fmt.Sprintf("t%d", i) })
		}, []string{"actions.tags"}},

		// several problems at once, in order
		{"every problem reported", assignmentRule, func(r *Rule) {
			r.Name = ""
			r.Conditions = []Condition{
				{Field: FieldChannel, Op: "is", Value: "web"},
				{Field: FieldCategory, Op: "is", Value: float64(7)},
				{Field: "nope", Op: "is"},
			}
			r.Actions = Actions{Strategy: StrategySkills, Tags: []string{""}}
		}, []string{"name", "conditions[1].value", "conditions[2].field", "actions", "actions.strategy", "actions.skills", "actions.tags[0]"}},
		{"unknown kind still checks conditions and tags", priorityRule, func(r *Rule) {
			r.Kind = "sla"
			r.Conditions = []Condition{{Field: "requester_is_vip", Op: "is", Value: true}}
			r.Actions.Tags = []string{""}
		}, []string{"kind", "conditions[0].field", "actions.tags[0]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.base()
			c.mod(&r)
			probs := Validate(r, testSchema())
			var got []string
			for _, p := range probs {
				got = append(got, p.Field)
				if p.Detail == "" {
					t.Errorf("problem at %s has no detail", p.Field)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("problems at %v, want %v; all: %+v", got, c.want, probs)
			}
		})
	}
}

func TestValidateDetails(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Rule)
		want string
	}{
		{"unknown category names the id", cond(Condition{Field: FieldCategory, Op: "is", Value: float64(42)}), "unknown category 42"},
		{"bad op lists the valid ones", cond(Condition{Field: "cf.os", Op: "gt", Value: "x"}), `op "gt" does not apply to cf.os; want one of is, in, not_in, set, not_set`},
		{"bad list item names its index", cond(Condition{Field: FieldKeywords, Op: "any", Value: []any{"a", true}}), "item 1: want a word or phrase (a string)"},
		{"unknown option lists the options", cond(Condition{Field: "cf.os", Op: "is", Value: "bsd"}), `unknown option "bsd"; want one of linux, windows, mac`},
		{"priority action names the valid ones", func(r *Rule) { r.Actions.Priority = ptr("urgent") }, `unknown priority "urgent"; want one of critical, high, medium, low`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := priorityRule()
			c.mod(&r)
			probs := Validate(r, testSchema())
			if len(probs) != 1 || probs[0].Detail != c.want {
				t.Fatalf("got %+v, want one problem %q", probs, c.want)
			}
		})
	}
}

func TestValidateEmptySchema(t *testing.T) {
	r := assignmentRule()
	r.Conditions = append(r.Conditions, Condition{Field: "cf.owner", Op: "is", Value: float64(5)})
	var got []string
	for _, p := range Validate(r, Schema{}) {
		got = append(got, p.Field)
	}
	want := []string{"conditions[0].value", "conditions[1].field", "actions.team_id"}
	if !slices.Equal(got, want) {
		t.Fatalf("problems at %v, want %v", got, want)
	}
}

func TestOps(t *testing.T) {
	s := testSchema()
	cases := []struct {
		field string
		want  []string
	}{
		{FieldCategory, []string{"is", "in", "under", "not_under"}},
		{"cf.seats", []string{"eq", "gt", "gte", "lt", "lte", "set", "not_set"}},
		{"cf.missing", nil},
		{"subject", nil},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			if got := Ops(c.field, s); !slices.Equal(got, c.want) {
				t.Fatalf("Ops(%q) = %v, want %v", c.field, got, c.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct {
		name string
		in   Rule
		want Rule
	}{
		{
			name: "trims name, sorts and dedupes tags and skills, defaults strategy",
			in: Rule{Name: "  Printers \n", Kind: KindAssignment, Actions: Actions{
				TeamID: ptr(int64(10)), Tags: []string{" VIP", "printer", "vip "}, Skills: []string{"Printers", "network", "PRINTERS"},
			}},
			want: Rule{Name: "Printers", Kind: KindAssignment, Actions: Actions{
				TeamID: ptr(int64(10)), Strategy: StrategyRoundRobin, Tags: []string{"printer", "vip"}, Skills: []string{"network", "printers"},
			}},
		},
		{
			name: "no default strategy when the agent is set",
			in:   Rule{Name: "x", Kind: KindAssignment, Actions: Actions{TeamID: ptr(int64(10)), AgentID: ptr(int64(31))}},
			want: Rule{Name: "x", Kind: KindAssignment, Actions: Actions{TeamID: ptr(int64(10)), AgentID: ptr(int64(31))}},
		},
		{
			name: "explicit strategy kept",
			in:   Rule{Name: "x", Kind: KindAssignment, Actions: Actions{TeamID: ptr(int64(10)), Strategy: StrategyLeastLoaded}},
			want: Rule{Name: "x", Kind: KindAssignment, Actions: Actions{TeamID: ptr(int64(10)), Strategy: StrategyLeastLoaded}},
		},
		{
			name: "no team, no strategy",
			in:   Rule{Name: "x", Kind: KindPriority, Actions: Actions{Priority: ptr("low")}},
			want: Rule{Name: "x", Kind: KindPriority, Actions: Actions{Priority: ptr("low")}},
		},
		{
			name: "empty tags are kept so Validate still sees them",
			in:   Rule{Name: "x", Actions: Actions{Tags: []string{"b", " ", "a"}}},
			want: Rule{Name: "x", Actions: Actions{Tags: []string{"", "a", "b"}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Normalize(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Normalize = %+v, want %+v", got, c.want)
			}
			if again := Normalize(got); !reflect.DeepEqual(again, got) {
				t.Fatalf("Normalize is not idempotent: %+v then %+v", got, again)
			}
		})
	}
}

func TestNormalizeLeavesInputAlone(t *testing.T) {
	in := Rule{Name: " x ", Conditions: []Condition{{Field: FieldChannel, Op: "is", Value: "web"}},
		Actions: Actions{TeamID: ptr(int64(10)), Tags: []string{"B", "a"}}}
	out := Normalize(in)
	*out.Actions.TeamID = 11
	out.Conditions[0].Op = "in"
	if in.Name != " x " || !slices.Equal(in.Actions.Tags, []string{"B", "a"}) || *in.Actions.TeamID != 10 ||
		in.Conditions[0].Op != "is" || in.Actions.Strategy != "" {
		t.Fatalf("input changed: %+v", in)
	}
}

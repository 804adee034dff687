package rules

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// builtinOps lists the ops of every condition field that is not a custom field.
var builtinOps = map[string][]string{
	FieldCategory:              {"is", "in", "under", "not_under"},
	FieldKeywords:              {"any", "all", "none"},
	FieldRequesterOrganization: {"is", "in", "not_in"},
	FieldRequesterVIP:          {"is"},
	FieldChannel:               {"is", "in"},
	FieldPriority:              {"is", "in", "at_least"},
}

// customOps lists the ops of a custom field by its type; set and not_set
// apply to every type.
var customOps = map[string][]string{
	"text":         {"is", "contains", "set", "not_set"},
	"long_text":    {"is", "contains", "set", "not_set"},
	"number":       {"eq", "gt", "gte", "lt", "lte", "set", "not_set"},
	"dropdown":     {"is", "in", "not_in", "set", "not_set"},
	"multi_choice": {"any", "all", "set", "not_set"},
	"checkbox":     {"is", "set", "not_set"},
	"date":         {"before", "after", "set", "not_set"},
	"datetime":     {"before", "after", "set", "not_set"},
	"user":         {"is", "in", "set", "not_set"},
}

// Ops returns the ops a condition on field may use, so forms can offer
// only those; nil when the field is unknown to s.
func Ops(field string, s Schema) []string {
	if ops, ok := builtinOps[field]; ok {
		return slices.Clone(ops)
	}
	if key, ok := strings.CutPrefix(field, CustomFieldPrefix); ok {
		if def, ok := s.Fields[key]; ok {
			return slices.Clone(customOps[def.Type])
		}
	}
	return nil
}

// Validate checks a rule before it is stored and returns every problem, or
// nil: the name (1..200 characters after trimming), the kind, each
// condition's field, op and value against s, and that the actions fit the
// kind. Priority rules may have only priority and tags actions and need a
// priority. Assignment rules need team_id or agent_id (with both, the agent
// is used directly); strategy and skills need team_id, and the skills
// strategy needs at least one skill. Tags are 1..50 characters each, at
// most 20 once normalized. Values must have the field's type: ids are
// positive whole numbers that exist, lists are non-empty, priority names
// valid, dates "YYYY-MM-DD" for date fields, RFC 3339 for datetime fields,
// option ids must exist for dropdown/multi_choice, and set/not_set take no
// value.
func Validate(r Rule, s Schema) []Problem {
	v := validator{s: s}
	name := strings.TrimSpace(r.Name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		v.add("name", "required")
	case n > MaxNameLen:
		v.add("name", fmt.Sprintf("at most %d characters, got %d", MaxNameLen, n))
	}
	switch r.Kind {
	case KindPriority, KindAssignment:
	case "":
		v.add("kind", "required; want priority or assignment")
	default:
		v.add("kind", fmt.Sprintf("unknown kind %q; want priority or assignment", r.Kind))
	}
	if len(r.Conditions) > MaxConditions {
		v.add("conditions", fmt.Sprintf("at most %d conditions, got %d", MaxConditions, len(r.Conditions)))
	}
	for i, c := range r.Conditions {
		v.condition(fmt.Sprintf("conditions[%d]", i), c)
	}
	v.actions(r.Kind, r.Actions)
	return v.problems
}

type validator struct {
	s        Schema
	problems []Problem
}

func (v *validator) add(field, detail string) {
	v.problems = append(v.problems, Problem{Field: field, Detail: detail})
}

func (v *validator) condition(at string, c Condition) {
	var ops []string
	var check func(op string, val any) string
	if o, ok := builtinOps[c.Field]; ok {
		ops, check = o, v.builtinCheck(c.Field)
	} else if key, ok := strings.CutPrefix(c.Field, CustomFieldPrefix); ok {
		def, ok := v.s.Fields[key]
		if !ok {
			v.add(at+".field", fmt.Sprintf("unknown custom field %q", key))
			return
		}
		if ops, ok = customOps[def.Type]; !ok {
			v.add(at+".field", fmt.Sprintf("custom field %q has type %q, which rules cannot test", key, def.Type))
			return
		}
		check = func(op string, val any) string { return checkCustom(def, op, val) }
	} else if c.Field == "" {
		v.add(at+".field", "required")
		return
	} else {
		v.add(at+".field", fmt.Sprintf("unknown field %q; want category, keywords, requester_organization, requester_vip, channel, priority or cf.<key>", c.Field))
		return
	}
	if !slices.Contains(ops, c.Op) {
		if c.Op == "" {
			v.add(at+".op", fmt.Sprintf("required; want one of %s", strings.Join(ops, ", ")))
		} else {
			v.add(at+".op", fmt.Sprintf("op %q does not apply to %s; want one of %s", c.Op, c.Field, strings.Join(ops, ", ")))
		}
		return
	}
	if d := check(c.Op, c.Value); d != "" {
		v.add(at+".value", d)
	}
}

func (v *validator) builtinCheck(field string) func(op string, val any) string {
	switch field {
	case FieldCategory:
		return func(op string, val any) string {
			if op == "in" {
				return checkIDs(val, "category", in(v.s.Categories))
			}
			return checkID(val, "category", in(v.s.Categories))
		}
	case FieldKeywords:
		return func(_ string, val any) string { return checkKeywords(val) }
	case FieldRequesterOrganization:
		return func(op string, val any) string {
			if op == "is" {
				return checkID(val, "organization", in(v.s.Organizations))
			}
			return checkIDs(val, "organization", in(v.s.Organizations))
		}
	case FieldRequesterVIP:
		return func(_ string, val any) string {
			if _, ok := val.(bool); !ok {
				return "want true or false"
			}
			return ""
		}
	case FieldChannel:
		return func(op string, val any) string {
			return checkNames(op == "in", val, "channel", Channels())
		}
	default: // FieldPriority
		return func(op string, val any) string {
			return checkNames(op == "in", val, "priority", priorityNames())
		}
	}
}

func checkCustom(def FieldDef, op string, val any) string {
	if op == "set" || op == "not_set" {
		if val != nil {
			return op + " takes no value"
		}
		return ""
	}
	switch def.Type {
	case "text", "long_text":
		s, ok := val.(string)
		switch {
		case !ok:
			return "want a string"
		case strings.TrimSpace(s) == "":
			return "want a non-empty string"
		case utf8.RuneCountInString(s) > MaxTextValueLen:
			return fmt.Sprintf("at most %d characters", MaxTextValueLen)
		}
	case "number":
		if _, ok := asNumber(val); !ok {
			return "want a number"
		}
	case "dropdown":
		return checkNames(op != "is", val, "option", def.Options)
	case "multi_choice":
		return checkNames(true, val, "option", def.Options)
	case "checkbox":
		if _, ok := val.(bool); !ok {
			return "want true or false"
		}
	case "date":
		if _, ok := asDate(val); !ok {
			return `want a date "YYYY-MM-DD"`
		}
	case "datetime":
		if _, ok := asDateTime(val); !ok {
			return "want an RFC 3339 date and time, e.g. 2026-12-04T09:30:00Z"
		}
	case "user":
		if op == "in" {
			return checkIDs(val, "user", anyID)
		}
		return checkID(val, "user", anyID)
	}
	return ""
}

// exists tells whether an id names something; anyID is for user fields,
// whose values may name any user, staff or not, so the schema cannot tell.
type exists func(id int64) bool

func in(m map[int64]bool) exists { return func(id int64) bool { return m[id] } }

func anyID(int64) bool { return true }

func checkID(val any, what string, known exists) string {
	id, ok := asID(val)
	if !ok {
		return fmt.Sprintf("want a %s id (a positive whole number)", what)
	}
	if !known(id) {
		return fmt.Sprintf("unknown %s %d", what, id)
	}
	return ""
}

func checkIDs(val any, what string, known exists) string {
	ids, bad, ok := asIDs(val)
	switch {
	case !ok && bad >= 0:
		return fmt.Sprintf("item %d: want a %s id (a positive whole number)", bad, what)
	case !ok || len(ids) == 0:
		return fmt.Sprintf("want a non-empty list of %s ids", what)
	case len(ids) > MaxListLen:
		return fmt.Sprintf("at most %d items, got %d", MaxListLen, len(ids))
	}
	for _, id := range ids {
		if d := checkID(id, what, known); d != "" {
			return d
		}
	}
	return ""
}

// checkNames checks a name (or, with list, a non-empty list of names)
// out of valid.
func checkNames(list bool, val any, what string, valid []string) string {
	want := strings.Join(valid, ", ")
	if len(valid) == 0 {
		want = "none exist"
	}
	if !list {
		s, ok := val.(string)
		if !ok {
			return fmt.Sprintf("want a %s (one of %s)", what, want)
		}
		if !slices.Contains(valid, s) {
			return fmt.Sprintf("unknown %s %q; want one of %s", what, s, want)
		}
		return ""
	}
	names, bad, ok := asStrings(val)
	switch {
	case !ok && bad >= 0:
		return fmt.Sprintf("item %d: want a %s (one of %s)", bad, what, want)
	case !ok || len(names) == 0:
		return fmt.Sprintf("want a non-empty list of %s names (out of %s)", what, want)
	case len(names) > MaxListLen:
		return fmt.Sprintf("at most %d items, got %d", MaxListLen, len(names))
	}
	for _, s := range names {
		if !slices.Contains(valid, s) {
			return fmt.Sprintf("unknown %s %q; want one of %s", what, s, want)
		}
	}
	return ""
}

func checkKeywords(val any) string {
	list, bad, ok := asStrings(val)
	switch {
	case !ok && bad >= 0:
		return fmt.Sprintf("item %d: want a word or phrase (a string)", bad)
	case !ok || len(list) == 0:
		return "want a non-empty list of words or phrases"
	case len(list) > MaxListLen:
		return fmt.Sprintf("at most %d keywords, got %d", MaxListLen, len(list))
	}
	for i, k := range list {
		if utf8.RuneCountInString(k) > MaxKeywordLen {
			return fmt.Sprintf("item %d: at most %d characters", i, MaxKeywordLen)
		}
		if len(words(fold(k))) == 0 {
			return fmt.Sprintf("item %d: %q has no letters or digits to match", i, k)
		}
	}
	return ""
}

func (v *validator) actions(kind string, a Actions) {
	if a.Priority != nil && !validPriority(*a.Priority) {
		v.add("actions.priority", fmt.Sprintf("unknown priority %q; want one of %s", *a.Priority, strings.Join(priorityNames(), ", ")))
	}
	switch kind {
	case KindPriority:
		if a.Priority == nil {
			v.add("actions.priority", "required: a priority rule sets a priority")
		}
		const onlyAssignment = "only assignment rules route tickets; a priority rule sets priority and tags"
		if a.TeamID != nil {
			v.add("actions.team_id", onlyAssignment)
		}
		if a.AgentID != nil {
			v.add("actions.agent_id", onlyAssignment)
		}
		if a.Strategy != "" {
			v.add("actions.strategy", onlyAssignment)
		}
		if len(a.Skills) > 0 {
			v.add("actions.skills", onlyAssignment)
		}
	case KindAssignment:
		if a.TeamID == nil && a.AgentID == nil {
			v.add("actions", "an assignment rule needs team_id or agent_id")
		}
		if a.TeamID != nil {
			if d := checkID(*a.TeamID, "team", in(v.s.Teams)); d != "" {
				v.add("actions.team_id", d)
			}
		}
		if a.AgentID != nil {
			if d := checkID(*a.AgentID, "agent", in(v.s.Agents)); d != "" {
				v.add("actions.agent_id", d+" (agents are staff users)")
			}
		}
		switch a.Strategy {
		case "", StrategyRoundRobin, StrategyLeastLoaded, StrategySkills:
			if a.Strategy != "" && a.TeamID == nil {
				v.add("actions.strategy", "needs team_id: a strategy picks an agent within a team")
			}
		default:
			v.add("actions.strategy", fmt.Sprintf("unknown strategy %q; want round_robin, least_loaded or skills", a.Strategy))
		}
		if a.Strategy == StrategySkills && len(a.Skills) == 0 {
			v.add("actions.skills", "the skills strategy needs at least one skill")
		}
		if len(a.Skills) > 0 && a.TeamID == nil {
			v.add("actions.skills", "needs team_id: skills narrow the choice within a team")
		}
		if d := checkSkills(a.Skills); d != "" {
			v.add("actions.skills", d)
		}
	}
	for i, t := range a.Tags {
		switch n := utf8.RuneCountInString(strings.TrimSpace(t)); {
		case n == 0:
			v.add(fmt.Sprintf("actions.tags[%d]", i), "empty tag")
		case n > MaxTagLen:
			v.add(fmt.Sprintf("actions.tags[%d]", i), fmt.Sprintf("at most %d characters, got %d", MaxTagLen, n))
		}
	}
	if n := len(normalizeSet(a.Tags)); n > MaxTags {
		v.add("actions.tags", fmt.Sprintf("at most %d tags, got %d", MaxTags, n))
	}
}

func checkSkills(skills []string) string {
	for i, s := range skills {
		switch n := utf8.RuneCountInString(strings.TrimSpace(s)); {
		case n == 0:
			return fmt.Sprintf("skill %d is empty", i)
		case n > MaxSkillLen:
			return fmt.Sprintf("skill %d: at most %d characters, got %d", i, MaxSkillLen, n)
		}
	}
	if n := len(normalizeSet(skills)); n > MaxSkills {
		return fmt.Sprintf("at most %d skills, got %d", MaxSkills, n)
	}
	return ""
}

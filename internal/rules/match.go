package rules

import (
	"cmp"
	"slices"
	"strings"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Facts are what rules decide on for one ticket.
type Facts struct {
	CategoryPath   []int64 // the ticket's category first, then its ancestors up to the root; empty when none
	Subject        string
	Description    string
	OrganizationID *int64
	VIP            bool              // the requester or their organization is VIP
	Channel        string            // web, api, email
	Priority       string            // current priority
	Fields         map[string]any    // custom field values as decoded JSON: string, float64, bool, []any of strings
	FieldTypes     map[string]string // key -> type, for typed comparisons
}

// Ref names a rule in outcomes and reasons; the "routed" event records
// the refs that matched, so it is the event payload's type.
type Ref = ticket.RuleRef

// RefOf returns the Ref naming r.
func RefOf(r Rule) Ref { return Ref{ID: r.ID, Name: r.Name, Kind: r.Kind} }

// Outcome of evaluating rules.
type Outcome struct {
	Priority     *string  // decided priority, nil when no rule set one
	PriorityRule *Ref     // the rule that set it
	Assignment   *Rule    // a copy of the first matching assignment rule, nil when none
	Tags         []string // union of tags of every matching rule, sorted, unique; nil when none
	Matched      []Ref    // every matching rule in evaluation order; nil when none
}

// Evaluate runs the enabled rules in (Position, ID) order. Priority rules
// come first: the first matching one with a priority decides Priority;
// tags of every matching priority rule are collected. Then assignment rules
// see Facts.Priority replaced by the decided priority (if any); the first
// matching assignment rule becomes Assignment, its priority applies only if
// no priority rule set one, and its tags are added. Later assignment rules
// are not evaluated, so they are never in Matched.
//
// A condition on an unknown field, with an unknown op, or with a value or
// fact of the wrong type does not match; Evaluate never panics, so a rule
// that was valid when saved but no longer fits (a field changed, a bad row)
// simply does not apply. Rules of an unknown kind are skipped, and an
// invalid priority action is ignored.
func Evaluate(rs []Rule, f Facts) Outcome {
	var prio, assign []*Rule
	for i := range rs {
		r := &rs[i]
		if !r.Enabled {
			continue
		}
		switch r.Kind {
		case KindPriority:
			prio = append(prio, r)
		case KindAssignment:
			assign = append(assign, r)
		}
	}
	byOrder := func(a, b *Rule) int {
		return cmp.Or(cmp.Compare(a.Position, b.Position), cmp.Compare(a.ID, b.ID))
	}
	slices.SortStableFunc(prio, byOrder)
	slices.SortStableFunc(assign, byOrder)

	var out Outcome
	e := evaluator{f: f}
	tags := map[string]bool{}
	addTags := func(r *Rule) {
		for _, t := range r.Actions.Tags {
			if t = NormalizeTag(t); t != "" {
				tags[t] = true
			}
		}
	}
	decide := func(r *Rule) {
		if out.Priority == nil && r.Actions.Priority != nil && validPriority(*r.Actions.Priority) {
			p := *r.Actions.Priority
			ref := RefOf(*r)
			out.Priority, out.PriorityRule = &p, &ref
		}
	}

	for _, r := range prio {
		if e.matches(r.Conditions) {
			out.Matched = append(out.Matched, RefOf(*r))
			addTags(r)
			decide(r)
		}
	}
	if out.Priority != nil {
		e.f.Priority = *out.Priority
	}
	for _, r := range assign {
		if e.matches(r.Conditions) {
			out.Matched = append(out.Matched, RefOf(*r))
			addTags(r)
			decide(r)
			c := *r
			out.Assignment = &c
			break
		}
	}

	if len(tags) > 0 {
		out.Tags = make([]string, 0, len(tags))
		for t := range tags {
			out.Tags = append(out.Tags, t)
		}
		slices.Sort(out.Tags)
	}
	return out
}

// Matches reports whether every condition holds for f, with the same
// semantics as Evaluate; it serves previews ("which tickets would this
// rule catch?") and tests.
func Matches(conds []Condition, f Facts) bool {
	e := evaluator{f: f}
	return e.matches(conds)
}

// evaluator holds one ticket's facts and what is derived from them once,
// however many rules look at them.
type evaluator struct {
	f    Facts
	text *text // built on first use: many rule sets never look at keywords
}

func (e *evaluator) textIndex() *text {
	if e.text == nil {
		e.text = newText(e.f.Subject + " " + e.f.Description)
	}
	return e.text
}

func (e *evaluator) matches(conds []Condition) bool {
	for _, c := range conds {
		if !e.holds(c) {
			return false
		}
	}
	return true
}

func (e *evaluator) holds(c Condition) bool {
	switch c.Field {
	case FieldCategory:
		return matchCategory(e.f.CategoryPath, c.Op, c.Value)
	case FieldKeywords:
		return e.matchKeywords(c.Op, c.Value)
	case FieldRequesterOrganization:
		return matchOrganization(e.f.OrganizationID, c.Op, c.Value)
	case FieldRequesterVIP:
		want, ok := c.Value.(bool)
		return ok && c.Op == "is" && e.f.VIP == want
	case FieldChannel:
		return matchName(e.f.Channel, c.Op, c.Value)
	case FieldPriority:
		return matchPriority(e.f.Priority, c.Op, c.Value)
	}
	if key, ok := strings.CutPrefix(c.Field, CustomFieldPrefix); ok && key != "" {
		return e.matchCustom(key, c.Op, c.Value)
	}
	return false
}

func matchCategory(path []int64, op string, v any) bool {
	switch op {
	case "is", "under", "not_under":
		id, ok := asID(v)
		if !ok {
			return false
		}
		switch op {
		case "is":
			return len(path) > 0 && path[0] == id
		case "under":
			return slices.Contains(path, id)
		default:
			return !slices.Contains(path, id)
		}
	case "in":
		ids, _, ok := asIDs(v)
		return ok && len(path) > 0 && slices.Contains(ids, path[0])
	}
	return false
}

func (e *evaluator) matchKeywords(op string, v any) bool {
	list, _, ok := asStrings(v)
	if !ok || len(list) == 0 {
		return false
	}
	t := e.textIndex()
	found := 0
	for _, k := range list {
		phrase := words(fold(k))
		if len(phrase) == 0 {
			return false // a keyword with no word in it is malformed
		}
		if t.hasPhrase(phrase) {
			found++
		}
	}
	switch op {
	case "any":
		return found > 0
	case "all":
		return found == len(list)
	case "none":
		return found == 0
	}
	return false
}

func matchOrganization(org *int64, op string, v any) bool {
	switch op {
	case "is":
		id, ok := asID(v)
		return ok && org != nil && *org == id
	case "in":
		ids, _, ok := asIDs(v)
		return ok && org != nil && slices.Contains(ids, *org)
	case "not_in":
		ids, _, ok := asIDs(v)
		return ok && (org == nil || !slices.Contains(ids, *org))
	}
	return false
}

// matchName compares a fact that is one of a fixed set of lower-case names.
func matchName(got, op string, v any) bool {
	switch op {
	case "is":
		want, ok := v.(string)
		return ok && got != "" && strings.EqualFold(got, want)
	case "in":
		list, _, ok := asStrings(v)
		return ok && got != "" && slices.ContainsFunc(list, func(w string) bool { return strings.EqualFold(got, w) })
	}
	return false
}

func matchPriority(got, op string, v any) bool {
	if op == "at_least" {
		want, ok := v.(string)
		if !ok {
			return false
		}
		g, okG := priorityRank(got)
		w, okW := priorityRank(want)
		return okG && okW && g <= w // rank 0 is the most urgent
	}
	if !validPriority(got) {
		return false
	}
	return matchName(got, op, v)
}

func (e *evaluator) matchCustom(key, op string, v any) bool {
	got, present := e.f.Fields[key]
	switch op {
	case "set":
		return present && !isEmptyValue(got)
	case "not_set":
		return !present || isEmptyValue(got)
	}
	typ, known := e.f.FieldTypes[key]
	if !known {
		return false
	}
	absent := !present || got == nil
	switch typ {
	case "text", "long_text":
		g, okG := got.(string)
		w, okW := v.(string)
		if !okG || !okW {
			return false
		}
		switch op {
		case "is":
			return fold(strings.TrimSpace(g)) == fold(strings.TrimSpace(w))
		case "contains":
			return w != "" && strings.Contains(fold(g), fold(w))
		}
	case "number":
		g, okG := asNumber(got)
		w, okW := asNumber(v)
		if !okG || !okW {
			return false
		}
		switch op {
		case "eq":
			return g == w
		case "gt":
			return g > w
		case "gte":
			return g >= w
		case "lt":
			return g < w
		case "lte":
			return g <= w
		}
	case "dropdown":
		switch op {
		case "is":
			g, okG := got.(string)
			w, okW := v.(string)
			return okG && okW && g == w
		case "in", "not_in":
			list, _, ok := asStrings(v)
			if !ok {
				return false
			}
			if absent {
				return op == "not_in"
			}
			g, okG := got.(string)
			if !okG {
				return false
			}
			return slices.Contains(list, g) == (op == "in")
		}
	case "multi_choice":
		g, _, okG := asStrings(got)
		w, _, okW := asStrings(v)
		if !okG || !okW || len(w) == 0 {
			return false
		}
		switch op {
		case "any":
			return slices.ContainsFunc(w, func(o string) bool { return slices.Contains(g, o) })
		case "all":
			return !slices.ContainsFunc(w, func(o string) bool { return !slices.Contains(g, o) })
		}
	case "checkbox":
		g, okG := got.(bool)
		w, okW := v.(bool)
		return op == "is" && okG && okW && g == w
	case "date", "datetime":
		parse := asDate
		if typ == "datetime" {
			parse = asDateTime
		}
		g, okG := parse(got)
		w, okW := parse(v)
		if !okG || !okW {
			return false
		}
		switch op {
		case "before":
			return g.Before(w)
		case "after":
			return g.After(w)
		}
	case "user":
		g, okG := asID(got)
		if !okG {
			return false
		}
		switch op {
		case "is":
			w, ok := asID(v)
			return ok && g == w
		case "in":
			ids, _, ok := asIDs(v)
			return ok && slices.Contains(ids, g)
		}
	}
	return false
}

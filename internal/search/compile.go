package search

import (
	"fmt"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/query"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Clauses is a compiled query: Elasticsearch clauses for the bool query's
// must (scored free text), filter and must_not, and the free text alone
// (what highlights).
type Clauses struct {
	Must, Filter, MustNot []any
	Text                  []any
}

// Env is what compiling a query needs to know beyond the query: the
// moment and time zone dates are relative to, who "me" is, whether the
// caller is staff, and the names the query uses resolved to ids.
type Env struct {
	Now   time.Time
	Loc   *time.Location
	Me    int64
	Staff bool
	// Teams maps a lower-cased team name to its id.
	Teams map[string]int64
	// Categories maps a lower-cased category name or path ("hardware /
	// printers") to the ids of the categories it names and their
	// subcategories.
	Categories map[string][]int64
	// Fields are the custom fields the caller may use, by key.
	Fields map[string]catalog.Field
}

// staffOnly are the fields requesters may not search by: what they do not
// see cannot be used to find out about it.
var staffOnly = map[string]bool{"assignee": true, "team": true, "tag": true}

// openStatuses are the statuses in which an SLA clock can still breach.
var openStatuses = []string{string(ticket.StatusOpen), string(ticket.StatusInProgress), string(ticket.StatusPending)}

// Compile translates q into Elasticsearch clauses. Every term must hold;
// a negated term must not. Errors name the term's position and field.
func Compile(q query.Query, env Env) (Clauses, []*query.Error) {
	var c Clauses
	var errs []*query.Error
	for _, t := range q.Terms {
		clause, err := compileTerm(t, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case t.Negated:
			c.MustNot = append(c.MustNot, clause)
		case t.Field == "":
			c.Must = append(c.Must, clause)
			c.Text = append(c.Text, clause)
		default:
			c.Filter = append(c.Filter, clause)
		}
	}
	return c, errs
}

// TextFields are the fields free text searches for the caller: requesters
// never search internal notes.
func TextFields(staff bool) []string {
	f := []string{"subject^3", "description", "public_text"}
	if staff {
		f = append(f, "internal_text")
	}
	return f
}

// HighlightFields are the fields whose matches are shown to the caller.
func HighlightFields(staff bool) []string {
	f := []string{"subject", "description", "public_text"}
	if staff {
		f = append(f, "internal_text")
	}
	return f
}

func compileTerm(t query.Term, env Env) (any, *query.Error) {
	fail := func(format string, args ...any) *query.Error {
		return &query.Error{Pos: t.Pos, Field: t.Field, Msg: t.Field + ": " + fmt.Sprintf(format, args...)}
	}
	if t.Field == "" {
		mm := map[string]any{"query": t.Values[0], "fields": TextFields(env.Staff)}
		if t.Phrase {
			mm["type"] = "phrase"
		} else {
			// A word matches in any of the fields (cross_fields: "printer
			// jam" typed as one word each is two terms anyway).
			mm["operator"] = "and"
		}
		return map[string]any{"multi_match": mm}, nil
	}
	if !env.Staff && staffOnly[t.Field] {
		return nil, fail("requesters cannot search by %s", t.Field)
	}
	terms := func(field string, vs []string) any {
		if len(vs) == 1 {
			return map[string]any{"term": map[string]any{field: vs[0]}}
		}
		return map[string]any{"terms": map[string]any{field: vs}}
	}
	missing := func(field string) any {
		return map[string]any{"bool": map[string]any{"must_not": []any{map[string]any{"exists": map[string]any{"field": field}}}}}
	}
	switch t.Field {
	case "status":
		return terms("status", t.Values), nil
	case "priority":
		ps := t.Priorities()
		vs := make([]string, len(ps))
		for i, p := range ps {
			vs[i] = string(p)
		}
		if len(vs) == 0 {
			return map[string]any{"match_none": map[string]any{}}, nil
		}
		return terms("priority", vs), nil
	case "assignee":
		var cs []any
		var emails []string
		for _, v := range t.Values {
			switch strings.ToLower(v) {
			case "me":
				cs = append(cs, map[string]any{"term": map[string]any{"assignee_id": env.Me}})
			case "none":
				cs = append(cs, missing("assignee_id"))
			default:
				emails = append(emails, strings.ToLower(v))
			}
		}
		if len(emails) > 0 {
			cs = append(cs, terms("assignee_email", emails))
		}
		return anyOf(cs), nil
	case "requester":
		vs := make([]string, len(t.Values))
		for i, v := range t.Values {
			vs[i] = strings.ToLower(v)
		}
		return terms("requester_email", vs), nil
	case "team":
		var cs []any
		var ids []int64
		for _, v := range t.Values {
			if strings.EqualFold(v, "none") {
				cs = append(cs, missing("team_id"))
				continue
			}
			id, ok := env.Teams[strings.ToLower(v)]
			if !ok {
				return nil, fail("no team is named %q", v)
			}
			ids = append(ids, id)
		}
		if len(ids) > 0 {
			cs = append(cs, map[string]any{"terms": map[string]any{"team_id": ids}})
		}
		return anyOf(cs), nil
	case "category":
		var ids []int64
		for _, v := range t.Values {
			got, ok := env.Categories[strings.ToLower(strings.Join(strings.Fields(v), " "))]
			if !ok {
				return nil, fail("no category is named %q", v)
			}
			ids = append(ids, got...)
		}
		return map[string]any{"terms": map[string]any{"category_id": ids}}, nil
	case "tag":
		return terms("tags", t.Values), nil
	case "channel":
		vs := make([]string, len(t.Values))
		for i, v := range t.Values {
			vs[i] = strings.ToLower(v)
			switch vs[i] {
			case "web", "api", "email":
			default:
				return nil, fail("unknown channel %q; want web, api or email", v)
			}
		}
		return terms("channel", vs), nil
	case "created", "updated", "due":
		r, err := t.DateRange(env.Now, env.Loc)
		if err != nil {
			return nil, fail("%v", err)
		}
		return rangeClause(map[string]string{"created": "created_at", "updated": "updated_at", "due": "sla_due_at"}[t.Field], r), nil
	case "escalated":
		var cs []any
		for _, v := range t.Values {
			if v == "true" {
				cs = append(cs, map[string]any{"range": map[string]any{"escalation_level": map[string]any{"gt": 0}}})
			} else {
				cs = append(cs, map[string]any{"term": map[string]any{"escalation_level": 0}})
			}
		}
		return anyOf(cs), nil
	case "breached":
		// Breached: a breach was recorded, or a running deadline has
		// passed and its timer has not yet written the breach.
		breached := map[string]any{"bool": map[string]any{"should": []any{
			map[string]any{"term": map[string]any{"breached": true}},
			map[string]any{"bool": map[string]any{"filter": []any{
				map[string]any{"range": map[string]any{"sla_due_at": map[string]any{"lt": timeValue(env.Now)}}},
				map[string]any{"terms": map[string]any{"status": openStatuses}},
			}}},
		}, "minimum_should_match": 1}}
		var cs []any
		for _, v := range t.Values {
			if v == "true" {
				cs = append(cs, breached)
			} else {
				cs = append(cs, map[string]any{"bool": map[string]any{"must_not": []any{breached}}})
			}
		}
		return anyOf(cs), nil
	}
	if key, ok := strings.CutPrefix(t.Field, "cf."); ok {
		f, ok := env.Fields[key]
		if !ok {
			return nil, &query.Error{Pos: t.Pos, Field: t.Field, Msg: fmt.Sprintf("no custom field has the key %q", key)}
		}
		return compileField(t, f, env)
	}
	return nil, fail("unknown field")
}

// compileField translates a custom field term through the field filter
// rules the cf.* parameters use, so both agree on every type.
func compileField(t query.Term, f catalog.Field, env Env) (any, *query.Error) {
	fail := func(err error) *query.Error {
		return &query.Error{Pos: t.Pos, Field: t.Field, Msg: t.Field + ": " + err.Error()}
	}
	if f.Type == catalog.TypeDateTime {
		return compileDateTime(t, f, env.Loc)
	}
	if t.Op != query.OpIs {
		b, err := rangeBound(f, t.Values[0], false)
		if err != nil {
			return nil, fail(err)
		}
		return map[string]any{"range": map[string]any{"cf." + f.Key: map[string]any{rangeOps[t.Op]: b}}}, nil
	}
	var cs []any
	for _, v := range t.Values {
		if strings.EqualFold(v, "none") && f.Type != catalog.TypeText && f.Type != catalog.TypeLongText {
			no := false
			cs = append(cs, FieldFilter{Key: f.Key, Type: f.Type, Exists: &no}.clause())
			continue
		}
		ff, err := parseFieldFilter(f, "", v)
		if err != nil {
			return nil, fail(err)
		}
		cs = append(cs, ff.clause())
	}
	return anyOf(cs), nil
}

var rangeOps = map[query.Op]string{query.OpLT: "lt", query.OpLE: "lte", query.OpGT: "gt", query.OpGE: "gte"}

// compileDateTime compares a date-time custom field with a day (in the
// caller's time zone, like created and updated) or an instant.
func compileDateTime(t query.Term, f catalog.Field, loc *time.Location) (any, *query.Error) {
	var cs []any
	for _, v := range t.Values {
		if strings.EqualFold(v, "none") && t.Op == query.OpIs {
			no := false
			cs = append(cs, FieldFilter{Key: f.Key, Type: f.Type, Exists: &no}.clause())
			continue
		}
		r, err := query.InstantRange(t.Op, v, loc)
		if err != nil {
			return nil, &query.Error{Pos: t.Pos, Field: t.Field, Msg: t.Field + ": " + err.Error()}
		}
		cs = append(cs, rangeClause("cf."+f.Key, r))
	}
	return anyOf(cs), nil
}

// rangeClause is the range query of instants r on field.
func rangeClause(field string, r query.Range) map[string]any {
	b := map[string]any{}
	if !r.From.IsZero() {
		b["gte"] = timeValue(r.From)
	}
	if !r.To.IsZero() {
		b["lt"] = timeValue(r.To)
	}
	return map[string]any{"range": map[string]any{field: b}}
}

// anyOf is the clause that holds when any of cs does (alternatives of one
// term).
func anyOf(cs []any) any {
	if len(cs) == 1 {
		return cs[0]
	}
	return map[string]any{"bool": map[string]any{"should": cs, "minimum_should_match": 1}}
}

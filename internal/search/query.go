package search

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

// Query is one ticket search: full text, filters and the caller's scope.
// Every set filter must hold; zero values do not filter.
type Query struct {
	// Text matches subject and description (all words).
	Text       string
	Statuses   []string
	Priorities []string
	AssigneeID *int64
	Unassigned bool
	TeamID     *int64
	// CategoryIDs keeps tickets in any of these categories (the caller
	// expands a category to its subtree, so moving a category never needs
	// a reindex).
	CategoryIDs []int64
	// Tags must all be on the ticket.
	Tags    []string
	Channel string
	Fields  []FieldFilter
	// Scope is the caller's visibility filter (identity.Scope's
	// ElasticsearchFilter); nil means every ticket.
	Scope map[string]any
	From  int
	Size  int
}

// FieldFilter is one condition on a custom field. Of Any, Range and Exists
// exactly one is set by ParseFieldFilters.
type FieldFilter struct {
	Key  string
	Type catalog.FieldType
	// Any: the value equals one of these (for multi_choice: holds one of
	// them). For long_text it is the words to match.
	Any []any
	// GTE and LTE bound numbers, dates and times (either may be nil).
	GTE, LTE any
	// Exists: the ticket has (true) or lacks (false) a value.
	Exists *bool
	// Words matches words in a text or long_text value.
	Words string
}

// Param is one query-string parameter, in order; repeated names are kept.
type Param struct{ Name, Value string }

// FieldParamPrefix starts every custom field filter parameter: cf.<key>,
// cf.<key>.gte, cf.<key>.lte, cf.<key>.exists, cf.<key>.match.
const FieldParamPrefix = "cf."

// ParseFieldFilters reads the cf.* parameters against the field
// definitions. Each parameter is one filter and all must hold; a comma in
// a choice, user or checkbox value lists alternatives. Problems name the
// parameter.
func ParseFieldFilters(params []Param, fields []catalog.Field) ([]FieldFilter, []catalog.Problem) {
	byKey := make(map[string]catalog.Field, len(fields))
	for _, f := range fields {
		byKey[f.Key] = f
	}
	var out []FieldFilter
	var probs []catalog.Problem
	for _, p := range params {
		if !strings.HasPrefix(p.Name, FieldParamPrefix) {
			continue
		}
		key, op, _ := strings.Cut(strings.TrimPrefix(p.Name, FieldParamPrefix), ".")
		f, ok := byKey[key]
		if !ok {
			probs = append(probs, catalog.Problem{Field: p.Name, Detail: fmt.Sprintf("no custom field has the key %q", key)})
			continue
		}
		ff, err := parseFieldFilter(f, op, strings.TrimSpace(p.Value))
		if err != nil {
			probs = append(probs, catalog.Problem{Field: p.Name, Detail: err.Error()})
			continue
		}
		out = append(out, ff)
	}
	return out, probs
}

func parseFieldFilter(f catalog.Field, op, v string) (FieldFilter, error) {
	ff := FieldFilter{Key: f.Key, Type: f.Type}
	switch op {
	case "exists":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return ff, fmt.Errorf("must be true or false")
		}
		ff.Exists = &b
		return ff, nil
	case "match":
		if f.Type != catalog.TypeText && f.Type != catalog.TypeLongText {
			return ff, fmt.Errorf("match works on text and long_text fields; %s is %s", f.Key, f.Type)
		}
		if v == "" {
			return ff, fmt.Errorf("must not be empty")
		}
		ff.Words = v
		return ff, nil
	case "gte", "lte":
		b, err := rangeBound(f, v, op == "lte")
		if err != nil {
			return ff, err
		}
		if op == "gte" {
			ff.GTE = b
		} else {
			ff.LTE = b
		}
		return ff, nil
	case "":
	default:
		return ff, fmt.Errorf("unknown operator %q; want none, gte, lte, exists or match", op)
	}
	if v == "" {
		return ff, fmt.Errorf("must not be empty (use .exists=false for tickets without a value)")
	}
	switch f.Type {
	case catalog.TypeText:
		ff.Any = []any{v}
	case catalog.TypeLongText:
		ff.Words = v
	case catalog.TypeNumber:
		n, err := number(v)
		if err != nil {
			return ff, err
		}
		ff.Any = []any{n}
	case catalog.TypeDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return ff, fmt.Errorf("must be a date like 2026-12-04")
		}
		ff.Any = []any{v}
	case catalog.TypeDateTime:
		// A day means that whole day in UTC; an instant means exactly it.
		if d, err := time.Parse(time.DateOnly, v); err == nil {
			ff.GTE = d.Format(time.RFC3339Nano)
			ff.LTE = d.Add(24*time.Hour - time.Nanosecond).Format(time.RFC3339Nano)
			return ff, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return ff, fmt.Errorf("must be a date (2026-12-04) or an RFC 3339 time (2026-12-04T09:30:00Z)")
		}
		ff.Any = []any{t.UTC().Format(time.RFC3339Nano)}
	default:
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			val, err := alternative(f, part)
			if err != nil {
				return ff, err
			}
			ff.Any = append(ff.Any, val)
		}
	}
	return ff, nil
}

// alternative reads one comma-separated value of a choice, checkbox or
// user filter. Choices take an option's id or label, retired options too:
// old tickets still hold them.
func alternative(f catalog.Field, v string) (any, error) {
	switch f.Type {
	case catalog.TypeCheckbox:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("must be true or false")
		}
		return b, nil
	case catalog.TypeUser:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a user id", v)
		}
		return n, nil
	case catalog.TypeDropdown, catalog.TypeMultiChoice:
		for _, o := range f.Options {
			if o.ID == v {
				return o.ID, nil
			}
		}
		for _, o := range f.Options {
			if strings.EqualFold(o.Label, v) {
				return o.ID, nil
			}
		}
		ids := make([]string, len(f.Options))
		for i, o := range f.Options {
			ids[i] = o.ID
		}
		return nil, fmt.Errorf("%q is not one of the options: %s", v, strings.Join(ids, ", "))
	}
	return nil, fmt.Errorf("unknown field type %q", f.Type)
}

func number(v string) (float64, error) {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return n, nil
}

// rangeBound reads a gte/lte bound. A day as the upper bound of a datetime
// field includes that whole day.
func rangeBound(f catalog.Field, v string, upper bool) (any, error) {
	switch f.Type {
	case catalog.TypeNumber:
		return number(v)
	case catalog.TypeDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return nil, fmt.Errorf("must be a date like 2026-12-04")
		}
		return v, nil
	case catalog.TypeDateTime:
		if d, err := time.Parse(time.DateOnly, v); err == nil {
			if upper {
				d = d.Add(24*time.Hour - time.Nanosecond)
			}
			return d.Format(time.RFC3339Nano), nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("must be a date (2026-12-04) or an RFC 3339 time (2026-12-04T09:30:00Z)")
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("ranges work on number, date and datetime fields; %s is %s", f.Key, f.Type)
}

// clause is the Elasticsearch filter of one field condition.
func (ff FieldFilter) clause() map[string]any {
	path := "cf." + ff.Key
	switch {
	case ff.Exists != nil:
		ex := map[string]any{"exists": map[string]any{"field": path}}
		if *ff.Exists {
			return ex
		}
		return map[string]any{"bool": map[string]any{"must_not": []any{ex}}}
	case ff.Words != "":
		field := path
		if ff.Type == catalog.TypeText {
			field = path + ".words"
		}
		return map[string]any{"match": map[string]any{field: map[string]any{"query": ff.Words, "operator": "and"}}}
	case ff.GTE != nil || ff.LTE != nil:
		r := map[string]any{}
		if ff.GTE != nil {
			r["gte"] = ff.GTE
		}
		if ff.LTE != nil {
			r["lte"] = ff.LTE
		}
		return map[string]any{"range": map[string]any{path: r}}
	case len(ff.Any) == 1:
		return map[string]any{"term": map[string]any{path: ff.Any[0]}}
	default:
		return map[string]any{"terms": map[string]any{path: ff.Any}}
	}
}

// Body is the Elasticsearch request of q: relevance first when there is
// text, then newest (highest number) first.
func (q Query) Body() map[string]any {
	must, filter := q.clauses()
	size := q.Size
	if size <= 0 {
		size = 25
	}
	return map[string]any{
		"from": q.From, "size": size, "_source": false, "track_total_hits": true,
		"query": map[string]any{"bool": map[string]any{"must": must, "filter": filter}},
		"sort":  []any{"_score", map[string]any{"id": "desc"}},
	}
}

// clauses are q's scored (must) and filter clauses, its scope included.
func (q Query) clauses() (must, filter []any) {
	if q.Text != "" {
		must = append(must, map[string]any{"multi_match": map[string]any{
			"query": q.Text, "fields": []string{"subject^2", "description"}, "operator": "and",
		}})
	}
	terms := func(field string, vs any) {
		filter = append(filter, map[string]any{"terms": map[string]any{field: vs}})
	}
	if len(q.Statuses) > 0 {
		terms("status", q.Statuses)
	}
	if len(q.Priorities) > 0 {
		terms("priority", q.Priorities)
	}
	switch {
	case q.Unassigned:
		filter = append(filter, map[string]any{"bool": map[string]any{
			"must_not": []any{map[string]any{"exists": map[string]any{"field": "assignee_id"}}}}})
	case q.AssigneeID != nil:
		filter = append(filter, map[string]any{"term": map[string]any{"assignee_id": *q.AssigneeID}})
	}
	if q.TeamID != nil {
		filter = append(filter, map[string]any{"term": map[string]any{"team_id": *q.TeamID}})
	}
	if q.CategoryIDs != nil {
		terms("category_id", q.CategoryIDs)
	}
	for _, t := range q.Tags {
		filter = append(filter, map[string]any{"term": map[string]any{"tags": t}})
	}
	if q.Channel != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"channel": q.Channel}})
	}
	for _, ff := range q.Fields {
		filter = append(filter, ff.clause())
	}
	if q.Scope != nil {
		filter = append(filter, q.Scope)
	}
	return must, filter
}

// Result is one page of search hits: ticket numbers in order and the total
// number of matches.
type Result struct {
	Numbers []int64
	Total   int64
}

// Search runs q: its numbers in relevance order.
func (ix *Index) Search(ctx context.Context, q Query) (Result, error) {
	f, err := ix.Find(ctx, Request{Query: q, Sort: SortRelevance})
	if err != nil {
		return Result{}, err
	}
	r := Result{Total: f.Total, Numbers: make([]int64, len(f.Hits))}
	for i, h := range f.Hits {
		r.Numbers[i] = h.Number
	}
	return r, nil
}

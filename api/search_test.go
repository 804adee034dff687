package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/search"
)

// query builds search parameters from "a=1&b=2" (no escaping needed here).
func query(s string) []search.Param {
	var out []search.Param
	for _, kv := range strings.Split(s, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, search.Param{Name: k, Value: v})
	}
	return out
}

func TestParseSearchRefuses(t *testing.T) {
	deep := fmt.Sprintf("offset: must be a whole number from 0 to %d minus limit; narrow the search to go deeper", maxSearchWindow)
	for _, c := range []struct {
		query string
		staff bool
		want  []string
	}{
		// Requesters may not filter by what they do not see, whatever the
		// value (an empty one included).
		{"assignee=me&team=1&tag=vip", false, []string{
			"assignee: filtering by assignee is for staff; requesters do not see it",
			"team: filtering by team is for staff; requesters do not see it",
			"tag: filtering by tag is for staff; requesters do not see it"}},
		{"team=", false, []string{"team: filtering by team is for staff; requesters do not see it"}},
		{"assignee=me&team=1&tag=vip", true, nil},
		{"limit=0", true, []string{"limit: must be a whole number from 1 to 100"}},
		{"limit=101", true, []string{"limit: must be a whole number from 1 to 100"}},
		{"limit=ten", true, []string{"limit: must be a whole number from 1 to 100"}},
		{"limit=99999999999999999999", true, []string{"limit: must be a whole number from 1 to 100"}},
		{"offset=-1", true, []string{deep}},
		{"offset=9976", true, []string{deep}},
		{"offset=9990&limit=10", true, nil},
		{"offset=9999999999999999999999", true, []string{deep}},
		{"status=open,bogus", true, []string{"status: " + parseError(statusError, "bogus")}},
		{"priority=high,urgent", true, []string{"priority: " + parseError(priorityError, "urgent")}},
		{"assignee=-5", true, []string{"assignee: must be me, none or a user id"}},
		{"assignee=somebody", true, []string{"assignee: must be me, none or a user id"}},
		{"team=0", true, []string{"team: must be a team id"}},
		{"team=x", true, []string{"team: must be a team id"}},
		{"category_id=1.5", true, []string{"category_id: must be a category id"}},
		{"channel=fax", true, []string{`channel: unknown channel "fax"; want web, api or email`}},
		{"limit=0&offset=x&status=x&priority=x&assignee=x&team=x&category_id=x&channel=x", true, []string{
			"limit: must be a whole number from 1 to 100", deep, "status: " + parseError(statusError, "x"),
			"priority: " + parseError(priorityError, "x"), "assignee: must be me, none or a user id", "team: must be a team id",
			"category_id: must be a category id", `channel: unknown channel "x"; want web, api or email`}},
	} {
		_, errs := parseSearch(query(c.query), c.staff, 42)
		check(t, c.query, answer(t, errs, nil), c.want)
	}
}

func TestParseSearchReads(t *testing.T) {
	in, errs := parseSearch(query("q= printer &limit=10&limit=50&offset=20&status=open,pending&priority=high&assignee=me&team=3"+
		"&category_id=9&tag=a&tag=&tag= b &channel=email&cf.size=L"), true, 42)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	q := in.query
	if in.text != " printer " || q.Text != "" || q.Size != 10 || q.From != 20 || !slices.Equal(q.Statuses, []string{"open", "pending"}) ||
		!slices.Equal(q.Priorities, []string{"high"}) || *q.AssigneeID != 42 || *q.TeamID != 3 || !slices.Equal(q.Tags, []string{"a", "b"}) ||
		q.Channel != "email" || *in.categoryID != 9 || !in.fieldFilters {
		t.Errorf("query %+v, input %+v", q, in)
	}
	if q.Scope != nil || q.CategoryIDs != nil || q.Fields != nil {
		t.Error("parsing decided what needs the store or the caller's scope")
	}
	in, _ = parseSearch(query("assignee=none"), true, 42)
	if !in.query.Unassigned || in.query.AssigneeID != nil || in.fieldFilters || in.query.Size != 25 {
		t.Errorf("query %+v", in.query)
	}
}

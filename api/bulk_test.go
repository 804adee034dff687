package api

import (
	"reflect"
	"testing"

	"github.com/helpdesk/helpdesk/internal/bulk"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

func TestParseBulkRefusesBadBodies(t *testing.T) {
	const max = 3
	allowed := "unknown field; allowed fields are query, ids, tz, change, comment"
	changeAllowed := "unknown field; allowed fields are status, priority, assignee, team, category_id, tags_add, tags_remove"
	needChange := "change: send a change (status, priority, assignee, team, category_id, tags_add, tags_remove) and/or a comment"
	for _, c := range []struct {
		body string
		want []string
	}{
		{`[1,2]`, []string{"422 the body must be a JSON object"}},
		{`{"ids":[1],"change":{"priority":"low"},"all":true}`, []string{"422 the body has unknown fields", "all: " + allowed}},
		{`{"query":"status:open","ids":[1],"change":{"priority":"low"}}`, []string{"query: send either query or ids, not both"}},
		{`{"change":{"priority":"low"}}`, []string{"ids: send ids (ticket numbers) or a query"}},
		{`{"ids":null,"change":{"priority":"low"}}`, []string{"ids: must name at least one ticket"}},
		{`{"ids":[1,2,3,4],"change":{"priority":"low"}}`, []string{"ids: at most 3 tickets in one bulk action (bulk_max_tickets), got 4"}},
		{`{"ids":[0,"7"],"change":{"priority":"low"}}`, []string{"ids[0]: must be a positive id", "ids[1]: must be a positive id"}},
		{`{"query":7,"change":{"priority":"low"}}`, []string{"query: must be a string"}},
		{`{"query":" ","change":{"priority":"low"}}`, []string{"query: must not be empty"}},
		{`{"query":"x","tz":"Local","change":{"priority":"low"}}`, []string{`tz: "Local" depends on the machine; name an IANA zone`}},
		{`{"query":"x","tz":"Mars/Olympus","change":{"priority":"low"}}`, []string{`tz: unknown time zone "Mars/Olympus"`}},
		{`{"ids":[1]}`, []string{needChange}},
		{`{"ids":[1],"change":null,"comment":null}`, []string{needChange}},
		{`{"ids":[1],"change":{}}`, []string{needChange}},
		{`{"ids":[1],"change":[]}`, []string{"change: must be an object"}},
		{`{"ids":[1],"change":{"subject":"x"}}`, []string{"change.subject: " + changeAllowed}},
		{`{"ids":[1],"change":{"status":null,"priority":"urgent","assignee":[],"category_id":0,"tags_add":["a"],"tags_remove":["A"]}}`, []string{
			"change.status: must be a string, not null", "change.priority: " + parseError(priorityError, "urgent"),
			"change.assignee: " + refDetail, "change.category_id: must be a positive id or null", `change.tags_remove[0]: tag "a" is also in tags_add`}},
		{`{"ids":[1],"comment":{"body":""}}`, []string{"comment.body: must not be empty"}},
		{`{"ids":[1],"comment":{"internal":"yes"}}`, []string{"comment.body: is required", "comment.internal: must be true or false"}},
	} {
		_, errs, err := parseBulk([]byte(c.body), max)
		check(t, c.body, answer(t, errs, err), c.want)
	}
}

func TestParseBulkReadsWhatWasSent(t *testing.T) {
	in, errs, err := parseBulk([]byte(`{"ids":[5,3,5],"change":{"status":"resolved","assignee":null,"team":"Support","category_id":null,
		"tags_add":[" VIP"]},"comment":{"body":"Done in bulk","internal":true}}`), 10)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	resolved := ticket.StatusResolved
	want := bulk.Change{Status: &resolved, Category: &lifecycle.IDChange{}, TagsAdd: []string{"vip"}, TagsRemove: []string{}}
	if !reflect.DeepEqual(in.change, want) || in.query != nil || !reflect.DeepEqual(in.ids, []int64{5, 3}) {
		t.Errorf("read %+v", in)
	}
	if in.assignee != (refValue{present: true, null: true}) || in.team != (refValue{present: true, name: "Support"}) {
		t.Errorf("references %+v %+v", in.assignee, in.team)
	}
	if in.comment == nil || *in.comment != (bulk.Comment{Body: "Done in bulk", Internal: true}) {
		t.Errorf("comment %+v", in.comment)
	}
	in, errs, err = parseBulk([]byte(`{"query":"  status:open printer ","tz":"Europe/Paris","comment":{"body":"hi"}}`), 10)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	if in.query == nil || *in.query != "status:open printer" || in.tz != "Europe/Paris" || !in.change.Empty() || in.ids != nil {
		t.Errorf("read %+v", in)
	}
}

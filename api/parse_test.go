package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

var (
	tooLongSubject = strings.Repeat("é", ticket.MaxSubjectRunes+1)
	subjectDetail  = fmt.Sprintf("subject: must be at most %d characters, got %d", ticket.MaxSubjectRunes, ticket.MaxSubjectRunes+1)
	longText       = strings.Repeat("x", ticket.MaxDescriptionBytes+1)
	refDetail      = "must be a positive id, a name or email string, or null"
)

func TestParseChangeRefusesBadBodies(t *testing.T) {
	allowed := "unknown field; allowed fields are status, priority, assignee, team, subject, description, category_id, custom_fields, tags_add, tags_remove"
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"status":`, []string{"400 the body is not valid JSON: unexpected end of JSON input (at byte 10)"}},
		{`[]`, []string{"422 the body must be a JSON object"}},
		{`"status"`, []string{"422 the body must be a JSON object"}},
		{`null`, []string{"422 the body must be a JSON object"}},
		{`{}`, []string{"422 the body names no field to change; send any of status, priority, assignee, team, subject, description, category_id, custom_fields, tags_add, tags_remove"}},
		// Unknown members are listed, all of them, whatever the case of a
		// known name's spelling.
		{`{"colour":"red","Status":"open","status":"open"}`, []string{"422 the body has unknown fields", "Status: " + allowed, "colour: " + allowed}},
		{`{"requester_id":1}`, []string{"422 the body has unknown fields", "requester_id: " + allowed}},
		// A null where a string is required is an error, not "leave it".
		{`{"status":null,"priority":7}`, []string{"status: must be a string, not null", "priority: must be a string"}},
		{`{"subject":null,"description":null}`, []string{"subject: must be a string, not null", "description: must be a string, not null"}},
		{`{"status":"bogus"}`, []string{"status: " + parseError(statusError, "bogus")}},
		{`{"status":"OPEN "}`, []string{"status: " + parseError(statusError, "OPEN ")}},
		{`{"priority":"urgent"}`, []string{"priority: " + parseError(priorityError, "urgent")}},
		{`{"priority":["high"]}`, []string{"priority: must be a string"}},
		{`{"subject":"   "}`, []string{"subject: must not be empty"}},
		{`{"subject":"` + tooLongSubject + `"}`, []string{subjectDetail}},
		{`{"description":"` + longText + `"}`, []string{fmt.Sprintf("description: must be at most %d bytes", ticket.MaxDescriptionBytes)}},
		{`{"assignee":true}`, []string{"assignee: " + refDetail}},
		{`{"assignee":-3,"team":0}`, []string{"assignee: " + refDetail, "team: " + refDetail}},
		{`{"assignee":1.5}`, []string{"assignee: " + refDetail}},
		{`{"assignee":1e30}`, []string{"assignee: " + refDetail}},
		{`{"team":{"id":1}}`, []string{"team: " + refDetail}},
		{`{"category_id":"5"}`, []string{"category_id: must be a positive id or null"}},
		{`{"category_id":0}`, []string{"category_id: must be a positive id or null"}},
		{`{"category_id":2.5}`, []string{"category_id: must be a positive id or null"}},
		{`{"category_id":9007199254740994}`, []string{"category_id: must be a positive id or null"}},
		{`{"category_id":1e400}`, []string{"category_id: must be a positive id or null"}},
		{`{"custom_fields":[]}`, []string{"custom_fields: must be an object"}},
		{`{"custom_fields":"x"}`, []string{"custom_fields: must be an object"}},
		{`{"tags_add":"vip"}`, []string{"tags_add: must be an array of strings"}},
		{`{"tags_remove":[1]}`, []string{"tags_remove: must be an array of strings"}},
		{`{"tags_add":["ok","  ",""]}`, []string{"tags_add[1]: must not be empty", "tags_add[2]: must not be empty"}},
		{`{"tags_add":["` + strings.Repeat("t", rules.MaxTagLen+1) + `"]}`,
			[]string{fmt.Sprintf("tags_add[0]: must be at most %d characters, got %d", rules.MaxTagLen, rules.MaxTagLen+1)}},
		{`{"tags_add":` + tagList(lifecycle.MaxTagsPerChange+1) + `}`,
			[]string{fmt.Sprintf("tags_add: at most %d tags, got %d", lifecycle.MaxTagsPerChange, lifecycle.MaxTagsPerChange+1)}},
		// Added and removed at once is a contradiction, whatever the case.
		{`{"tags_add":["VIP"],"tags_remove":["spam"," vip"]}`, []string{`tags_remove[1]: tag "vip" is also in tags_add`}},
		// Of duplicate members the last counts.
		{`{"status":"open","status":null}`, []string{"status: must be a string, not null"}},
		// Every problem of a body in one answer.
		{`{"status":1,"priority":"urgent","assignee":[],"team":false,"subject":"","description":5,"category_id":-1,"custom_fields":7}`, []string{
			"status: must be a string", "priority: " + parseError(priorityError, "urgent"), "assignee: " + refDetail, "team: " + refDetail,
			"subject: must not be empty", "description: must be a string", "category_id: must be a positive id or null", "custom_fields: must be an object"}},
	} {
		_, errs, err := parseChange([]byte(c.body))
		check(t, c.body, answer(t, errs, err), c.want)
	}
}

func TestParseChangeReadsWhatWasSent(t *testing.T) {
	in, errs, err := parseChange([]byte(`{"status":"resolved","priority":"high","assignee":"  lead@example.com ","team":7,
		"subject":"  New subject  ","description":"","category_id":3,"custom_fields":{"size":"L"}}`))
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	if *in.status != ticket.StatusResolved || *in.priority != ticket.PriorityHigh || *in.subject != "New subject" || *in.description != "" {
		t.Errorf("values %+v", in)
	}
	if in.assignee != (refValue{present: true, name: "lead@example.com"}) || in.team != (refValue{present: true, id: 7}) {
		t.Errorf("references %+v %+v", in.assignee, in.team)
	}
	if !in.categorySet || *in.category != 3 || string(in.fields["size"]) != `"L"` {
		t.Errorf("category and fields %+v", in)
	}

	// Absent and null differ: null (or "") unassigns and clears, absent
	// leaves alone.
	in, errs, err = parseChange([]byte(`{"assignee":null,"team":"","category_id":null,"custom_fields":null}`))
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	if in.assignee != (refValue{present: true, null: true}) || in.team != (refValue{present: true, null: true}) {
		t.Errorf("null references %+v %+v", in.assignee, in.team)
	}
	if !in.categorySet || in.category != nil || in.fields != nil {
		t.Errorf("null category and fields %+v", in)
	}
	// Tags are normalized as rules add them: trimmed, lower case, sorted,
	// each once; null is no tag.
	in, errs, err = parseChange([]byte(`{"tags_add":[" Printer","vip","VIP","3rd floor"],"tags_remove":null}`))
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	if !slices.Equal(in.tagsAdd, []string{"3rd floor", "printer", "vip"}) || len(in.tagsRemove) != 0 {
		t.Errorf("tags %q %q", in.tagsAdd, in.tagsRemove)
	}
	in, _, _ = parseChange([]byte(`{"priority":"low"}`))
	if in.assignee.present || in.team.present || in.categorySet || in.status != nil || in.subject != nil {
		t.Errorf("absent members read as sent: %+v", in)
	}
}

func TestParseDraft(t *testing.T) {
	allowed := "unknown field; allowed fields are subject, description, priority, assignee, team, category_id, custom_fields"
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"subject":`, []string{"400 the body is not valid JSON: unexpected end of JSON input (at byte 11)"}},
		{`["subject"]`, []string{"422 the body must be a JSON object"}},
		{`{"subject":"a","status":"closed","requester_id":2}`, []string{"422 the body has unknown fields", "requester_id: " + allowed, "status: " + allowed}},
		{`{}`, []string{"subject: is required"}},
		{`{"description":"a"}`, []string{"subject: is required"}},
		{`{"subject":null}`, []string{"subject: is required"}},
		{`{"subject":42}`, []string{"subject: must be a string"}},
		{`{"subject":" \t "}`, []string{"subject: must not be empty"}},
		{`{"subject":"` + tooLongSubject + `"}`, []string{subjectDetail}},
		{`{"subject":"a","description":"` + longText + `"}`, []string{fmt.Sprintf("description: must be at most %d bytes", ticket.MaxDescriptionBytes)}},
		{`{"subject":"a","priority":"urgent"}`, []string{"priority: " + parseError(priorityError, "urgent")}},
		{`{"subject":"a","priority":1}`, []string{"priority: must be a string"}},
		{`{"subject":"a","assignee":{},"team":-1}`, []string{"assignee: " + refDetail, "team: " + refDetail}},
		{`{"subject":"a","category_id":"x","custom_fields":[1]}`, []string{"category_id: must be a positive id or null", "custom_fields: must be an object"}},
		{`{"subject":"a","description":null,"priority":null,"assignee":null,"category_id":null,"custom_fields":null}`, nil},
		{`{"subject":1,"description":2,"priority":3,"assignee":true,"team":[],"category_id":0,"custom_fields":""}`, []string{
			"subject: must be a string", "description: must be a string", "priority: must be a string", "assignee: " + refDetail,
			"team: " + refDetail, "category_id: must be a positive id or null", "custom_fields: must be an object"}},
	} {
		_, errs, err := parseDraft([]byte(c.body), ticket.PriorityMedium)
		check(t, c.body, answer(t, errs, err), c.want)
	}

	in, errs, err := parseDraft([]byte(`{"subject":"  Printer on fire ","description":" 3rd floor "}`), ticket.PriorityLow)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	d := in.draft
	if d.Subject != "Printer on fire" || d.Description != " 3rd floor " || d.Priority != ticket.PriorityLow || d.PrioritySet || d.CategoryID != nil {
		t.Errorf("draft %+v", d)
	}
	if in.fields == nil || in.assignee.present || in.team.present {
		t.Errorf("input %+v", in)
	}
	in, _, _ = parseDraft([]byte(`{"subject":"a","priority":"critical","category_id":4,"assignee":12}`), ticket.PriorityLow)
	if in.draft.Priority != ticket.PriorityCritical || !in.draft.PrioritySet || *in.draft.CategoryID != 4 || in.assignee.id != 12 {
		t.Errorf("draft %+v %+v", in.draft, in.assignee)
	}
}

func TestParseComment(t *testing.T) {
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{}`, []string{"body: is required"}},
		{`{"body":null}`, []string{"body: is required"}},
		{`{"body":" \n "}`, []string{"body: must not be empty"}},
		{`{"body":"` + strings.Repeat("x", maxCommentBytes+1) + `"}`, []string{fmt.Sprintf("body: must be at most %d bytes", maxCommentBytes)}},
		{`{"body":1,"internal":"yes"}`, []string{"body: must be a string", "internal: must be true or false"}},
		{`{"body":"hi","internal":1}`, []string{"internal: must be true or false"}},
		{`{"body":"hi","author":"admin"}`, []string{"422 the body has unknown fields", "author: unknown field; allowed fields are body, internal"}},
		{`"hi"`, []string{"422 the body must be a JSON object"}},
	} {
		_, _, errs, err := parseComment([]byte(c.body))
		check(t, c.body, answer(t, errs, err), c.want)
	}
	text, internal, errs, err := parseComment([]byte(`{"body":" thanks ","internal":true}`))
	if err != nil || len(errs) > 0 || text != " thanks " || !internal {
		t.Errorf("comment %q %v %v %v", text, internal, errs, err)
	}
	if _, internal, _, _ := parseComment([]byte(`{"body":"x","internal":null}`)); internal {
		t.Error("internal: null reads as true")
	}
}

func TestRuleBodyOverlay(t *testing.T) {
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"name":null,"enabled":null}`, []string{"enabled: must not be null", "name: must not be null"}},
		{`{"position":"x","kind":3}`, []string{"kind: has the wrong type: json: cannot unmarshal number into Go value of type string",
			"position: has the wrong type: json: cannot unmarshal string into Go value of type int"}},
		{`{"position":1e30}`, []string{"position: has the wrong type: json: cannot unmarshal number 1e30 into Go value of type int"}},
		{`{"conditions":{}}`, []string{"conditions: has the wrong type: json: cannot unmarshal object into Go value of type []rules.Condition"}},
		{`{"Name":"x"}`, []string{"422 the body has unknown fields", "Name: unknown field; allowed fields are name, kind, position, enabled, conditions, actions"}},
	} {
		var b ruleBody
		err := decodeBody([]byte(c.body), &b)
		var errs []FieldError
		if err == nil {
			r := rules.Rule{Name: "old"}
			errs = b.overlay(&r)
		}
		check(t, c.body, answer(t, errs, err), c.want)
	}
	r := rules.Rule{Name: "old", Kind: "priority", Position: 3, Enabled: true, Conditions: []rules.Condition{{Field: "subject"}}}
	var b ruleBody
	if err := decodeBody([]byte(`{"name":"new","enabled":false,"conditions":[]}`), &b); err != nil {
		t.Fatal(err)
	}
	if errs := b.overlay(&r); len(errs) > 0 || r.Name != "new" || r.Enabled || r.Kind != "priority" || r.Position != 3 || len(r.Conditions) != 0 {
		t.Errorf("overlay %+v %v", r, errs)
	}
}

// TestFieldHelpers covers the members other handlers share: whole numbers
// in a range, ids, id lists and string lists, against wrong types, nulls
// and numbers too large for any type.
func TestFieldHelpers(t *testing.T) {
	type body struct {
		N     Field[float64]           `json:"n"`
		ID    Field[json.RawMessage]   `json:"id"`
		IDs   Field[[]json.RawMessage] `json:"ids"`
		Names Field[[]string]          `json:"names"`
		Org   Field[int64]             `json:"org"`
	}
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"n":1e400}`, []string{"n: must be a whole number from 0 to 10"}},
		{`{"n":11}`, []string{"n: must be a whole number from 0 to 10"}},
		{`{"n":2.5}`, []string{"n: must be a whole number from 0 to 10"}},
		{`{"n":"3"}`, []string{"n: must be a whole number from 0 to 10"}},
		{`{"n":null,"id":null,"ids":null,"names":null,"org":null}`, nil},
		{`{"id":true}`, []string{"id: must be a positive id or null"}},
		{`{"ids":[1,"2",0,3.5,4]}`, []string{"ids[1]: must be a positive id", "ids[2]: must be a positive id", "ids[3]: must be a positive id"}},
		{`{"ids":{"0":1}}`, []string{"ids: must be an array of ids"}},
		{`{"names":["a",1]}`, []string{"names: must be an array of strings"}},
		{`{"org":99999999999999999999}`, []string{"org: must be a positive integer"}},
		{`{"org":-1}`, []string{"org: must be a positive integer"}},
		{`{"org":1.0}`, []string{"org: must be a positive integer"}},
	} {
		var b body
		if err := decodeBody([]byte(c.body), &b); err != nil {
			t.Fatal(err)
		}
		var e fieldErrors
		wholeNumber(&e, "n", b.N, 0, 10)
		nullableID(&e, "id", b.ID)
		idList(&e, "ids", b.IDs)
		stringList(&e, "names", b.Names)
		positive(&e, "org", b.Org, "must be a positive integer")
		check(t, c.body, answer(t, e, nil), c.want)
	}
	var b body
	_ = decodeBody([]byte(`{"n":10,"id":null,"ids":[5,6],"names":[],"org":7}`), &b)
	var e fieldErrors
	n := wholeNumber(&e, "n", b.N, 0, 10)
	id, present := nullableID(&e, "id", b.ID)
	ids, _ := idList(&e, "ids", b.IDs)
	names, sent := stringList(&e, "names", b.Names)
	org := positive(&e, "org", b.Org, "")
	if len(e) > 0 || *n != 10 || id != nil || !present || !slices.Equal(ids, []int64{5, 6}) || names == nil || !sent || *org != 7 {
		t.Errorf("values %v %v %v %v %v %v %v", e, n, id, present, ids, names, org)
	}
}

// tagList is a JSON array of n distinct tags.
func tagList(n int) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%d", i)
	}
	raw, _ := json.Marshal(tags)
	return string(raw)
}

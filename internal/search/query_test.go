package search

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

var testFields = []catalog.Field{
	{Key: "serial", Type: catalog.TypeText},
	{Key: "notes", Type: catalog.TypeLongText},
	{Key: "seats", Type: catalog.TypeNumber},
	{Key: "os", Type: catalog.TypeDropdown, Options: []catalog.Option{{ID: "linux", Label: "Linux"}, {ID: "mac", Label: "macOS"}, {ID: "beos", Label: "BeOS", Retired: true}}},
	{Key: "modules", Type: catalog.TypeMultiChoice, Options: []catalog.Option{{ID: "billing", Label: "Billing"}, {ID: "sso", Label: "SSO"}}},
	{Key: "urgent", Type: catalog.TypeCheckbox},
	{Key: "due", Type: catalog.TypeDate},
	{Key: "seen_at", Type: catalog.TypeDateTime},
	{Key: "owner", Type: catalog.TypeUser},
}

func TestParseFieldFilters(t *testing.T) {
	cases := []struct {
		name, param, value string
		want               string // JSON of the clause
		problem            string // substring of the problem detail
	}{
		{"text is exact", "cf.serial", "AB-12", `{"term":{"cf.serial":"AB-12"}}`, ""},
		{"text match uses the words subfield", "cf.serial.match", "ab", `{"match":{"cf.serial.words":{"operator":"and","query":"ab"}}}`, ""},
		{"long text matches words", "cf.notes", "printer jam", `{"match":{"cf.notes":{"operator":"and","query":"printer jam"}}}`, ""},
		{"number equals", "cf.seats", "12.5", `{"term":{"cf.seats":12.5}}`, ""},
		{"number lower bound", "cf.seats.gte", "10", `{"range":{"cf.seats":{"gte":10}}}`, ""},
		{"number not a number", "cf.seats", "ten", "", `"ten" is not a number`},
		{"dropdown by id", "cf.os", "linux", `{"term":{"cf.os":"linux"}}`, ""},
		{"dropdown by label, alternatives", "cf.os", "macOS, Linux", `{"terms":{"cf.os":["mac","linux"]}}`, ""},
		{"dropdown retired option still filters", "cf.os", "beos", `{"term":{"cf.os":"beos"}}`, ""},
		{"dropdown unknown option", "cf.os", "windows", "", "not one of the options: linux, mac, beos"},
		{"multi choice holds one of", "cf.modules", "sso,billing", `{"terms":{"cf.modules":["sso","billing"]}}`, ""},
		{"checkbox", "cf.urgent", "true", `{"term":{"cf.urgent":true}}`, ""},
		{"checkbox not a bool", "cf.urgent", "yes please", "", "true or false"},
		{"date equals", "cf.due", "2026-12-24", `{"term":{"cf.due":"2026-12-24"}}`, ""},
		{"date upper bound", "cf.due.lte", "2026-12-31", `{"range":{"cf.due":{"lte":"2026-12-31"}}}`, ""},
		{"date malformed", "cf.due", "24.12.2026", "", "date like 2026-12-04"},
		{"datetime day is the whole UTC day", "cf.seen_at", "2026-12-04", `{"range":{"cf.seen_at":{"gte":"2026-12-04T00:00:00Z","lte":"2026-12-04T23:59:59.999999999Z"}}}`, ""},
		{"datetime instant in UTC", "cf.seen_at", "2026-12-04T10:00:00+01:00", `{"term":{"cf.seen_at":"2026-12-04T09:00:00Z"}}`, ""},
		{"datetime upper day bound includes the day", "cf.seen_at.lte", "2026-12-04", `{"range":{"cf.seen_at":{"lte":"2026-12-04T23:59:59.999999999Z"}}}`, ""},
		{"user ids", "cf.owner", "7,9", `{"terms":{"cf.owner":[7,9]}}`, ""},
		{"user not an id", "cf.owner", "bob", "", `"bob" is not a user id`},
		{"exists", "cf.serial.exists", "true", `{"exists":{"field":"cf.serial"}}`, ""},
		{"missing", "cf.serial.exists", "false", `{"bool":{"must_not":[{"exists":{"field":"cf.serial"}}]}}`, ""},
		{"range on a choice", "cf.os.gte", "linux", "", "ranges work on number, date and datetime"},
		{"match on a number", "cf.seats.match", "1", "", "match works on text and long_text"},
		{"unknown operator", "cf.seats.gt", "1", "", `unknown operator "gt"`},
		{"unknown key", "cf.colour", "red", "", `no custom field has the key "colour"`},
		{"empty value", "cf.serial", " ", "", "must not be empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, probs := ParseFieldFilters([]Param{{c.param, c.value}}, testFields)
			if c.problem != "" {
				if len(probs) != 1 || probs[0].Field != c.param || !strings.Contains(probs[0].Detail, c.problem) {
					t.Fatalf("problems %+v, want one naming %s with %q", probs, c.param, c.problem)
				}
				return
			}
			if len(probs) != 0 || len(got) != 1 {
				t.Fatalf("filters %+v, problems %+v", got, probs)
			}
			b, _ := json.Marshal(got[0].clause())
			if string(b) != c.want {
				t.Errorf("clause %s, want %s", b, c.want)
			}
		})
	}
}

func TestParseFieldFiltersKeepsEachParameter(t *testing.T) {
	got, probs := ParseFieldFilters([]Param{
		{"q", "ignored"}, {"cf.modules", "sso"}, {"cf.modules", "billing"}, {"cf.seats.gte", "1"}, {"cf.seats.lte", "5"},
	}, testFields)
	if len(probs) != 0 || len(got) != 4 {
		t.Fatalf("filters %+v, problems %+v; want four (repeats are all-of)", got, probs)
	}
}

func TestQueryBody(t *testing.T) {
	team := int64(3)
	q := Query{Text: "vpn", Statuses: []string{"open"}, TeamID: &team, CategoryIDs: []int64{4, 5},
		Tags: []string{"vip"}, Channel: "email", Unassigned: true,
		Fields: []FieldFilter{{Key: "urgent", Type: catalog.TypeCheckbox, Any: []any{true}}},
		Scope:  map[string]any{"term": map[string]any{"requester_id": 9}}, From: 50, Size: 10}
	b, _ := json.Marshal(q.Body())
	want := `{"_source":false,"from":50,"query":{"bool":{"filter":[{"terms":{"status":["open"]}},` +
		`{"bool":{"must_not":[{"exists":{"field":"assignee_id"}}]}},{"term":{"team_id":3}},{"terms":{"category_id":[4,5]}},` +
		`{"term":{"tags":"vip"}},{"term":{"channel":"email"}},{"term":{"cf.urgent":true}},{"term":{"requester_id":9}}],` +
		`"must":[{"multi_match":{"fields":["subject^2","description"],"operator":"and","query":"vpn"}}]}},` +
		`"size":10,"sort":["_score",{"id":"desc"}],"track_total_hits":true}`
	if string(b) != want {
		t.Errorf("body\n%s\nwant\n%s", b, want)
	}
	// An expanded category that matched nothing still filters (to nothing).
	b, _ = json.Marshal(Query{CategoryIDs: []int64{}}.Body())
	if !strings.Contains(string(b), `{"terms":{"category_id":[]}}`) {
		t.Errorf("empty category list does not filter: %s", b)
	}
}

func TestFieldMappingCoversEveryType(t *testing.T) {
	for _, ty := range catalog.Types() {
		if FieldMapping(ty) == nil {
			t.Errorf("type %s has no mapping", ty)
		}
	}
}

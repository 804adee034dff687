package ticket

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

// fullTicket has every field set, so no key is left out for being empty.
func fullTicket() Ticket {
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	id := func(n int64) *int64 { return &n }
	email, cat := "agent@example.com", "Hardware / Printers"
	return Ticket{
		Number: 42, Subject: "Printer on fire", Description: "3rd floor", Status: StatusInProgress, Priority: PriorityHigh,
		AssigneeID: id(3), Assignee: &email, CreatedAt: at, UpdatedAt: at,
		SLADueAt: &at, FirstResponseDueAt: &at, ResolutionDueAt: &at, FirstRespondedAt: &at,
		ResolvedAt: &at, ClosedAt: &at, ExpiredAt: &at, ArchivedAt: &at,
		EscalationLevel: 2, ReopenCount: 1, LinkedTicket: id(7), AllowedStatuses: []string{"open"},
		RequesterID: id(5), TeamID: id(9), RequesterOrgID: id(11), CategoryID: id(4), Category: &cat,
		CustomFields: map[string]any{"model": "laserjet", "risk": 0.9, "orphan": "x"},
		Tags:         []string{"vip"}, Channel: ChannelEmail, Seq: 12,
	}
}

func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s ...string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// The requester's field set, written out by hand: a field added to the
// view must be added here too, on purpose.
var requesterKeys = sorted("id", "subject", "description", "status", "priority", "assigned", "created_at", "updated_at",
	"resolved_at", "closed_at", "archived_at", "linked_ticket", "requester_id", "category_id", "category",
	"custom_fields", "channel")

// What staff see and requesters do not, also by hand. Every key of Ticket
// is in one of the two lists (see TestEveryTicketFieldIsDecided).
var staffOnlyKeys = sorted("assignee_id", "assignee", "team_id", "sla_due_at", "first_response_due_at", "resolution_due_at",
	"first_responded_at", "expired_at", "escalation_level", "reopen_count", "allowed_statuses", "tags")

func TestRequesterViewFieldSet(t *testing.T) {
	fields := RequesterFields([]catalog.Field{
		{Key: "model", VisibleToRequester: true},
		{Key: "risk", VisibleToRequester: false},
	})
	v := ForRequester(fullTicket(), fields)
	if got := jsonKeys(t, v); !slices.Equal(got, requesterKeys) {
		t.Errorf("requester view keys\n got %v\nwant %v", got, requesterKeys)
	}
	raw, _ := json.Marshal(v)
	for _, secret := range []string{"agent@example.com", `"vip"`, "0.9", `"orphan"`, `"risk"`} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("requester view holds %s: %s", secret, raw)
		}
	}
	if want := map[string]any{"model": "laserjet"}; !reflect.DeepEqual(v.CustomFields, want) {
		t.Errorf("custom fields %v, want %v (hidden and unknown keys left out)", v.CustomFields, want)
	}
	if !v.Assigned {
		t.Error("an assigned ticket reads as unassigned")
	}
	if ForRequester(Ticket{}, fields).Assigned {
		t.Error("an unassigned ticket reads as assigned")
	}
}

// A field added to Ticket must be shown to requesters or listed as staff
// only: this test fails until someone decides.
func TestEveryTicketFieldIsDecided(t *testing.T) {
	got := jsonKeys(t, fullTicket())
	var decided []string
	for _, k := range append(slices.Clone(requesterKeys), staffOnlyKeys...) {
		if k != "assigned" { // the view's own summary of assignee_id
			decided = append(decided, k)
		}
	}
	sort.Strings(decided)
	if !slices.Equal(got, decided) {
		t.Errorf("Ticket's JSON keys\n got %v\nwant %v\n(a new field must be added to requesterKeys or staffOnlyKeys)", got, decided)
	}
}

func TestZeroVisibilityHidesEveryField(t *testing.T) {
	if v := ForRequester(fullTicket(), FieldVisibility{}); len(v.CustomFields) != 0 {
		t.Errorf("zero visibility shows %v", v.CustomFields)
	}
	raw, _ := json.Marshal(ForRequester(Ticket{}, FieldVisibility{}))
	if !strings.Contains(string(raw), `"custom_fields":{}`) {
		t.Errorf("no values should read as an empty object: %s", raw)
	}
}

func TestRequesterEvent(t *testing.T) {
	fields := RequesterFields([]catalog.Field{{Key: "model", VisibleToRequester: true}, {Key: "risk"}})
	cases := []struct {
		kind string
		data map[string]any
		want map[string]any // nil: hidden
	}{
		{"created", map[string]any{"status": "open", "priority": "low", "assignee_id": 3}, map[string]any{"status": "open", "priority": "low"}},
		{"priority_changed", map[string]any{"from": "low", "to": "high", "reason": "rule VIP customers"}, map[string]any{"from": "low", "to": "high"}},
		{"priority_changed", map[string]any{"from": "low", "to": "medium", "reason": "escalation first_response_75"}, map[string]any{"from": "low", "to": "medium"}},
		{"status_changed", map[string]any{"from": "resolved", "to": "open", "reason": "reopen"}, map[string]any{"from": "resolved", "to": "open", "reason": "reopen"}},
		{"status_changed", map[string]any{"from": "open", "to": "closed", "reason": "rule Nightly cleanup"}, map[string]any{"from": "open", "to": "closed"}},
		{"fields_changed", map[string]any{"changes": map[string]any{"model": map[string]any{"from": nil, "to": "x"}, "risk": map[string]any{"from": 1, "to": 2}}},
			map[string]any{"changes": map[string]any{"model": map[string]any{"from": nil, "to": "x"}}}},
		{"fields_changed", map[string]any{"changes": map[string]any{"risk": map[string]any{"from": 1, "to": 2}}}, nil},
		{"comment", map[string]any{"internal": false, "spam_score": 3}, map[string]any{"internal": false}},
		{"archived", map[string]any{"reopen_window": "168h0m0s"}, map[string]any{}},
		{"assigned", map[string]any{"from": nil, "to": 3}, nil},
		{"team_changed", map[string]any{"from": nil, "to": 9}, nil},
		{"routed", map[string]any{"reason": "rule x", "tags": []string{"vip"}}, nil},
		{"escalated", map[string]any{"level": 1}, nil},
		{"sla_breached", map[string]any{"clock": "first_response"}, nil},
		{"expired", map[string]any{"after": "168h"}, nil},
		{"policy_changed", map[string]any{"first_response": "4h"}, nil},
		{"some_future_kind", map[string]any{"x": 1}, nil},
	}
	for _, c := range cases {
		got, ok := RequesterEvent(c.kind, c.data, fields)
		if c.want == nil {
			if ok {
				t.Errorf("%s %v: shown as %v, want hidden", c.kind, c.data, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %v: got %v (shown %v), want %v", c.kind, c.data, got, ok, c.want)
		}
	}
	for _, k := range RequesterHiddenKinds() {
		if _, ok := RequesterEvent(k, map[string]any{}, fields); ok {
			t.Errorf("kind %s is hidden in queries but shown by RequesterEvent", k)
		}
	}
}

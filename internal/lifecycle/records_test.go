package lifecycle

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// bigID does not fit a float64 exactly: it survives only as an int64.
const bigID = int64(1)<<53 + 1

func ptr(n int64) *int64 { return &n }

// viaTemporal passes v through Temporal's default data converter, as a
// local activity's input is.
func viaTemporal[T any](t *testing.T, v T) T {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	p, err := dc.ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatalf("%s: %v", p.Data, err)
	}
	return out
}

// A Change crosses the local activity boundary as JSON and arrives with
// every event's and notification's data as the struct it left as.
func TestChangeSurvivesTheDataConverter(t *testing.T) {
	due := time.Date(2026, 3, 2, 10, 0, 0, 123456789, time.UTC)
	events := []ticket.EventPayload{
		ticket.Created{Status: ticket.StatusOpen, Priority: ticket.PriorityHigh, AssigneeID: ptr(bigID)},
		ticket.StatusChanged{From: ticket.StatusResolved, To: ticket.StatusOpen, Reason: ticket.ReasonReopen},
		ticket.PriorityChanged{From: ticket.PriorityLow, To: ticket.PriorityHigh, Reason: "rule x"},
		ticket.Assigned{From: ptr(bigID), To: nil, Reason: "escalation r"},
		ticket.TeamChanged{From: nil, To: ptr(bigID)},
		ticket.CategoryChanged{From: ptr(bigID), To: ptr(4)},
		ticket.FieldsChanged{},
		ticket.FieldsChanged{Changes: map[string]ticket.FieldChange{"model": {From: nil, To: "x"}, "seats": {From: 2.0, To: true}}},
		ticket.TextChanged{Field: "subject"},
		ticket.TextChanged{Field: "description", From: "a", To: "b"},
		ticket.Comment{Internal: true},
		ticket.Attachment{AttachmentID: bigID},
		ticket.Routed{Reason: "rule y", Rules: []ticket.RuleRef{{ID: bigID, Name: "y", Kind: "assignment"}}, Strategy: "round-robin", Tags: []string{"vip"}},
		ticket.PolicyChanged{FirstResponse: "1h0m0s", Resolution: "0s", Escalation: true},
		ticket.Escalated{Rule: "fr-100", Reason: "first_response at 100%", FromLevel: 0, Level: 1},
		ticket.SLABreached{Clock: "resolution", DueAt: due, Priority: ticket.PriorityHigh},
		ticket.Expired{After: "720h0m0s", Action: ExpiryClose, DueAt: due},
		ticket.Archived{ReopenWindow: "168h0m0s"},
		ticket.Unknown{Of: "merged", Raw: json.RawMessage(`{"into":12}`)},
	}
	notices := []ticket.OutboxPayload{
		ticket.TicketCreatedNotice{Priority: ticket.PriorityHigh},
		ticket.AgentReplyNotice{AuthorID: bigID},
		ticket.StatusChangedNotice{From: ticket.StatusOpen, To: ticket.StatusResolved},
		ticket.EscalatedNotice{Rule: "fr-100", Level: 1, Reason: "first_response at 100%"},
		ticket.SLABreachedNotice{Clock: "resolution", DueAt: due},
		ticket.ExpiredNotice{Action: ExpiryEscalate},
	}
	ch := Change{Number: 7, At: t0, Actor: "user:200", ActorID: ptr(200), RequestID: "r-1"}
	for i, d := range events {
		ch.Events = append(ch.Events, Event{TicketNumber: 7, Seq: int64(i + 1), Kind: d.Kind(), Actor: "user:200", Data: d, CreatedAt: t0})
	}
	for i, d := range notices {
		ch.Outbox = append(ch.Outbox, Notification{Seq: int64(i + 1), Kind: d.Kind(), Data: d})
	}
	got := viaTemporal(t, ch)
	if !reflect.DeepEqual(got, ch) {
		for i := range ch.Events {
			if i < len(got.Events) && !reflect.DeepEqual(got.Events[i], ch.Events[i]) {
				t.Errorf("event %s:\n got %#v\nwant %#v", ch.Events[i].Kind, got.Events[i].Data, ch.Events[i].Data)
			}
		}
		for i := range ch.Outbox {
			if i < len(got.Outbox) && !reflect.DeepEqual(got.Outbox[i], ch.Outbox[i]) {
				t.Errorf("notification %s:\n got %#v\nwant %#v", ch.Outbox[i].Kind, got.Outbox[i].Data, ch.Outbox[i].Data)
			}
		}
		t.Fatalf("the change changed on its way through the data converter")
	}
}

// What the planner writes arrives with its IDs as int64, and the wire
// keeps the plain field names, so a Change encoded before payloads were
// typed (data as a map) still decodes.
func TestPlannedIDsCrossAsInt64(t *testing.T) {
	st := State{Number: 7, Status: ticket.StatusOpen, Priority: ticket.PriorityMedium, Seq: 1, CreatedAt: t0, Persisted: true}
	p := PlanRouted(st, Policy{Transitions: ticket.DefaultTransitions()}, Decision{
		Rules: []ticket.RuleRef{{ID: bigID, Name: "desk", Kind: "assignment"}}, SetTeam: true, TeamID: ptr(bigID),
		SetAssignee: true, AssigneeID: ptr(bigID - 2), Reason: "rule desk"})
	got := viaTemporal(t, p.Change(t0, Actor{Role: ticket.RoleSystem}, "", Policy{}, sla.AlwaysOpen()))
	var ids []int64
	for _, e := range got.Events {
		switch d := e.Data.(type) {
		case ticket.Routed:
			ids = append(ids, d.Rules[0].ID)
		case ticket.TeamChanged:
			ids = append(ids, *d.To)
		case ticket.Assigned:
			ids = append(ids, *d.To)
		default:
			t.Errorf("event %s arrived as %T", e.Kind, e.Data)
		}
	}
	if want := []int64{bigID, bigID, bigID - 2}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}

	old := `{"Number":7,"Events":[
		{"TicketNumber":7,"Seq":2,"Kind":"assigned","Actor":"system","Data":{"from":null,"to":9007199254740993,"reason":"rule desk"},"CreatedAt":"2026-03-02T09:00:00Z"},
		{"TicketNumber":7,"Seq":3,"Kind":"fields_changed","Actor":"system","Data":null,"CreatedAt":"2026-03-02T09:00:00Z"}],
		"Outbox":[{"Seq":2,"Kind":"agent_reply","Data":{"author_id":9007199254740993}}]}`
	var ch Change
	if err := json.Unmarshal([]byte(old), &ch); err != nil {
		t.Fatal(err)
	}
	if a, ok := ch.Events[0].Data.(ticket.Assigned); !ok || a.To == nil || *a.To != bigID || a.Reason != "rule desk" {
		t.Errorf("old assigned event decodes as %#v", ch.Events[0].Data)
	}
	if _, ok := ch.Events[1].Data.(ticket.FieldsChanged); !ok {
		t.Errorf("old fields_changed event decodes as %#v", ch.Events[1].Data)
	}
	if n, ok := ch.Outbox[0].Data.(ticket.AgentReplyNotice); !ok || n.AuthorID != bigID {
		t.Errorf("old agent_reply decodes as %#v", ch.Outbox[0].Data)
	}
}

package ticket

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func id(n int64) *int64 { return &n }

// bigID does not fit a float64 exactly: it survives only as an int64.
const bigID = int64(1)<<53 + 1

// stored is one payload as a row holds it and what it decodes to.
type stored[P Payload] struct {
	kind string
	raw  string
	want P
}

var due = time.Date(2026, 12, 7, 20, 30, 36, 42145128, time.UTC)

// storedEvents are event data exactly as rows hold them today (the
// planner's, PersistCreated's and the store's writers; key order as
// PostgreSQL's jsonb returns it), with what each decodes to.
var storedEvents = []stored[EventPayload]{
	{EventCreated, `{"status": "open", "priority": "high"}`, Created{Status: StatusOpen, Priority: PriorityHigh}},
	{EventCreated, `{"status": "open", "priority": "medium", "assignee_id": 9007199254740993}`,
		Created{Status: StatusOpen, Priority: PriorityMedium, AssigneeID: id(bigID)}},
	// Before migration 004 the assignee was an email.
	{EventCreated, `{"status": "open", "assignee": "agent@example.com", "priority": "low"}`,
		Created{Status: StatusOpen, Priority: PriorityLow, Assignee: func() *string { s := "agent@example.com"; return &s }()}},
	{EventStatusChanged, `{"to": "in_progress", "from": "open"}`, StatusChanged{From: StatusOpen, To: StatusInProgress}},
	{EventStatusChanged, `{"to": "open", "from": "resolved", "reason": "reopen"}`, StatusChanged{From: StatusResolved, To: StatusOpen, Reason: ReasonReopen}},
	{EventPriorityChanged, `{"to": "low", "from": "medium"}`, PriorityChanged{From: PriorityMedium, To: PriorityLow}},
	{EventPriorityChanged, `{"to": "high", "from": "medium", "reason": "priority high by rule \"Plotters are urgent\" (#4)"}`,
		PriorityChanged{From: PriorityMedium, To: PriorityHigh, Reason: `priority high by rule "Plotters are urgent" (#4)`}},
	{EventAssigned, `{"to": 5, "from": null}`, Assigned{To: id(5)}},
	{EventAssigned, `{"to": null, "from": 9007199254740993, "reason": "escalation res-100"}`, Assigned{From: id(bigID), Reason: "escalation res-100"}},
	{EventAssigned, `{"to": 7, "from": 5, "reason": "rerouting: agent 5 is unavailable"}`,
		Assigned{From: id(5), To: id(7), Reason: "rerouting: agent 5 is unavailable"}},
	{EventTeamChanged, `{"to": 3, "from": null}`, TeamChanged{To: id(3)}},
	{EventTeamChanged, `{"to": 9, "from": 3, "reason": "escalation res-100"}`, TeamChanged{From: id(3), To: id(9), Reason: "escalation res-100"}},
	{EventCategoryChanged, `{"to": 12, "from": null}`, CategoryChanged{To: id(12)}},
	{EventCategoryChanged, `{"to": null, "from": 12}`, CategoryChanged{From: id(12)}},
	{EventFieldsChanged, `{"changes": {"model": {"to": "LaserJet 4", "from": null}, "seats": {"to": 3, "from": 2}, "vip": {"to": null, "from": true}}}`,
		FieldsChanged{Changes: map[string]FieldChange{"model": {To: "LaserJet 4"}, "seats": {From: 2.0, To: 3.0}, "vip": {From: true}}}},
	{EventFieldsChanged, `{"changes": {}}`, FieldsChanged{Changes: map[string]FieldChange{}}},
	{EventTagsChanged, `{"added": ["printer", "vip"], "removed": []}`, TagsChanged{Added: []string{"printer", "vip"}, Removed: []string{}}},
	{EventTagsChanged, `{"added": [], "removed": ["spam"]}`, TagsChanged{Added: []string{}, Removed: []string{"spam"}}},
	{EventSubjectChanged, `{"to": "Renamed by the agent", "from": "Invalid changes"}`,
		TextChanged{Field: "subject", From: "Invalid changes", To: "Renamed by the agent"}},
	{EventDescriptionChanged, `{"to": "Fresh description 7f3a", "from": ""}`, TextChanged{Field: "description", To: "Fresh description 7f3a"}},
	{EventComment, `{"internal": false}`, Comment{}},
	{EventComment, `{"internal": true}`, Comment{Internal: true}},
	{EventAttachment, `{"internal": false, "attachment_id": 9007199254740993}`, Attachment{AttachmentID: bigID}},
	{EventRouted, `{"rules": [{"id": 3, "kind": "assignment", "name": "Printers to the print desk"}], "reason": "rule \"Printers to the print desk\" (#3), strategy least-loaded: agent 5 (0 of no limit open)", "strategy": "least-loaded"}`,
		Routed{Reason: `rule "Printers to the print desk" (#3), strategy least-loaded: agent 5 (0 of no limit open)`,
			Rules: []RuleRef{{ID: 3, Name: "Printers to the print desk", Kind: "assignment"}}, Strategy: "least-loaded"}},
	{EventRouted, `{"tags": ["vip"], "rules": [{"id": 9007199254740993, "kind": "tag", "name": "VIP"}], "reason": "rule \"VIP\" (#9007199254740993)"}`,
		Routed{Reason: `rule "VIP" (#9007199254740993)`, Rules: []RuleRef{{ID: bigID, Name: "VIP", Kind: "tag"}}, Tags: []string{"vip"}}},
	{EventRouted, `{"rules": null, "reason": "no rule matched"}`, Routed{Reason: "no rule matched"}},
	{EventPolicyChanged, `{"escalation": true, "resolution": "8h0m0s", "first_response": "1h0m0s"}`,
		PolicyChanged{FirstResponse: "1h0m0s", Resolution: "8h0m0s", Escalation: true}},
	{EventEscalated, `{"rule": "fr-100", "level": 1, "reason": "first_response at 100% of its target (due 2026-12-07T20:30:36Z)", "from_level": 0}`,
		Escalated{Rule: "fr-100", Reason: "first_response at 100% of its target (due 2026-12-07T20:30:36Z)", Level: 1}},
	{EventSLABreached, `{"clock": "first_response", "due_at": "2026-12-07T20:30:36.042145128Z", "priority": "high"}`,
		SLABreached{Clock: "first_response", DueAt: due, Priority: PriorityHigh}},
	{EventSLABreached, `{"clock": "resolution", "due_at": "2026-12-07T20:30:36Z", "priority": "critical"}`,
		SLABreached{Clock: "resolution", DueAt: due.Truncate(time.Second), Priority: PriorityCritical}},
	{EventExpired, `{"after": "720h0m0s", "action": "close", "due_at": "2026-12-07T20:30:36.042145128Z"}`,
		Expired{After: "720h0m0s", Action: "close", DueAt: due}},
	{EventArchived, `{"reopen_window": "168h0m0s"}`, Archived{ReopenWindow: "168h0m0s"}},
}

// storedOutbox are outbox payloads exactly as rows hold them today.
var storedOutbox = []stored[OutboxPayload]{
	{OutboxTicketCreated, `{"priority": "medium"}`, TicketCreatedNotice{Priority: PriorityMedium}},
	{OutboxAgentReply, `{"author_id": 9007199254740993}`, AgentReplyNotice{AuthorID: bigID}},
	{OutboxStatusChanged, `{"to": "resolved", "from": "in_progress"}`, StatusChangedNotice{From: StatusInProgress, To: StatusResolved}},
	{OutboxEscalated, `{"rule": "res-100", "level": 2, "reason": "resolution at 100% of its target (due 2026-12-07T20:30:36Z)"}`,
		EscalatedNotice{Rule: "res-100", Level: 2, Reason: "resolution at 100% of its target (due 2026-12-07T20:30:36Z)"}},
	{OutboxSLABreached, `{"clock": "resolution", "due_at": "2026-12-07T20:30:36.042145128Z"}`, SLABreachedNotice{Clock: "resolution", DueAt: due}},
	{OutboxExpired, `{"action": "escalate"}`, ExpiredNotice{Action: "escalate"}},
}

// checkStored decodes each example as stored today, compares it with
// want, checks that its JSON (what GET /history shows) has exactly the
// stored keys and values, and that what is written now decodes to the
// same payload; every kind of decoders needs an example.
func checkStored[P Payload](t *testing.T, examples []stored[P], decoders map[string]func([]byte) (P, bool), decode func(string, []byte) (P, error)) {
	covered := map[string]bool{}
	for _, c := range examples {
		covered[c.kind] = true
		got, err := decode(c.kind, []byte(c.raw))
		if err != nil {
			t.Fatalf("%s %s: %v", c.kind, c.raw, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s:\n got %#v\nwant %#v", c.kind, c.raw, got, c.want)
		}
		if got.Kind() != c.kind {
			t.Errorf("%s decodes as kind %s", c.kind, got.Kind())
		}
		if shown := mustJSON(t, got); !sameJSON(t, shown, []byte(c.raw)) {
			t.Errorf("%s: shown as %s, stored as %s", c.kind, shown, c.raw)
		}
		written, err := EncodePayload(got)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ V *int }
		if err := json.Unmarshal(written, &head); err != nil || head.V == nil || *head.V != PayloadVersion {
			t.Errorf("%s written as %s: want \"v\": %d", c.kind, written, PayloadVersion)
		}
		again, err := decode(c.kind, written)
		if err != nil || !reflect.DeepEqual(again, c.want) {
			t.Errorf("%s written as %s reads back as %#v (%v)", c.kind, written, again, err)
		}
	}
	for kind := range decoders {
		if !covered[kind] {
			t.Errorf("kind %s has no stored example", kind)
		}
	}
}

func TestStoredEventsDecode(t *testing.T) {
	checkStored(t, storedEvents, eventDecoders, DecodeEvent)
}

func TestStoredOutboxDecode(t *testing.T) {
	checkStored(t, storedOutbox, outboxDecoders, DecodeOutbox)
}

// Every kind constant has a payload, and a payload reports the kind it is
// decoded under: an event kind and an outbox kind of the same name stay
// apart.
func TestEveryKindHasAPayload(t *testing.T) {
	events := []string{EventCreated, EventStatusChanged, EventPriorityChanged, EventAssigned, EventTeamChanged,
		EventCategoryChanged, EventFieldsChanged, EventTagsChanged, EventSubjectChanged, EventDescriptionChanged, EventComment,
		EventAttachment, EventRouted, EventPolicyChanged, EventEscalated, EventSLABreached, EventExpired, EventArchived}
	for _, k := range events {
		p, err := DecodeEvent(k, nil)
		if _, unknown := p.(Unknown); err != nil || unknown || p.Kind() != k {
			t.Errorf("event %s: %#v, %v", k, p, err)
		}
	}
	outbox := []string{OutboxTicketCreated, OutboxAgentReply, OutboxStatusChanged, OutboxEscalated, OutboxSLABreached, OutboxExpired}
	for _, k := range outbox {
		p, err := DecodeOutbox(k, []byte("null"))
		if _, unknown := p.(Unknown); err != nil || unknown || p.Kind() != k {
			t.Errorf("outbox %s: %#v, %v", k, p, err)
		}
	}
	if len(eventDecoders) != len(events) || len(outboxDecoders) != len(outbox) {
		t.Errorf("%d event and %d outbox decoders for %d and %d kinds", len(eventDecoders), len(outboxDecoders), len(events), len(outbox))
	}
}

// What this version cannot read it keeps: an unknown kind, a newer
// version, a key its struct lacks. Writing it again gives the same bytes.
func TestUnreadablePayloadsKeepTheirBytes(t *testing.T) {
	cases := []struct{ kind, raw string }{
		{"merged", `{"into": 12}`},
		{EventComment, `{"v": 2, "internal": true, "visibility": "team"}`},
		{EventComment, `{"internal": true, "spam_score": 3}`},
		{EventAssigned, `{"v": "1", "from": null, "to": 3}`},
		{EventArchived, `["not", "an", "object"]`},
	}
	for _, c := range cases {
		p, err := DecodeEvent(c.kind, []byte(c.raw))
		if err != nil {
			t.Fatalf("%s %s: %v", c.kind, c.raw, err)
		}
		u, ok := p.(Unknown)
		if !ok || u.Kind() != c.kind {
			t.Errorf("%s %s: decoded as %#v, want Unknown", c.kind, c.raw, p)
			continue
		}
		if out, err := EncodePayload(u); err != nil || string(out) != c.raw {
			t.Errorf("%s: written back as %s (%v), want %s", c.kind, out, err, c.raw)
		}
		if out, err := json.Marshal(u); err != nil || !sameJSON(t, out, []byte(c.raw)) {
			t.Errorf("%s: shown as %s (%v), want %s", c.kind, out, err, c.raw)
		}
	}
	if _, err := DecodeEvent(EventComment, []byte(`{"internal": tru`)); err == nil {
		t.Error("bytes that are not JSON decode without an error")
	}
	if _, err := EncodePayload(nil); err == nil {
		t.Error("a missing payload encodes")
	}
}

// IDs are int64 whichever way they arrive: written by this code, read
// from a row, or read from a row written before versions.
func TestIDsDecodeAsInt64(t *testing.T) {
	written := []EventPayload{
		Created{Status: StatusOpen, Priority: PriorityLow, AssigneeID: id(bigID)},
		Assigned{From: id(bigID), To: id(bigID - 1)},
		TeamChanged{From: id(bigID), To: id(bigID - 1)},
		CategoryChanged{From: id(bigID), To: id(bigID - 1)},
		Attachment{AttachmentID: bigID},
		Routed{Rules: []RuleRef{{ID: bigID}}},
	}
	for _, p := range written {
		raw, err := EncodePayload(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range [][]byte{raw, mustJSON(t, p)} {
			got, err := DecodeEvent(p.Kind(), form)
			if err != nil || !reflect.DeepEqual(got, p) {
				t.Errorf("%s %s reads back as %#v (%v)", p.Kind(), form, got, err)
			}
		}
	}
	n, err := DecodeOutbox(OutboxAgentReply, mustJSON(t, AgentReplyNotice{AuthorID: bigID}))
	if err != nil || n.(AgentReplyNotice).AuthorID != bigID {
		t.Errorf("author id reads back as %#v (%v)", n, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

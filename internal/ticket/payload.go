package ticket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Payloads: what each event (ticket_events.data) and each outbox row
// (outbox.payload) carries, one struct per kind. Their JSON keys are the
// keys stored since the lifecycle began, so old rows decode as they are
// and GET /tickets/{id}/history shows the same data. docs/lifecycle.md
// ("Event payloads") lists them and explains the version.

// PayloadVersion is the version of the payload shapes below. New rows
// carry it as the key "v"; rows without "v" (written before payloads had
// a version) are version 1, the same shapes. A payload whose version is
// not one this code knows decodes as Unknown, bytes kept. When a shape
// changes incompatibly, raise PayloadVersion and keep decoding the older
// shape (converting it to the new struct) for rows that carry it.
const PayloadVersion = 1

// Payload is the data of an event or an outbox row; Kind is the kind it
// is stored under.
type Payload interface {
	Kind() string
}

// EventPayload is the data of one history event (lifecycle.Event.Data).
type EventPayload interface {
	Payload
	eventPayload()
}

// OutboxPayload is the data of one outbox row (lifecycle.Notification.Data).
// Some outbox kinds share an event kind's name ("status_changed") but not
// its data, hence two families.
type OutboxPayload interface {
	Payload
	outboxPayload()
}

// Created is EventCreated's data: the ticket as it was opened.
type Created struct {
	Status     Status   `json:"status"`
	Priority   Priority `json:"priority"`
	AssigneeID *int64   `json:"assignee_id,omitempty"` // opened assigned
	// Assignee is the assignee's email on rows written before tickets
	// named their assignee by user id (migration 004).
	Assignee *string `json:"assignee,omitempty"`
}

// StatusChanged is EventStatusChanged's data.
type StatusChanged struct {
	From Status `json:"from"`
	To   Status `json:"to"`
	// Reason ("reopen", "auto-close", "expired", …) when not a person's
	// plain change.
	Reason string `json:"reason,omitempty"`
}

// PriorityChanged is EventPriorityChanged's data.
type PriorityChanged struct {
	From   Priority `json:"from"`
	To     Priority `json:"to"`
	Reason string   `json:"reason,omitempty"` // a rule or an escalation raised it
}

// Assigned is EventAssigned's data: user ids, nil for nobody.
type Assigned struct {
	From   *int64 `json:"from"`
	To     *int64 `json:"to"`
	Reason string `json:"reason,omitempty"` // routing, rerouting or an escalation chose
}

// TeamChanged is EventTeamChanged's data: team ids, nil for none.
type TeamChanged struct {
	From   *int64 `json:"from"`
	To     *int64 `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// CategoryChanged is EventCategoryChanged's data: category ids.
type CategoryChanged struct {
	From *int64 `json:"from"`
	To   *int64 `json:"to"`
}

// FieldsChanged is EventFieldsChanged's data: each custom field that
// really changed, by key. The planner leaves Changes empty; the store
// fills it when it merges the request's values.
type FieldsChanged struct {
	Changes map[string]FieldChange `json:"changes"`
}

// TagsChanged is EventTagsChanged's data: the tags that really changed,
// sorted. The planner fills in the tags the change asks for; the store
// keeps those that change the ticket's tags as it finds them.
type TagsChanged struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// FieldChange is one custom field's old and new value, as decoded JSON
// (nil: unset).
type FieldChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// TextChanged is the data of EventSubjectChanged and
// EventDescriptionChanged. Field ("subject" or "description") is the kind,
// not a stored key. The planner leaves From and To empty: the text waits
// in ticket_requests and the store fills both.
type TextChanged struct {
	Field string `json:"-"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Comment is EventComment's data; the text is the comment row's.
type Comment struct {
	Internal bool `json:"internal"`
}

// Attachment is EventAttachment's data.
type Attachment struct {
	AttachmentID int64 `json:"attachment_id"`
	Internal     bool  `json:"internal"`
}

// Routed is EventRouted's data: one routing decision.
type Routed struct {
	Reason   string    `json:"reason"`
	Rules    []RuleRef `json:"rules"` // those that matched
	Strategy string    `json:"strategy,omitempty"`
	Tags     []string  `json:"tags,omitempty"` // the tags it added
}

// RuleRef names a routing rule as a decision records it (rules.Ref).
type RuleRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// PolicyChanged is EventPolicyChanged's data: the ticket's priority's new
// targets (Go duration text, "0s" for none) and whether escalation is on.
type PolicyChanged struct {
	FirstResponse string `json:"first_response"`
	Resolution    string `json:"resolution"`
	Escalation    bool   `json:"escalation"`
}

// Escalated is EventEscalated's data.
type Escalated struct {
	Rule      string `json:"rule"`
	Reason    string `json:"reason"`
	FromLevel int    `json:"from_level"`
	Level     int    `json:"level"`
}

// SLABreached is EventSLABreached's data.
type SLABreached struct {
	Clock    string    `json:"clock"` // "first_response" or "resolution"
	DueAt    time.Time `json:"due_at"`
	Priority Priority  `json:"priority"`
}

// Expired is EventExpired's data: the expiry period (Go duration text),
// what it does ("escalate" or "close") and when it was due.
type Expired struct {
	After  string    `json:"after"`
	Action string    `json:"action"`
	DueAt  time.Time `json:"due_at"`
}

// Archived is EventArchived's data: the reopen window that ended (Go
// duration text).
type Archived struct {
	ReopenWindow string `json:"reopen_window,omitempty"`
}

func (Created) Kind() string         { return EventCreated }
func (StatusChanged) Kind() string   { return EventStatusChanged }
func (PriorityChanged) Kind() string { return EventPriorityChanged }
func (Assigned) Kind() string        { return EventAssigned }
func (TeamChanged) Kind() string     { return EventTeamChanged }
func (CategoryChanged) Kind() string { return EventCategoryChanged }
func (FieldsChanged) Kind() string   { return EventFieldsChanged }
func (TagsChanged) Kind() string     { return EventTagsChanged }
func (p TextChanged) Kind() string   { return TextChangedEvent(p.Field) }
func (Comment) Kind() string         { return EventComment }
func (Attachment) Kind() string      { return EventAttachment }
func (Routed) Kind() string          { return EventRouted }
func (PolicyChanged) Kind() string   { return EventPolicyChanged }
func (Escalated) Kind() string       { return EventEscalated }
func (SLABreached) Kind() string     { return EventSLABreached }
func (Expired) Kind() string         { return EventExpired }
func (Archived) Kind() string        { return EventArchived }

func (Created) eventPayload()         {}
func (StatusChanged) eventPayload()   {}
func (PriorityChanged) eventPayload() {}
func (Assigned) eventPayload()        {}
func (TeamChanged) eventPayload()     {}
func (CategoryChanged) eventPayload() {}
func (FieldsChanged) eventPayload()   {}
func (TagsChanged) eventPayload()     {}
func (TextChanged) eventPayload()     {}
func (Comment) eventPayload()         {}
func (Attachment) eventPayload()      {}
func (Routed) eventPayload()          {}
func (PolicyChanged) eventPayload()   {}
func (Escalated) eventPayload()       {}
func (SLABreached) eventPayload()     {}
func (Expired) eventPayload()         {}
func (Archived) eventPayload()        {}

// TicketCreatedNotice is OutboxTicketCreated's data.
type TicketCreatedNotice struct {
	Priority Priority `json:"priority"`
}

// AgentReplyNotice is OutboxAgentReply's data; the reply is the comment
// written by the same event.
type AgentReplyNotice struct {
	AuthorID int64 `json:"author_id"`
}

// StatusChangedNotice is OutboxStatusChanged's data.
type StatusChangedNotice struct {
	From Status `json:"from"`
	To   Status `json:"to"`
}

// EscalatedNotice is OutboxEscalated's data.
type EscalatedNotice struct {
	Rule   string `json:"rule"`
	Level  int    `json:"level"`
	Reason string `json:"reason"`
}

// SLABreachedNotice is OutboxSLABreached's data.
type SLABreachedNotice struct {
	Clock string    `json:"clock"`
	DueAt time.Time `json:"due_at"`
}

// ExpiredNotice is OutboxExpired's data.
type ExpiredNotice struct {
	Action string `json:"action"`
}

func (TicketCreatedNotice) Kind() string { return OutboxTicketCreated }
func (AgentReplyNotice) Kind() string    { return OutboxAgentReply }
func (StatusChangedNotice) Kind() string { return OutboxStatusChanged }
func (EscalatedNotice) Kind() string     { return OutboxEscalated }
func (SLABreachedNotice) Kind() string   { return OutboxSLABreached }
func (ExpiredNotice) Kind() string       { return OutboxExpired }

func (TicketCreatedNotice) outboxPayload() {}
func (AgentReplyNotice) outboxPayload()    {}
func (StatusChangedNotice) outboxPayload() {}
func (EscalatedNotice) outboxPayload()     {}
func (SLABreachedNotice) outboxPayload()   {}
func (ExpiredNotice) outboxPayload()       {}

// Unknown is a payload this code cannot read as its kind's struct: a kind
// it does not know, a version it does not know, or keys its struct lacks.
// It keeps the stored bytes and writes them back unchanged, so reading
// and rewriting never loses data.
type Unknown struct {
	Of  string // the kind it is stored under
	Raw json.RawMessage
}

func (u Unknown) Kind() string { return u.Of }
func (Unknown) eventPayload()  {}
func (Unknown) outboxPayload() {}

// MarshalJSON writes the kept bytes.
func (u Unknown) MarshalJSON() ([]byte, error) {
	if len(u.Raw) == 0 {
		return []byte("{}"), nil
	}
	return u.Raw, nil
}

// EncodePayload is p as stored: its JSON object with the version ("v")
// added; an Unknown payload as it was read.
func EncodePayload(p Payload) ([]byte, error) {
	if u, ok := p.(Unknown); ok {
		return u.MarshalJSON()
	}
	if p == nil {
		return nil, errors.New("ticket: encode payload: no payload")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("ticket: encode %s payload: %w", p.Kind(), err)
	}
	out := []byte(`{"v":` + strconv.Itoa(PayloadVersion))
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

var eventDecoders = map[string]func([]byte) (EventPayload, bool){
	EventCreated:            decodeAs[Created, EventPayload],
	EventStatusChanged:      decodeAs[StatusChanged, EventPayload],
	EventPriorityChanged:    decodeAs[PriorityChanged, EventPayload],
	EventAssigned:           decodeAs[Assigned, EventPayload],
	EventTeamChanged:        decodeAs[TeamChanged, EventPayload],
	EventCategoryChanged:    decodeAs[CategoryChanged, EventPayload],
	EventFieldsChanged:      decodeAs[FieldsChanged, EventPayload],
	EventTagsChanged:        decodeAs[TagsChanged, EventPayload],
	EventSubjectChanged:     decodeText("subject"),
	EventDescriptionChanged: decodeText("description"),
	EventComment:            decodeAs[Comment, EventPayload],
	EventAttachment:         decodeAs[Attachment, EventPayload],
	EventRouted:             decodeAs[Routed, EventPayload],
	EventPolicyChanged:      decodeAs[PolicyChanged, EventPayload],
	EventEscalated:          decodeAs[Escalated, EventPayload],
	EventSLABreached:        decodeAs[SLABreached, EventPayload],
	EventExpired:            decodeAs[Expired, EventPayload],
	EventArchived:           decodeAs[Archived, EventPayload],
}

var outboxDecoders = map[string]func([]byte) (OutboxPayload, bool){
	OutboxTicketCreated: decodeAs[TicketCreatedNotice, OutboxPayload],
	OutboxAgentReply:    decodeAs[AgentReplyNotice, OutboxPayload],
	OutboxStatusChanged: decodeAs[StatusChangedNotice, OutboxPayload],
	OutboxEscalated:     decodeAs[EscalatedNotice, OutboxPayload],
	OutboxSLABreached:   decodeAs[SLABreachedNotice, OutboxPayload],
	OutboxExpired:       decodeAs[ExpiredNotice, OutboxPayload],
}

// DecodeEvent reads an event's stored data (ticket_events.data, or the
// Data of an Event in workflow history) as its kind's payload. Empty or
// null data is the kind's zero payload. The error is only for bytes that
// are not JSON.
func DecodeEvent(kind string, raw []byte) (EventPayload, error) {
	return decodePayload(kind, raw, eventDecoders)
}

// DecodeOutbox reads an outbox row's payload as its kind's payload, like
// DecodeEvent.
func DecodeOutbox(kind string, raw []byte) (OutboxPayload, error) {
	return decodePayload(kind, raw, outboxDecoders)
}

func decodePayload[P Payload](kind string, raw []byte, decoders map[string]func([]byte) (P, bool)) (P, error) {
	var zero P
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if !json.Valid(raw) {
		return zero, fmt.Errorf("ticket: %s payload is not JSON: %.100q", kind, raw)
	}
	unknown := func() (P, error) {
		p, _ := any(Unknown{Of: kind, Raw: append(json.RawMessage(nil), raw...)}).(P)
		return p, nil
	}
	decode, ok := decoders[kind]
	if !ok {
		return unknown()
	}
	body, ok := versionOne(raw)
	if !ok {
		return unknown()
	}
	p, ok := decode(body)
	if !ok {
		return unknown()
	}
	return p, nil
}

// versionOne returns the object raw without its "v" key when it is a
// version-1 payload ("v" 1 or absent).
func versionOne(raw []byte) ([]byte, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	v, ok := m["v"]
	if !ok {
		return raw, true
	}
	if n, err := strconv.Atoi(string(v)); err != nil || n != 1 {
		return nil, false
	}
	delete(m, "v")
	body, err := json.Marshal(m)
	return body, err == nil
}

// decodeAs decodes body as T, refusing keys T does not have (they would be
// lost).
func decodeAs[T any, P Payload](body []byte) (P, bool) {
	var t T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		var zero P
		return zero, false
	}
	p, ok := any(t).(P)
	return p, ok
}

func decodeText(field string) func([]byte) (EventPayload, bool) {
	return func(body []byte) (EventPayload, bool) {
		p, ok := decodeAs[TextChanged, EventPayload](body)
		if !ok {
			return nil, false
		}
		t := p.(TextChanged)
		t.Field = field
		return t, true
	}
}

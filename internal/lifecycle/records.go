package lifecycle

import (
	"encoding/json"
	"time"

	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// What a plan writes: the records the store persists in one transaction
// and the routing request and decision the planner reads back. The store
// (internal/store) takes these types as they are.

// TicketRow is the ticket's state after a change, as the workflow decided it.
type TicketRow struct {
	Status             ticket.Status
	Priority           ticket.Priority
	AssigneeID         *int64
	TeamID             *int64
	SLADueAt           *time.Time
	FirstResponseDueAt *time.Time
	ResolutionDueAt    *time.Time
	FirstRespondedAt   *time.Time
	ResolvedAt         *time.Time
	ClosedAt           *time.Time
	ExpiredAt          *time.Time
	ArchivedAt         *time.Time
	EscalationLevel    int
	ReopenCount        int
	CategoryID         *int64
}

// Notification is one outbox row.
type Notification struct {
	Seq  int64
	Kind string
	Data ticket.OutboxPayload
}

// Change is one durable step of a ticket: its events (consecutive
// sequence numbers), the ticket row after them and the notifications they
// cause, written in one transaction. RequestID names the text in
// ticket_requests that comment and *_changed events take.
type Change struct {
	Number  int64
	At      time.Time
	Actor   string
	ActorID *int64
	// Bulk names the bulk action the change belongs to ("" for none).
	Bulk      string
	RequestID string
	Events    []Event
	Row       TicketRow
	Outbox    []Notification
}

// Event is one row of a ticket's append-only history.
type Event struct {
	TicketNumber int64
	Seq          int64
	Kind         string
	Actor        string
	Data         ticket.EventPayload
	CreatedAt    time.Time
}

// Events and notifications cross the activity boundary as JSON (Change is
// a local activity's input) in the plain structs' shape: Data is written
// as the payload's own JSON and read back through the kind, so it arrives
// as the struct it left as (IDs int64, times time.Time), not as a map of
// float64s.

// UnmarshalJSON reads an event, its data as its kind's payload.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	w := struct {
		*plain
		Data json.RawMessage
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	data, err := ticket.DecodeEvent(e.Kind, w.Data)
	e.Data = data
	return err
}

// UnmarshalJSON reads a notification, its data as its kind's payload.
func (n *Notification) UnmarshalJSON(b []byte) error {
	type plain Notification
	w := struct {
		*plain
		Data json.RawMessage
	}{plain: (*plain)(n)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	data, err := ticket.DecodeOutbox(n.Kind, w.Data)
	n.Data = data
	return err
}

// Routing triggers: why a ticket is being routed.
const (
	RouteCreated = "created" // a new ticket
	RouteChanged = "changed" // a person changed its category, priority or fields
	RouteReroute = "reroute" // its agent became unavailable
)

// RouteRequest asks for one routing decision about a ticket, as its
// workflow sees it.
type RouteRequest struct {
	Number int64
	// Key names the decision (ticket, trigger, event sequence): a retry
	// with the same key answers the stored decision.
	Key        string
	Trigger    string
	Priority   ticket.Priority
	TeamID     *int64
	AssigneeID *int64
	// PriorityManual: a person set the priority; priority rules keep it.
	PriorityManual bool
	// AssigneeManual: a person assigned the ticket; only a reroute moves it.
	AssigneeManual bool
	// Exclude lists agents that must not get the ticket (reroute).
	Exclude []int64
	// DefaultCapacity caps agents without a capacity of their own (0: none).
	DefaultCapacity int
}

// Decision is what routing decided. The assignee and team are already
// written to the ticket row (the load every later decision counts); the
// workflow records the decision as events.
type Decision struct {
	Rules       []rules.Ref      `json:"rules"`
	Priority    *ticket.Priority `json:"priority,omitempty"`
	SetTeam     bool             `json:"set_team,omitempty"`
	TeamID      *int64           `json:"team_id,omitempty"`
	SetAssignee bool             `json:"set_assignee,omitempty"`
	AssigneeID  *int64           `json:"assignee_id,omitempty"`
	Strategy    string           `json:"strategy,omitempty"`
	// Tags are the tags this decision added.
	Tags []string `json:"tags,omitempty"`
	// Reason says, for people, what decided and why; PriorityReason only
	// why the priority changed (requesters see priority changes).
	Reason         string `json:"reason"`
	PriorityReason string `json:"priority_reason,omitempty"`
}

// Empty reports whether the decision changes nothing and names no rule.
func (d Decision) Empty() bool {
	return len(d.Rules) == 0 && d.Priority == nil && !d.SetTeam && !d.SetAssignee && len(d.Tags) == 0
}

// Row is the ticket row as a state leaves it: the columns the API lists
// and sorts by (deadlines, counters), computed on the policy's calendar.
func Row(st State, pol Policy, cal sla.Calendar) TicketRow {
	r := TicketRow{
		Status: st.Status, Priority: st.Priority, AssigneeID: st.AssigneeID, TeamID: st.TeamID,
		SLADueAt: SLADueAt(st, cal), ResolutionDueAt: ClockDue(st.Resolution, cal),
		FirstRespondedAt: st.FirstRespondedAt, ResolvedAt: st.ResolvedAt, ClosedAt: st.ClosedAt, ExpiredAt: st.ExpiredAt,
		EscalationLevel: st.EscalationLevel, ReopenCount: st.Reopens, CategoryID: st.CategoryID,
	}
	if st.FirstRespondedAt == nil {
		r.FirstResponseDueAt = ClockDue(st.FirstResponse, cal)
	}
	if st.Archived && st.ClosedAt != nil {
		at := st.ClosedAt.Add(pol.ReopenWindow)
		r.ArchivedAt = &at
	}
	return r
}

// Change is the plan as the store writes it: its events and notifications
// by actor at a time, and the row after them. requestID names the text
// waiting in ticket_requests, if any.
func (p Plan) Change(at time.Time, actor Actor, requestID string, pol Policy, cal sla.Calendar) Change {
	st := p.State
	ch := Change{Number: st.Number, At: at, Actor: actor.Ref(), Bulk: actor.Bulk, RequestID: requestID, Row: Row(st, pol, cal)}
	if actor.UserID != 0 {
		id := actor.UserID
		ch.ActorID = &id
	}
	for _, e := range p.Events {
		e.TicketNumber, e.Actor, e.CreatedAt = st.Number, ch.Actor, at
		ch.Events = append(ch.Events, e)
	}
	ch.Outbox = p.Outbox
	return ch
}

package lifecycle

import (
	"time"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Error types of rejected Updates (temporal.ApplicationError.Type()). The
// API maps them to HTTP statuses.
const (
	// ErrNotAllowed: a status move the transition graph does not allow
	// (409). Details: NotAllowedDetails.
	ErrNotAllowed = "NotAllowed"
	// ErrInvalid: a value the ticket cannot take (422). Details:
	// []FieldProblem.
	ErrInvalid = "Invalid"
	// ErrConflict: the ticket changed under the request, e.g. a claim of a
	// ticket someone else took (409). Details: a message string.
	ErrConflict = "Conflict"
	// ErrForbidden: the actor may not make this change (403), e.g. a
	// requester adding an internal comment. Details: a message string.
	ErrForbidden = "Forbidden"
)

// NotAllowedDetails names the refused move and the moves that are allowed.
type NotAllowedDetails struct {
	From    ticket.Status `json:"from"`
	To      ticket.Status `json:"to"`
	Allowed []string      `json:"allowed"`
}

// FieldProblem is one field's problem in an ErrInvalid rejection.
type FieldProblem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Actor is who asks for a change. UserID 0 with role "system" is the
// workflow itself (timers, automation).
type Actor struct {
	UserID int64  `json:"user_id"`
	Role   string `json:"role"` // requester, agent, lead, admin, system, participant
	// Bulk names the bulk action that sent the request on the user's
	// behalf; every event the request writes records it
	// (ticket_events.bulk_id).
	Bulk string `json:"bulk,omitempty"`
}

// Agent reports whether the actor works tickets (agent, lead or admin).
func (a Actor) Agent() bool {
	return a.Role == ticket.RoleAgent || a.Role == ticket.RoleLead || a.Role == ticket.RoleAdmin
}

// Ref returns the actor as written in ticket_events.actor ("user:12", "system").
func (a Actor) Ref() string {
	if a.UserID == 0 {
		return "system"
	}
	return "user:" + itoa(a.UserID)
}

// IDChange sets or clears an optional reference (assignee, team). A nil
// *IDChange in a request means "leave as is"; ID nil means "clear".
type IDChange struct {
	ID *int64 `json:"id"`
}

// ChangeRequest is one PATCH (or reopen, or queue claim): validated as a
// whole and applied all-or-nothing.
type ChangeRequest struct {
	// RequestID is the Update ID too; a repeat returns the first answer,
	// also across continue-as-new.
	RequestID string           `json:"request_id"`
	Actor     Actor            `json:"actor"`
	Status    *ticket.Status   `json:"status,omitempty"`
	Priority  *ticket.Priority `json:"priority,omitempty"`
	Assignee  *IDChange        `json:"assignee,omitempty"`
	Team      *IDChange        `json:"team,omitempty"`
	Category  *IDChange        `json:"category,omitempty"`
	// TagsAdd and TagsRemove add tags to the ticket and take tags off it
	// (normalized as NormalizeTags does). Tags live in the ticket's row,
	// not in the workflow's state: the store applies them to the tags the
	// row has and records those that really changed.
	TagsAdd    []string `json:"tags_add,omitempty"`
	TagsRemove []string `json:"tags_remove,omitempty"`
	// Text lists "subject", "description" and/or "custom_fields" when new
	// values wait in ticket_requests under RequestID as {"subject": …,
	// "description": …, "custom_fields": {key: value or null}}.
	Text []string `json:"text,omitempty"`
	// RerouteFrom routes the ticket again, away from this agent (who
	// became unavailable); it moves even an assignment made by hand.
	RerouteFrom *int64 `json:"reroute_from,omitempty"`
	// IfUnassigned makes the change fail with ErrConflict unless the ticket
	// has no assignee (queue/next claims use it).
	IfUnassigned bool `json:"if_unassigned,omitempty"`
	// Reason is recorded with a status change (e.g. "reopen").
	Reason string `json:"reason,omitempty"`
	// Rights are what the actor's role may do with assignments, as the
	// access policy (Casbin) grants them; the planner applies the rule
	// against the assignee the ticket has when the change is applied. nil
	// in requests from before the rule moved into the planner (their
	// caller had applied it).
	Rights *AssignRights `json:"rights,omitempty"`
}

// AssignRights are the access policy's answers for an actor: assign
// (give a ticket to someone else) and reassign (change the assignee of a
// ticket assigned to someone else, to anyone or to nobody).
type AssignRights struct {
	Assign   bool `json:"assign"`
	Reassign bool `json:"reassign"`
}

// CommentRequest adds a comment; the body waits in ticket_requests under
// RequestID as {"body": …}.
type CommentRequest struct {
	RequestID string `json:"request_id"`
	Actor     Actor  `json:"actor"`
	Internal  bool   `json:"internal"`
}

// AttachRequest records an attachment the API already stored (its row in
// attachments, not yet linked to an event).
type AttachRequest struct {
	RequestID    string `json:"request_id"`
	Actor        Actor  `json:"actor"`
	AttachmentID int64  `json:"attachment_id"`
	Internal     bool   `json:"internal"`
}

// ChangeResult answers every Update: the last event sequence written and
// the ticket's state after it.
type ChangeResult struct {
	Seq       int64  `json:"seq"`
	CommentID int64  `json:"comment_id,omitempty"`
	Reopened  bool   `json:"reopened,omitempty"`
	State     Public `json:"state"`
}

// Public is the part of the workflow's state callers may be shown.
type Public struct {
	Status          ticket.Status   `json:"status"`
	Priority        ticket.Priority `json:"priority"`
	AssigneeID      *int64          `json:"assignee_id"`
	TeamID          *int64          `json:"team_id"`
	CategoryID      *int64          `json:"category_id"`
	EscalationLevel int             `json:"escalation_level"`
	SLADueAt        *time.Time      `json:"sla_due_at"`
}

// SLATargets are the clocks of one priority. Zero means no target.
type SLATargets struct {
	FirstResponse time.Duration `json:"first_response"`
	Resolution    time.Duration `json:"resolution"`
}

// Clock names an SLA clock.
type Clock string

// The two SLA clocks.
const (
	ClockFirstResponse Clock = "first_response"
	ClockResolution    Clock = "resolution"
)

// TimeRule escalates when an SLA clock reaches Percent of its target, plus
// After of wall time (e.g. 75 % → level 1; 100 % → level 2; 100 % + 4h →
// level 3).
type TimeRule struct {
	Name    string        `json:"name"`
	Clock   Clock         `json:"clock"`
	Percent int           `json:"percent"`
	After   time.Duration `json:"after"`
	Action  Escalation    `json:"action"`
}

// Attempt counters an AttemptRule watches.
const (
	AttemptReopened           = "reopened"
	AttemptRequesterFollowups = "requester_followups" // without an agent reply in between
	AttemptReassigned         = "reassigned"
)

// AttemptRule escalates when a counter reaches Count.
type AttemptRule struct {
	Name   string     `json:"name"`
	Kind   string     `json:"kind"`
	Count  int        `json:"count"`
	Action Escalation `json:"action"`
}

// Escalation is what a rule does: raise the level to Level (never
// lowers), optionally raise the priority one step and/or move the ticket
// to a team (unassigning it). It always appends an event and an outbox
// notification.
type Escalation struct {
	Level         int    `json:"level"`
	RaisePriority bool   `json:"raise_priority"`
	TeamID        *int64 `json:"team_id,omitempty"`
}

// Expiry actions.
const (
	ExpiryEscalate = "escalate"
	ExpiryClose    = "close"
)

// Policy is every rule the workflow decides with. It is built from the
// configuration when the ticket is created (worker.PolicyFromConfig), travels in
// the workflow's input, and is replaced by SignalPolicy.
type Policy struct {
	Transitions map[string][]string            `json:"transitions"`
	SLA         map[ticket.Priority]SLATargets `json:"sla"`
	// Calendar counts SLA time; the zero value is 24x7 in UTC.
	Calendar       sla.CalendarSpec `json:"calendar"`
	Escalation     bool             `json:"escalation"`
	TimeRules      []TimeRule       `json:"time_rules"`
	AttemptRules   []AttemptRule    `json:"attempt_rules"`
	ExpireAfter    time.Duration    `json:"expire_after"` // 0: never
	ExpiryAction   string           `json:"expiry_action"`
	AutoCloseAfter time.Duration    `json:"auto_close_after"` // 0: never
	ReopenWindow   time.Duration    `json:"reopen_window"`
	// MaxHistoryEvents continues the run as new once history is this long,
	// besides whenever the server suggests it; 0: only when suggested.
	MaxHistoryEvents int `json:"max_history_events"`
}

package lifecycle

import (
	"time"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Processed remembers an answered request, so a repeat (also after
// continue-as-new) gets the same answer instead of a second change.
type Processed struct {
	ID        string `json:"id"`
	Seq       int64  `json:"seq"`
	CommentID int64  `json:"comment_id,omitempty"`
	Reopened  bool   `json:"reopened,omitempty"`
}

// MaxProcessed bounds the remembered request IDs; the API's idempotency
// window is far shorter than the time it takes to answer this many.
const MaxProcessed = 256

// State is what the workflow knows about its ticket (the query answer and
// what continue-as-new carries).
type State struct {
	Number      int64
	Status      ticket.Status
	Priority    ticket.Priority
	AssigneeID  *int64
	TeamID      *int64
	RequesterID *int64
	CategoryID  *int64
	Seq         int64
	CreatedAt   time.Time
	Persisted   bool
	// PriorityManual and AssigneeManual: a person set them, so routing
	// rules keep them (only a reroute moves a hand-made assignment).
	PriorityManual bool `json:",omitempty"`
	AssigneeManual bool `json:",omitempty"`

	// SLA clocks; nil when the priority has no such target.
	FirstResponse    *sla.Budget
	FirstRespondedAt *time.Time
	Resolution       *sla.Budget
	ResolvedAt       *time.Time
	ClosedAt         *time.Time
	ExpiredAt        *time.Time
	EscalationLevel  int
	// Fired holds the deadlines and rules that already went off.
	Fired map[string]bool
	// BreachedAt is when each clock breached (its deadline, exactly), so
	// "N hours after the breach" stays put when a later priority change
	// moves the clock's target.
	BreachedAt map[Clock]time.Time
	// Attempt counters.
	Reopens, Followups, Reassignments int
	// Archived: the reopen window ended; the run completes.
	Archived  bool
	Processed []Processed
	// Deadlines is the pending timers, earliest first (for operators).
	Deadlines []Deadline
}

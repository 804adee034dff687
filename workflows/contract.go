package workflows

import (
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// The Updates and Signals a ticket's workflow answers. Every change to a
// ticket goes through one of these Updates; each is validated against the
// workflow's state (a rejected Update leaves no trace in history) and
// answered only once its events are durable in PostgreSQL.
//
// Text (comment bodies, new subjects and descriptions) never enters
// workflow history: the API stores it first in ticket_requests under the
// request ID (store.PutRequestPayload) and the Update names only the ID.
const (
	// UpdateChange applies a ChangeRequest (PATCH, reopen, claim).
	UpdateChange = "change"
	// UpdateComment adds a comment whose body waits in ticket_requests.
	UpdateComment = "comment"
	// UpdateAttach records an attachment already stored by the API.
	UpdateAttach = "attach"
	// SignalPolicy replaces the ticket's Policy (e.g. after an SLA policy
	// change); deadlines are recomputed at once.
	SignalPolicy = "policy"
)

// The arguments and answers of those Updates, and the policy and state the
// workflow runs with, are the planner's types (internal/lifecycle decides
// every rule about a ticket change); these names are how callers of the
// workflow spell them.
type (
	Actor             = lifecycle.Actor
	IDChange          = lifecycle.IDChange
	AssignRights      = lifecycle.AssignRights
	ChangeRequest     = lifecycle.ChangeRequest
	CommentRequest    = lifecycle.CommentRequest
	AttachRequest     = lifecycle.AttachRequest
	ChangeResult      = lifecycle.ChangeResult
	Public            = lifecycle.Public
	NotAllowedDetails = lifecycle.NotAllowedDetails
	FieldProblem      = lifecycle.FieldProblem
	Policy            = lifecycle.Policy
	SLATargets        = lifecycle.SLATargets
	Clock             = lifecycle.Clock
	TimeRule          = lifecycle.TimeRule
	AttemptRule       = lifecycle.AttemptRule
	Escalation        = lifecycle.Escalation
	State             = lifecycle.State
	Processed         = lifecycle.Processed
	Deadline          = lifecycle.Deadline
)

// Rejection kinds, SLA clocks, attempt counters, expiry actions and outbox
// kinds, as defined by the planner.
const (
	ErrNotAllowed = lifecycle.ErrNotAllowed
	ErrInvalid    = lifecycle.ErrInvalid
	ErrConflict   = lifecycle.ErrConflict
	ErrForbidden  = lifecycle.ErrForbidden

	ClockFirstResponse = lifecycle.ClockFirstResponse
	ClockResolution    = lifecycle.ClockResolution

	AttemptReopened           = lifecycle.AttemptReopened
	AttemptRequesterFollowups = lifecycle.AttemptRequesterFollowups
	AttemptReassigned         = lifecycle.AttemptReassigned

	ExpiryEscalate = lifecycle.ExpiryEscalate
	ExpiryClose    = lifecycle.ExpiryClose

	OutboxTicketCreated = ticket.OutboxTicketCreated
	OutboxAgentReply    = ticket.OutboxAgentReply
	OutboxStatusChanged = ticket.OutboxStatusChanged
	OutboxEscalated     = ticket.OutboxEscalated
	OutboxSLABreached   = ticket.OutboxSLABreached
	OutboxExpired       = ticket.OutboxExpired

	// RoleParticipant is ticket.RoleParticipant: the actor role of mail
	// from a staff address whose sender is not authenticated.
	RoleParticipant = ticket.RoleParticipant
)

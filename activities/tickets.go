// Package activities holds every side effect of the ticket workflow:
// PostgreSQL writes and Elasticsearch indexing. Each activity is idempotent,
// keyed by (ticket, event sequence), so Temporal may retry it at will.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Tickets carries the dependencies of the ticket activities. Workflows refer
// to its methods through a nil pointer; the worker registers a real one.
type Tickets struct {
	Store *store.Store
	Index *search.Index
	// DefaultAgentCapacity caps agents without a capacity of their own in
	// routing decisions (0: no cap).
	DefaultAgentCapacity int
}

// PersistCreatedInput is what the workflow decided about a new ticket. The
// subject and description wait in PostgreSQL with the number's reservation,
// so they never enter workflow history.
type PersistCreatedInput struct {
	Number   int64
	Seq      int64
	Status   ticket.Status
	Priority ticket.Priority
	// AssigneeID is set when the ticket was assigned at creation.
	AssigneeID *int64
	CreatedAt  time.Time
	Actor      string
	// SLA deadlines at creation and the notifications to queue.
	SLADueAt           *time.Time
	FirstResponseDueAt *time.Time
	ResolutionDueAt    *time.Time
	Outbox             []store.Notification
}

// PersistResult reports what is now durable.
type PersistResult struct {
	Seq int64
	// Indexed is true when the search index already holds this state.
	Indexed bool
}

// inlineIndexTimeout bounds the best-effort indexing done while persisting;
// a slower Elasticsearch is left to the retrying IndexTicket activity.
const inlineIndexTimeout = 2 * time.Second

// ErrCodeMissingPayload marks a ticket whose creation request is not in the
// database; retrying cannot help.
const ErrCodeMissingPayload = "MissingCreationPayload"

// PersistCreated writes the ticket row and its "created" event.
func (a *Tickets) PersistCreated(ctx context.Context, in PersistCreatedInput) (PersistResult, error) {
	t := ticket.Ticket{
		Number: in.Number, Status: in.Status, Priority: in.Priority, AssigneeID: in.AssigneeID,
		CreatedAt: in.CreatedAt, UpdatedAt: in.CreatedAt, Seq: in.Seq,
		SLADueAt: in.SLADueAt, FirstResponseDueAt: in.FirstResponseDueAt, ResolutionDueAt: in.ResolutionDueAt,
	}
	data := map[string]any{"status": in.Status, "priority": in.Priority}
	if in.AssigneeID != nil {
		data["assignee_id"] = *in.AssigneeID
	}
	stored, err := a.Store.CreateTicketFromReservation(ctx, t, store.Event{
		TicketNumber: in.Number, Seq: in.Seq, Kind: ticket.EventCreated, Actor: in.Actor, Data: data, CreatedAt: in.CreatedAt,
	}, in.Outbox)
	if errors.Is(err, store.ErrNotFound) {
		return PersistResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrCodeMissingPayload, err)
	}
	if err != nil {
		return PersistResult{}, err
	}
	// Index right away on the happy path: it saves the workflow a second
	// activity (two more trips through the server) per change. Failure here
	// is not an error; the workflow then schedules IndexTicket.
	ictx, cancel := context.WithTimeout(ctx, inlineIndexTimeout)
	defer cancel()
	indexed := true
	if _, err := a.Index.IndexTicket(ictx, stored); err != nil {
		indexed = false
		activity.GetLogger(ctx).Warn("index after persist failed; the workflow will retry", "ticket", in.Number, "err", err)
	}
	return PersistResult{Seq: stored.Seq, Indexed: indexed}, nil
}

// ApplyResult reports a durable change.
type ApplyResult struct {
	CommentID int64
	// Indexed is true when the search index already holds this state.
	Indexed bool
}

// Apply writes one change of a ticket (events, row, outbox) and indexes the
// result inline, like PersistCreated. It is idempotent by event sequence.
func (a *Tickets) Apply(ctx context.Context, ch store.Change) (ApplyResult, error) {
	applied, err := a.Store.ApplyChange(ctx, ch)
	if errors.Is(err, store.ErrMissingRequest) || errors.Is(err, store.ErrNotFound) {
		return ApplyResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrCodeMissingPayload, err)
	}
	if err != nil {
		return ApplyResult{}, err
	}
	ictx, cancel := context.WithTimeout(ctx, inlineIndexTimeout)
	defer cancel()
	indexed := true
	if _, err := a.Index.IndexTicket(ictx, applied.Ticket); err != nil {
		indexed = false
		activity.GetLogger(ctx).Warn("index after change failed; the workflow will retry", "ticket", ch.Number, "err", err)
	}
	return ApplyResult{CommentID: applied.CommentID, Indexed: indexed}, nil
}

// IndexTicket projects the ticket's current PostgreSQL state into
// Elasticsearch, versioned by its last event sequence: whichever retry runs
// last, the index ends with the newest state.
func (a *Tickets) IndexTicket(ctx context.Context, number int64) error {
	t, err := a.Store.Ticket(ctx, number)
	if err != nil {
		return err
	}
	if _, err := a.Index.IndexTicket(ctx, t); err != nil {
		return fmt.Errorf("index ticket %d: %w", number, err)
	}
	return nil
}

// Route makes one routing decision for a ticket in a PostgreSQL
// transaction (store.Route). It is idempotent by the request's key: a
// retry answers the decision already made.
func (a *Tickets) Route(ctx context.Context, req store.RouteRequest) (store.Decision, error) {
	req.DefaultCapacity = a.DefaultAgentCapacity
	d, err := a.Store.Route(ctx, req)
	if errors.Is(err, store.ErrNotFound) {
		return d, temporal.NewNonRetryableApplicationError(err.Error(), ErrCodeMissingPayload, err)
	}
	return d, err
}

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

	"github.com/helpdesk/helpdesk/internal/lifecycle"
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
	// DeferIndex leaves the search index to the step that follows (the
	// routing decision indexes the routed state), so a routed create
	// writes its document once.
	DeferIndex bool
}

// ticket is the new row and its "created" event.
func (in PersistCreatedInput) ticket() (ticket.Ticket, store.Event) {
	t := ticket.Ticket{
		Number: in.Number, Status: in.Status, Priority: in.Priority, AssigneeID: in.AssigneeID,
		CreatedAt: in.CreatedAt, UpdatedAt: in.CreatedAt, Seq: in.Seq,
		SLADueAt: in.SLADueAt, FirstResponseDueAt: in.FirstResponseDueAt, ResolutionDueAt: in.ResolutionDueAt,
	}
	data := ticket.Created{Status: in.Status, Priority: in.Priority, AssigneeID: in.AssigneeID}
	return t, store.Event{TicketNumber: in.Number, Seq: in.Seq, Kind: data.Kind(), Actor: in.Actor, Data: data, CreatedAt: in.CreatedAt}
}

// PersistResult reports what is now durable.
type PersistResult struct {
	Seq int64
	// Indexed is true when the search index already holds this state.
	Indexed bool
	// Deferred is true when indexing was left to the next step
	// (PersistCreatedInput.DeferIndex). Histories recorded before the field
	// existed decode it as false and keep their old shape on replay.
	Deferred bool
}

// inlineIndexTimeout bounds the best-effort indexing done while persisting;
// a slower Elasticsearch is left to the retrying IndexTicket activity.
const inlineIndexTimeout = 2 * time.Second

// ErrCodeMissingPayload marks a ticket whose creation request is not in the
// database; retrying cannot help.
const ErrCodeMissingPayload = "MissingCreationPayload"

// permanentIfMissing makes a store error about a row or request text that
// is not there non-retryable (retrying cannot bring it back); any other
// error is returned as it is, for the activity's retries.
func permanentIfMissing(err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrMissingRequest) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrCodeMissingPayload, err)
	}
	return err
}

// PersistCreated writes the ticket row and its "created" event.
func (a *Tickets) PersistCreated(ctx context.Context, in PersistCreatedInput) (PersistResult, error) {
	t, ev := in.ticket()
	stored, err := a.Store.CreateTicketFromReservation(ctx, t, ev, in.Outbox)
	if err != nil {
		return PersistResult{}, permanentIfMissing(err)
	}
	if in.DeferIndex {
		return PersistResult{Seq: stored.Seq, Deferred: true}, nil
	}
	// Index right away on the happy path: it saves the workflow a second
	// activity (two more trips through the server) per change. Failure here
	// is not an error; the workflow then schedules IndexTicket.
	return PersistResult{Seq: stored.Seq, Indexed: a.indexInline(ctx, stored)}, nil
}

// indexInline tries once, briefly, to index the ticket as a change just
// left it and reports whether it did; the workflow schedules the retrying
// IndexTicket when it did not. The document adds to the row what
// PostgreSQL holds elsewhere (names, comment text, breaches): one query.
func (a *Tickets) indexInline(ctx context.Context, t ticket.Ticket) bool {
	ictx, cancel := context.WithTimeout(ctx, inlineIndexTimeout)
	defer cancel()
	x, err := a.Store.SearchExtras(ictx, t.Number)
	if err == nil {
		_, err = a.Index.IndexTicket(ictx, t, x[t.Number])
	}
	if err != nil {
		activity.GetLogger(ctx).Warn("inline index failed; the workflow will retry", "ticket", t.Number, "err", err)
		return false
	}
	return true
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
	if err != nil {
		return ApplyResult{}, permanentIfMissing(err)
	}
	return ApplyResult{CommentID: applied.CommentID, Indexed: a.indexInline(ctx, applied.Ticket)}, nil
}

// IndexTicket projects the ticket's current PostgreSQL state into
// Elasticsearch, versioned by its last event sequence: whichever retry runs
// last, the index ends with the newest state.
func (a *Tickets) IndexTicket(ctx context.Context, number int64) error {
	docs, err := a.Store.SearchDocuments(ctx, []int64{number})
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("index ticket %d: %w", number, store.ErrNotFound)
	}
	if _, err := a.Index.IndexTicket(ctx, docs[0].Ticket, docs[0].Extras); err != nil {
		return fmt.Errorf("index ticket %d: %w", number, err)
	}
	return nil
}

// Route makes one routing decision for a ticket in a PostgreSQL
// transaction (store.Route). It is idempotent by the request's key: a
// retry answers the decision already made.
func (a *Tickets) Route(ctx context.Context, in RouteInput) (RouteResult, error) {
	req := in.RouteRequest
	req.DefaultCapacity = a.DefaultAgentCapacity
	d, err := a.Store.Route(ctx, req)
	if err != nil {
		return RouteResult{Decision: d}, permanentIfMissing(err)
	}
	res := RouteResult{Decision: d}
	if in.IndexIfEmpty && d.Empty() {
		// Nothing changes, so nothing else will index the state that
		// PersistCreated left unindexed.
		t, err := a.Store.Ticket(ctx, req.Number)
		if err != nil {
			return res, err
		}
		res.Indexed = a.indexInline(ctx, t)
	}
	return res, nil
}

// RouteInput asks for one routing decision.
type RouteInput struct {
	store.RouteRequest
	// IndexIfEmpty indexes the ticket's current state when the decision
	// changes nothing (its create deferred the index to routing).
	IndexIfEmpty bool
}

// RouteResult is the decision and whether Route indexed the ticket. Its
// JSON is the decision's with one more field, so decisions recorded before
// RouteResult existed decode into it.
type RouteResult struct {
	store.Decision
	Indexed bool
}

// RouteApplyInput asks for a routing decision recorded in the same
// transaction: the planner (lifecycle.PlanRouted) runs inside it on the
// workflow's state and policy as of At, so the workflow adopts the state
// it returns (recorded in history; replay does not run the planner again).
type RouteApplyInput struct {
	Route  lifecycle.RouteRequest
	State  lifecycle.State
	Policy lifecycle.Policy
	At     time.Time
}

// RouteApplyResult is the decision, the workflow's state after recording
// it (the input state when it changed nothing) and whether the search
// index holds that state.
type RouteApplyResult struct {
	Decision lifecycle.Decision
	State    lifecycle.State
	Indexed  bool
}

// Record plans a decision's events on the workflow's state: the state
// after them and the change that writes them. An empty decision records
// nothing (the state as it was, a change without events).
func (in RouteApplyInput) Record(d lifecycle.Decision) (lifecycle.State, lifecycle.Change) {
	if d.Empty() {
		return in.State, lifecycle.Change{}
	}
	p := lifecycle.PlanRouted(in.State, in.Policy, d)
	return p.State, p.Change(in.At, lifecycle.Actor{Role: ticket.RoleSystem}, "", in.Policy, in.Policy.BusinessCalendar())
}

// recorder is Record for the store's transaction, keeping the state.
func (in RouteApplyInput) recorder(st *lifecycle.State) store.Recorder {
	*st = in.State
	return func(d lifecycle.Decision) lifecycle.Change {
		var ch lifecycle.Change
		*st, ch = in.Record(d)
		return ch
	}
}

// RouteApply makes one routing decision and records it (events, row,
// outbox) in one transaction (store.RouteAndApply), then indexes the
// result inline. Idempotent by the decision's key and event sequence.
func (a *Tickets) RouteApply(ctx context.Context, in RouteApplyInput) (RouteApplyResult, error) {
	req := in.Route
	req.DefaultCapacity = a.DefaultAgentCapacity
	var res RouteApplyResult
	routed, err := a.Store.RouteAndApply(ctx, req, in.recorder(&res.State))
	if err != nil {
		return res, permanentIfMissing(err)
	}
	res.Decision = routed.Decision
	if routed.Ticket != nil {
		res.Indexed = a.indexInline(ctx, *routed.Ticket)
	}
	return res, nil
}

// CreateRoutedInput is a new ticket and its routing at creation, written
// in one transaction.
type CreateRoutedInput struct {
	Create PersistCreatedInput
	RouteApplyInput
}

// CreateRoutedResult is the routed create: the ticket's state after its
// creation and routing, and whether the search index holds it.
type CreateRoutedResult = RouteApplyResult

// CreateRouted writes the ticket from its reservation, makes the routing
// decision and records it in one transaction (store.CreateRouted), then
// indexes the routed ticket once.
func (a *Tickets) CreateRouted(ctx context.Context, in CreateRoutedInput) (CreateRoutedResult, error) {
	t, ev := in.Create.ticket()
	req := in.Route
	req.DefaultCapacity = a.DefaultAgentCapacity
	var res CreateRoutedResult
	routed, err := a.Store.CreateRouted(ctx, t, ev, in.Create.Outbox, req, in.recorder(&res.State))
	if err != nil {
		return res, permanentIfMissing(err)
	}
	res.Decision = routed.Decision
	res.Indexed = a.indexInline(ctx, *routed.Ticket)
	return res, nil
}

// ResolveFactsInput names a change that resolves or closes a ticket.
type ResolveFactsInput struct {
	Number    int64
	RequestID string
	// WithRequest: the change sets custom fields (waiting in
	// ticket_requests under RequestID).
	WithRequest bool
	// CategoryID is the category the ticket will have.
	CategoryID *int64
}

// ResolveFacts reads what the planner's required-fields rule decides on
// (store.ResolveFacts).
func (a *Tickets) ResolveFacts(ctx context.Context, in ResolveFactsInput) (lifecycle.ResolveFacts, error) {
	fields, path, values, err := a.Store.ResolveFacts(ctx, in.Number, in.RequestID, in.WithRequest, in.CategoryID)
	if err != nil {
		return lifecycle.ResolveFacts{}, permanentIfMissing(err)
	}
	return lifecycle.ResolveFacts{Fields: fields, Path: path, Values: values}, nil
}

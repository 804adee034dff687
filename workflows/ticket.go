// Package workflows holds the ticket lifecycle workflow. Code here is
// deterministic: no I/O, clocks, goroutines or randomness outside the
// workflow API. Every side effect is an activity.
package workflows

import (
	"fmt"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Names callers use to talk to a ticket's workflow.
const (
	// TicketWorkflowName is the registered workflow type.
	TicketWorkflowName = "Ticket"
	// UpdateCreate completes once the new ticket is durable in PostgreSQL.
	UpdateCreate = "create"
	// QueryState returns the workflow's State.
	QueryState = "state"
)

// TicketWorkflowID is the one way to name a ticket's workflow.
func TicketWorkflowID(number int64) string { return "ticket-" + strconv.FormatInt(number, 10) }

// Search attributes operators filter on in the Temporal UI. Values carry no
// personal data: visibility stores them unencrypted.
var (
	AttrStatus          = temporal.NewSearchAttributeKeyKeyword("TicketStatus")
	AttrPriority        = temporal.NewSearchAttributeKeyKeyword("TicketPriority")
	AttrAssignee        = temporal.NewSearchAttributeKeyKeyword("TicketAssignee")
	AttrTeam            = temporal.NewSearchAttributeKeyKeyword("TicketTeam")
	AttrCategory        = temporal.NewSearchAttributeKeyKeyword("TicketCategory")
	AttrEscalationLevel = temporal.NewSearchAttributeKeyInt64("TicketEscalationLevel")
	AttrSLADueAt        = temporal.NewSearchAttributeKeyTime("TicketSLADueAt")
)

// SearchAttributes lists every custom search attribute with its type, for
// registration on each start.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		AttrStatus.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrPriority.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrAssignee.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrTeam.GetName():            enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrCategory.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrEscalationLevel.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
		AttrSLADueAt.GetName():        enumspb.INDEXED_VALUE_TYPE_DATETIME,
	}
}

// TicketInput starts a ticket's workflow: only the small facts it decides
// with. Subject and description stay in PostgreSQL.
type TicketInput struct {
	Number   int64
	Priority ticket.Priority
	Assignee *string
	Actor    string
}

// CreateResult answers the create Update.
type CreateResult struct {
	Number int64
	Seq    int64
}

// State is what the workflow knows about its ticket (the query answer).
type State struct {
	Number    int64
	Status    ticket.Status
	Priority  ticket.Priority
	Assignee  *string
	Seq       int64
	CreatedAt time.Time
	Persisted bool
}

// StartSummary is the static summary shown for a ticket in the Temporal UI.
func StartSummary(in TicketInput) string {
	return fmt.Sprintf("Ticket #%d (%s)", in.Number, in.Priority)
}

// TicketWorkflow owns one ticket's life.
func TicketWorkflow(ctx workflow.Context, in TicketInput) error {
	w := &ticketWorkflow{in: in}
	if err := w.setup(ctx); err != nil {
		return err
	}
	return w.run(ctx)
}

type ticketWorkflow struct {
	in        TicketInput
	state     State
	createErr error
}

var tickets *activities.Tickets

func (w *ticketWorkflow) setup(ctx workflow.Context) error {
	if w.in.Number <= 0 {
		return temporal.NewNonRetryableApplicationError("ticket number must be positive", "InvalidInput", nil)
	}
	if _, err := ticket.ParsePriority(string(w.in.Priority)); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	w.state = State{
		Number: w.in.Number, Status: ticket.StatusOpen, Priority: w.in.Priority,
		Assignee: w.in.Assignee, CreatedAt: workflow.Now(ctx),
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return w.state, nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCreate,
		func(ctx workflow.Context) (CreateResult, error) {
			// Creation is driven by run(); the Update only reports when the
			// ticket is durable, so every repeat gets the same answer.
			if err := workflow.Await(ctx, func() bool { return w.state.Persisted || w.createErr != nil }); err != nil {
				return CreateResult{}, err
			}
			if w.createErr != nil {
				return CreateResult{}, w.createErr
			}
			return CreateResult{Number: w.state.Number, Seq: w.state.Seq}, nil
		},
		workflow.UpdateHandlerOptions{},
	)
}

func (w *ticketWorkflow) run(ctx workflow.Context) error {
	// A local activity: the ticket is written from the worker that runs this
	// workflow task, saving two trips through the server on the path the
	// requester waits on. It is idempotent, so a re-run after a crash is safe.
	persistCtx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// The database may be down for a while; the ticket must still land.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
	var res activities.PersistResult
	err := workflow.ExecuteLocalActivity(persistCtx, tickets.PersistCreated, activities.PersistCreatedInput{
		Number: w.state.Number, Seq: 1, Status: w.state.Status, Priority: w.state.Priority,
		Assignee: w.state.Assignee, CreatedAt: w.state.CreatedAt, Actor: w.in.Actor,
	}).Get(ctx, &res)
	if err != nil {
		w.createErr = err
		// Let the waiting Update report the failure before the run ends.
		_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		return err
	}
	w.state.Seq = res.Seq
	w.state.Persisted = true
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		AttrStatus.ValueSet(string(w.state.Status)),
		AttrPriority.ValueSet(string(w.state.Priority)),
	); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, w.details())

	if !res.Indexed {
		w.index(ctx)
	}

	// The ticket stays open until its lifecycle ends; later features add the
	// changes and timers that get it there.
	if err := workflow.Await(ctx, func() bool {
		return w.state.Status == ticket.StatusClosed || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	if w.state.Status != ticket.StatusClosed {
		return workflow.NewContinueAsNewError(ctx, TicketWorkflowName, w.in)
	}
	return nil
}

// index refreshes the search projection through a retrying activity. The
// persist activity already tries once, briefly; this is the durable path
// for when Elasticsearch was down or slow, and it must not hold up the
// ticket, so nothing waits for it.
func (w *ticketWorkflow) index(ctx workflow.Context) {
	ictx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	workflow.ExecuteActivity(ictx, tickets.IndexTicket, w.state.Number)
}

func (w *ticketWorkflow) details() string {
	assignee := "unassigned"
	if w.state.Assignee != nil {
		assignee = "assigned"
	}
	return fmt.Sprintf("**Status:** %s  \n**Priority:** %s  \n**Assignee:** %s  \n**Events:** %d",
		w.state.Status, w.state.Priority, assignee, w.state.Seq)
}

// InitialSearchAttributes are set at start so a ticket is findable in the
// Temporal UI before its first workflow task runs.
func InitialSearchAttributes(in TicketInput) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		AttrStatus.ValueSet(string(ticket.StatusOpen)),
		AttrPriority.ValueSet(string(in.Priority)),
	)
}

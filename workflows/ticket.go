// Package workflows holds the ticket lifecycle workflow. Code here is
// deterministic: no I/O, clocks, goroutines or randomness outside the
// workflow API. Every side effect is an activity.
package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/sla"
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
// with. Subject, description and comment bodies stay in PostgreSQL.
type TicketInput struct {
	Number      int64
	Priority    ticket.Priority
	AssigneeID  *int64
	TeamID      *int64
	RequesterID *int64
	CategoryID  *int64
	// PriorityManual: the creator chose the priority, so rules keep it.
	PriorityManual bool
	Actor          string
	// Policy is nil only in runs started before the lifecycle existed.
	Policy *Policy
	// Carry is the state handed over by continue-as-new; nil on creation.
	Carry *State
}

// CreateResult answers the create Update.
type CreateResult struct {
	Number int64
	Seq    int64
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
	policy    Policy
	cal       sla.Calendar
	createErr error
	// busy serializes changes: one plan is persisted at a time.
	busy bool
	// version counts applied changes; the timer loop recomputes on change.
	version int
	// lifecycle is false when replaying runs recorded before timers existed.
	lifecycle bool
	// routing is false when replaying runs recorded before routing existed.
	routing bool
	// cancelTimers is false when replaying runs recorded while the main
	// loop waited with workflow.AwaitWithOptions, whose timer stays armed
	// after a change ends the wait (see sleepUntilChange).
	cancelTimers bool
	// deferIndex is false when replaying runs recorded before a routed
	// create left its search index to the routing step.
	deferIndex bool
	// routeApply is false when replaying runs recorded while a routing
	// decision and its events were written in two transactions (Route, then
	// Apply) and a routed create in three.
	routeApply bool
	// shape is the run's "shape" version (see versions); 0 for runs
	// recorded before it, which carry a version per change.
	shape int
}

var tickets *activities.Tickets

func (w *ticketWorkflow) setup(ctx workflow.Context) error {
	if w.in.Number <= 0 {
		return temporal.NewNonRetryableApplicationError("ticket number must be positive", "InvalidInput", nil)
	}
	if _, err := ticket.ParsePriority(string(w.in.Priority)); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	if w.in.Policy != nil {
		w.policy = *w.in.Policy
	} else {
		w.policy = Policy{Transitions: ticket.DefaultTransitions()}
	}
	w.cal = w.policy.BusinessCalendar()
	if w.in.Carry != nil {
		w.state = *w.in.Carry
	} else {
		now := workflow.Now(ctx)
		w.state = State{
			Number: w.in.Number, Status: ticket.StatusOpen, Priority: w.in.Priority,
			AssigneeID: w.in.AssigneeID, TeamID: w.in.TeamID, RequesterID: w.in.RequesterID, CreatedAt: now,
			CategoryID: w.in.CategoryID, PriorityManual: w.in.PriorityManual, AssigneeManual: w.in.AssigneeID != nil,
		}
		t := w.policy.SLA[w.in.Priority]
		w.state.FirstResponse = lifecycle.Retarget(nil, t.FirstResponse, now)
		w.state.Resolution = lifecycle.Retarget(nil, t.Resolution, now)
	}
	if w.state.Fired == nil {
		w.state.Fired = map[string]bool{}
	}
	if w.state.BreachedAt == nil {
		w.state.BreachedAt = map[Clock]time.Time{}
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) {
		st := w.state
		st.Deadlines = lifecycle.Deadlines(w.state, w.policy, w.cal)
		return st, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCreate,
		func(ctx workflow.Context) (CreateResult, error) {
			// Creation is driven by run(); the Update only reports when the
			// ticket is durable, so every repeat gets the same answer.
			// Routing at creation runs while busy: the answer carries its
			// decision.
			if err := workflow.Await(ctx, func() bool { return w.state.Persisted && !w.busy || w.createErr != nil }); err != nil {
				return CreateResult{}, err
			}
			if w.createErr != nil {
				return CreateResult{}, w.createErr
			}
			return CreateResult{Number: w.state.Number, Seq: w.state.Seq}, nil
		},
		workflow.UpdateHandlerOptions{},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateChange,
		func(ctx workflow.Context, req ChangeRequest) (ChangeResult, error) {
			return w.apply(ctx, req.RequestID, req.Actor, func(st State) (lifecycle.Plan, error) {
				facts, err := w.resolveFacts(ctx, st, req)
				if err != nil {
					return lifecycle.Plan{}, err
				}
				return lifecycle.PlanChange(st, w.policy, w.cal, req, facts, workflow.Now(ctx))
			})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req ChangeRequest) error {
			if w.seen(req.RequestID) != nil {
				return nil
			}
			_, err := lifecycle.PlanChange(w.state, w.policy, w.cal, req, nil, workflow.Now(ctx))
			return err
		}},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateComment,
		func(ctx workflow.Context, req CommentRequest) (ChangeResult, error) {
			return w.apply(ctx, req.RequestID, req.Actor, func(st State) (lifecycle.Plan, error) {
				return lifecycle.PlanComment(st, w.policy, w.cal, req, workflow.Now(ctx))
			})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req CommentRequest) error {
			if w.seen(req.RequestID) != nil {
				return nil
			}
			_, err := lifecycle.PlanComment(w.state, w.policy, w.cal, req, workflow.Now(ctx))
			return err
		}},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAttach,
		func(ctx workflow.Context, req AttachRequest) (ChangeResult, error) {
			return w.apply(ctx, req.RequestID, req.Actor, func(st State) (lifecycle.Plan, error) { return lifecycle.PlanAttach(st, req) })
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req AttachRequest) error {
			if w.seen(req.RequestID) != nil {
				return nil
			}
			_, err := lifecycle.PlanAttach(w.state, req)
			return err
		}},
	); err != nil {
		return err
	}
	return nil
}

// resolveFacts loads what the planner's required-fields rule reads when
// req resolves or closes the ticket (nil otherwise, and in runs recorded
// before the rule moved from the API into the planner).
func (w *ticketWorkflow) resolveFacts(ctx workflow.Context, st State, req ChangeRequest) (*lifecycle.ResolveFacts, error) {
	if !lifecycle.Resolves(st, req) {
		return nil, nil
	}
	if w.shape < 1 && workflow.GetVersion(ctx, "resolve-fields", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil, nil
	}
	in := activities.ResolveFactsInput{Number: st.Number, RequestID: req.RequestID, CategoryID: st.CategoryID,
		WithRequest: slices.Contains(req.Text, "custom_fields")}
	if req.Category != nil {
		in.CategoryID = req.Category.ID
	}
	var facts lifecycle.ResolveFacts
	if err := workflow.ExecuteLocalActivity(w.localCtx(ctx), tickets.ResolveFacts, in).Get(ctx, &facts); err != nil {
		return nil, err
	}
	return &facts, nil
}

func (w *ticketWorkflow) seen(id string) *Processed {
	if id == "" {
		return nil
	}
	for i := range w.state.Processed {
		if w.state.Processed[i].ID == id {
			return &w.state.Processed[i]
		}
	}
	return nil
}

func (w *ticketWorkflow) public() Public {
	return Public{Status: w.state.Status, Priority: w.state.Priority, AssigneeID: w.state.AssigneeID,
		TeamID: w.state.TeamID, CategoryID: w.state.CategoryID, EscalationLevel: w.state.EscalationLevel, SLADueAt: lifecycle.SLADueAt(w.state, w.cal)}
}

// apply runs one change: waits its turn, plans it against the state as it
// is now (the validator saw an earlier state), persists it, and only then
// makes it the workflow's state.
func (w *ticketWorkflow) apply(ctx workflow.Context, requestID string, actor Actor, mk func(State) (lifecycle.Plan, error)) (ChangeResult, error) {
	if err := workflow.Await(ctx, func() bool { return !w.busy && w.state.Persisted || w.createErr != nil }); err != nil {
		return ChangeResult{}, err
	}
	if w.createErr != nil {
		return ChangeResult{}, w.createErr
	}
	if p := w.seen(requestID); p != nil {
		return ChangeResult{Seq: p.Seq, CommentID: p.CommentID, Reopened: p.Reopened, State: w.public()}, nil
	}
	w.busy = true
	defer func() { w.busy = false }()
	pl, err := mk(w.state)
	if err != nil {
		return ChangeResult{}, err
	}
	res, err := w.persist(ctx, actor, requestID, pl)
	if err != nil {
		return ChangeResult{}, err
	}
	if pl.Route != nil && w.routing {
		w.route(ctx, routeRequest{trigger: pl.Route.Trigger, exclude: pl.Route.Exclude})
	}
	done := Processed{ID: requestID, Seq: w.state.Seq, CommentID: res.CommentID, Reopened: pl.Reopened}
	if requestID != "" {
		w.state.Processed = append(w.state.Processed, done)
		if len(w.state.Processed) > lifecycle.MaxProcessed {
			w.state.Processed = w.state.Processed[len(w.state.Processed)-lifecycle.MaxProcessed:]
		}
	}
	return ChangeResult{Seq: done.Seq, CommentID: done.CommentID, Reopened: done.Reopened, State: w.public()}, nil
}

// persist makes a plan durable through the Apply local activity, then
// adopts its state and refreshes what operators see.
func (w *ticketWorkflow) persist(ctx workflow.Context, actor Actor, requestID string, pl lifecycle.Plan) (activities.ApplyResult, error) {
	var res activities.ApplyResult
	if len(pl.Events) == 0 {
		return res, nil
	}
	ch := pl.Change(workflow.Now(ctx), actor, requestID, w.policy, w.cal)
	if err := workflow.ExecuteLocalActivity(w.localCtx(ctx), tickets.Apply, ch).Get(ctx, &res); err != nil {
		return res, err
	}
	w.adopt(ctx, pl.State, res.Indexed)
	return res, nil
}

// adopt makes a durable state the workflow's and refreshes what operators
// see; indexed: the search projection already has it.
func (w *ticketWorkflow) adopt(ctx workflow.Context, st State, indexed bool) {
	old := w.state
	w.state = st
	w.version++
	w.publish(ctx, old)
	if !indexed {
		w.index(ctx)
	}
}

func (w *ticketWorkflow) localCtx(ctx workflow.Context) workflow.Context {
	// A local activity: the ticket is written from the worker that runs this
	// workflow task, saving two trips through the server on the path the
	// caller waits on. It is idempotent, so a re-run after a crash is safe.
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// The database may be down for a while; the change must still land.
		// Without this the SDK gives up after StartToCloseTimeout overall.
		ScheduleToCloseTimeout: 7 * 24 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
}

// publish refreshes search attributes and current details after a change.
func (w *ticketWorkflow) publish(ctx workflow.Context, old State) {
	if !w.lifecycle {
		return
	}
	var updates []temporal.SearchAttributeUpdate
	if old.Status != w.state.Status || !old.Persisted {
		updates = append(updates, AttrStatus.ValueSet(string(w.state.Status)))
	}
	if old.Priority != w.state.Priority || !old.Persisted {
		updates = append(updates, AttrPriority.ValueSet(string(w.state.Priority)))
	}
	if !lifecycle.SameID(old.AssigneeID, w.state.AssigneeID) || !old.Persisted {
		if w.state.AssigneeID != nil {
			updates = append(updates, AttrAssignee.ValueSet(strconv.FormatInt(*w.state.AssigneeID, 10)))
		} else if old.Persisted {
			updates = append(updates, AttrAssignee.ValueUnset())
		}
	}
	if !lifecycle.SameID(old.TeamID, w.state.TeamID) || !old.Persisted {
		if w.state.TeamID != nil {
			updates = append(updates, AttrTeam.ValueSet(strconv.FormatInt(*w.state.TeamID, 10)))
		} else if old.Persisted {
			updates = append(updates, AttrTeam.ValueUnset())
		}
	}
	if !lifecycle.SameID(old.CategoryID, w.state.CategoryID) || !old.Persisted {
		if w.state.CategoryID != nil {
			updates = append(updates, AttrCategory.ValueSet(strconv.FormatInt(*w.state.CategoryID, 10)))
		} else if old.Persisted {
			updates = append(updates, AttrCategory.ValueUnset())
		}
	}
	if old.EscalationLevel != w.state.EscalationLevel || !old.Persisted {
		updates = append(updates, AttrEscalationLevel.ValueSet(int64(w.state.EscalationLevel)))
	}
	oldDue, newDue := lifecycle.SLADueAt(old, w.cal), lifecycle.SLADueAt(w.state, w.cal)
	if !old.Persisted || (oldDue == nil) != (newDue == nil) || oldDue != nil && !oldDue.Equal(*newDue) {
		if newDue != nil {
			updates = append(updates, AttrSLADueAt.ValueSet(*newDue))
		} else if old.Persisted {
			updates = append(updates, AttrSLADueAt.ValueUnset())
		}
	}
	if len(updates) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Error("upsert search attributes", "err", err)
		}
	}
	workflow.SetCurrentDetails(ctx, w.details())
}

// versions decides which of the workflow's changes this run takes. A run
// started from this code on records one version, "shape" 1: every change
// below, with one marker and one TemporalChangeVersion upsert instead of
// one of each per change (each is a history event and a visibility write
// on every new ticket). Runs recorded before it replay their own markers,
// change by change. A later change raises "shape" (its maxSupported) and
// checks w.shape >= N.
func (w *ticketWorkflow) versions(ctx workflow.Context) {
	w.shape = int(workflow.GetVersion(ctx, "shape", workflow.DefaultVersion, 1))
	if w.shape >= 1 {
		w.lifecycle, w.routing, w.cancelTimers, w.deferIndex, w.routeApply = true, true, true, true, true
		return
	}
	w.lifecycle = workflow.GetVersion(ctx, "lifecycle", workflow.DefaultVersion, 1) == 1
	w.routing = workflow.GetVersion(ctx, "routing", workflow.DefaultVersion, 1) == 1
	w.cancelTimers = workflow.GetVersion(ctx, "cancel-timers", workflow.DefaultVersion, 1) == 1
	w.deferIndex = workflow.GetVersion(ctx, "defer-index", workflow.DefaultVersion, 1) == 1
	w.routeApply = workflow.GetVersion(ctx, "route-apply", workflow.DefaultVersion, 1) == 1
}

func (w *ticketWorkflow) run(ctx workflow.Context) error {
	w.versions(ctx)
	if !w.state.Persisted {
		if err := w.create(ctx); err != nil {
			return err
		}
	} else {
		workflow.SetCurrentDetails(ctx, w.details())
	}
	policies := workflow.GetSignalChannel(ctx, SignalPolicy)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var p Policy
			policies.Receive(ctx, &p)
			if !w.lifecycle {
				w.policy, w.cal = p, p.BusinessCalendar()
				w.version++
				continue
			}
			// Like a change: wait for the ticket to be durable and for
			// any change in flight, then persist the retargeted clocks.
			if err := workflow.Await(ctx, func() bool { return !w.busy && w.state.Persisted }); err != nil {
				return
			}
			w.busy = true
			w.policy, w.cal = p, p.BusinessCalendar()
			if _, err := w.persist(ctx, Actor{Role: ticket.RoleSystem}, "", lifecycle.PlanPolicy(w.state, p, workflow.Now(ctx))); err != nil {
				workflow.GetLogger(ctx).Error("apply policy", "err", err)
			}
			w.version++ // the timer loop recomputes every deadline
			w.busy = false
		}
	})
	for !w.state.Archived {
		if w.continueAsNewDue(ctx) {
			break
		}
		if !w.lifecycle && w.state.Status == ticket.StatusClosed {
			break // runs from before the lifecycle end when closed, as they did
		}
		if err := w.waitForNext(ctx); err != nil {
			return err
		}
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && !w.busy }); err != nil {
		return err
	}
	if w.state.Archived || !w.lifecycle && w.state.Status == ticket.StatusClosed {
		return nil
	}
	in := w.in
	carry := w.state
	carry.Deadlines = nil
	in.Carry = &carry
	in.Policy = &w.policy
	return workflow.NewContinueAsNewError(ctx, TicketWorkflowName, in)
}

// continueAsNewDue is true once the server suggests a new run or history
// reached the policy's own threshold.
func (w *ticketWorkflow) continueAsNewDue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if info.GetContinueAsNewSuggested() {
		return true
	}
	return w.policy.MaxHistoryEvents > 0 && info.GetCurrentHistoryLength() >= w.policy.MaxHistoryEvents
}

// waitForNext sleeps until the next deadline or a change, whichever comes
// first, and fires the deadlines that are due. The one pending timer
// carries a summary naming the deadline for operators.
func (w *ticketWorkflow) waitForNext(ctx workflow.Context) error {
	ver := w.version
	cond := func() bool { return w.version != ver || w.continueAsNewDue(ctx) }
	if !w.lifecycle {
		// Runs recorded before timers existed: wait for changes only.
		return workflow.Await(ctx, func() bool {
			return cond() || w.state.Status == ticket.StatusClosed
		})
	}
	next := lifecycle.Deadlines(w.state, w.policy, w.cal)
	if len(next) == 0 {
		return workflow.Await(ctx, cond)
	}
	if d := next[0].At.Sub(workflow.Now(ctx)); d > 0 {
		var changed bool
		var err error
		if w.cancelTimers {
			changed, err = sleepUntilChange(ctx, d, next[0].Summary, cond)
		} else {
			changed, err = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout: d, TimerOptions: workflow.TimerOptions{Summary: next[0].Summary},
			}, cond)
		}
		if err != nil || changed {
			return err
		}
	}
	// A deadline is due. Changes in flight finish first; then fire every
	// deadline due by now against the state they left.
	if err := workflow.Await(ctx, func() bool { return !w.busy }); err != nil {
		return err
	}
	pl, fired := lifecycle.PlanDeadlines(w.state, w.policy, w.cal, workflow.Now(ctx))
	if !fired {
		return nil
	}
	w.busy = true
	defer func() { w.busy = false }()
	_, err := w.persist(ctx, Actor{Role: ticket.RoleSystem}, "", pl)
	return err
}

// sleepUntilChange waits for d or until changed holds, whichever comes
// first, and reports whether changed ended the wait. Its timer is
// cancelled when a change ends the wait (a CancelTimer command), so the
// workflow is not woken later by a deadline that no longer exists; the
// SDK's AwaitWithOptions leaves that timer armed (SDK v1.50 without
// SDKFlagCancelAwaitTimerOnCondition), and with busy tickets those stale
// wake-ups delayed real deadlines. When both happen at once the change
// wins, as with AwaitWithOptions: the loop recomputes and fires what is
// due.
func sleepUntilChange(ctx workflow.Context, d time.Duration, summary string, changed func() bool) (bool, error) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel() // a no-op once the timer fired
	timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: summary})
	if err := workflow.Await(ctx, func() bool { return changed() || timer.IsReady() }); err != nil {
		return false, err
	}
	if changed() {
		return true, nil
	}
	return false, timer.Get(ctx, nil)
}

// create writes the new ticket and its first event, answering the create
// Update once durable.
func (w *ticketWorkflow) create(ctx workflow.Context) error {
	st := w.state
	in := activities.PersistCreatedInput{
		Number: st.Number, Seq: 1, Status: st.Status, Priority: st.Priority,
		AssigneeID: st.AssigneeID, CreatedAt: st.CreatedAt, Actor: w.in.Actor,
	}
	if w.lifecycle {
		row := lifecycle.Row(st, w.policy, w.cal)
		in.SLADueAt, in.FirstResponseDueAt, in.ResolutionDueAt = row.SLADueAt, row.FirstResponseDueAt, row.ResolutionDueAt
		in.Outbox = []lifecycle.Notification{{Seq: 1, Kind: OutboxTicketCreated, Data: ticket.TicketCreatedNotice{Priority: st.Priority}}}
	}
	if w.routing && w.routeApply {
		return w.createRouted(ctx, in)
	}
	// Routing follows at once and indexes what it decides, so the created
	// state is not indexed on its own (one document write per create).
	in.DeferIndex = w.routing && w.deferIndex
	var res activities.PersistResult
	err := workflow.ExecuteLocalActivity(w.localCtx(ctx), tickets.PersistCreated, in).Get(ctx, &res)
	if err != nil {
		return w.createFailed(ctx, err)
	}
	old := w.state
	w.state.Seq = res.Seq
	w.state.Persisted = true
	if w.routing {
		// Routing runs before the create Update answers (it waits while
		// busy), so the caller sees the decided priority, team and agent.
		w.busy = true
		w.publish(ctx, old)
		// Histories from before DeferIndex have Deferred false here and
		// keep their shape: index (unless inline worked), then route.
		if !res.Indexed && !res.Deferred {
			w.index(ctx)
		}
		w.route(ctx, routeRequest{trigger: lifecycle.RouteCreated, indexPending: res.Deferred})
		w.busy = false
		return nil
	}
	if w.lifecycle {
		w.publish(ctx, old)
	} else {
		if err := workflow.UpsertTypedSearchAttributes(ctx,
			AttrStatus.ValueSet(string(w.state.Status)),
			AttrPriority.ValueSet(string(w.state.Priority)),
		); err != nil {
			return err
		}
		workflow.SetCurrentDetails(ctx, w.details())
	}
	if !res.Indexed {
		w.index(ctx)
	}
	return nil
}

// createFailed ends a run whose ticket could not be written, letting the
// waiting create Update report the failure first.
func (w *ticketWorkflow) createFailed(ctx workflow.Context, err error) error {
	w.createErr = err
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return err
}

// createRouted writes the new ticket and routes it in one local activity
// and one transaction (CreateRouted); the create Update answers with the
// routed state.
func (w *ticketWorkflow) createRouted(ctx workflow.Context, in activities.PersistCreatedInput) error {
	st := w.state
	st.Seq, st.Persisted = in.Seq, true
	rin := activities.CreateRoutedInput{Create: in, RouteApplyInput: w.routeInput(st, routeRequest{trigger: lifecycle.RouteCreated})}
	rin.At = workflow.Now(ctx)
	var res activities.CreateRoutedResult
	if err := workflow.ExecuteLocalActivity(w.localCtx(ctx), tickets.CreateRouted, rin).Get(ctx, &res); err != nil {
		return w.createFailed(ctx, err)
	}
	old := w.state
	w.state = res.State
	w.publish(ctx, old)
	if !res.Indexed {
		w.index(ctx)
	}
	return nil
}

// routeInput asks for a decision about st, recorded by the planner with
// the workflow's policy as of now.
func (w *ticketWorkflow) routeInput(st State, r routeRequest) activities.RouteApplyInput {
	return activities.RouteApplyInput{
		Route: lifecycle.RouteRequest{
			Number: st.Number, Key: fmt.Sprintf("%d:%s:%d", st.Number, r.trigger, st.Seq), Trigger: r.trigger,
			Priority: st.Priority, TeamID: st.TeamID, AssigneeID: st.AssigneeID,
			PriorityManual: st.PriorityManual, AssigneeManual: st.AssigneeManual, Exclude: r.exclude,
		},
		State: st, Policy: w.policy,
	}
}

// routeRequest asks the workflow to route its ticket after a change.
type routeRequest struct {
	trigger string
	exclude []int64
	// indexPending: the current state is not indexed yet; route indexes it
	// whichever way the decision goes.
	indexPending bool
}

// route asks the routing transaction for a decision and records it as
// events. Routing never fails a ticket: a decision that cannot be made is
// logged and the ticket keeps its team and assignee (the activity retries
// while the database is down).
func (w *ticketWorkflow) route(ctx workflow.Context, r routeRequest) {
	st := w.state
	rin := w.routeInput(st, r)
	if w.routeApply {
		rin.At = workflow.Now(ctx)
		var res activities.RouteApplyResult
		if err := workflow.ExecuteLocalActivity(w.localCtx(ctx), tickets.RouteApply, rin).Get(ctx, &res); err != nil {
			workflow.GetLogger(ctx).Error("route ticket", "ticket", st.Number, "err", err)
			return
		}
		if res.State.Seq != st.Seq {
			w.adopt(ctx, res.State, res.Indexed)
		}
		return
	}
	var d activities.RouteResult
	in := activities.RouteInput{RouteRequest: rin.Route, IndexIfEmpty: r.indexPending}
	if err := workflow.ExecuteLocalActivity(w.localCtx(ctx), tickets.Route, in).Get(ctx, &d); err != nil {
		workflow.GetLogger(ctx).Error("route ticket", "ticket", st.Number, "err", err)
		if r.indexPending {
			w.index(ctx)
		}
		return
	}
	if d.Empty() {
		if r.indexPending && !d.Indexed {
			w.index(ctx)
		}
		return
	}
	// persist indexes the routed state (inline, or through IndexTicket).
	if _, err := w.persist(ctx, Actor{Role: ticket.RoleSystem}, "", lifecycle.PlanRouted(w.state, w.policy, d.Decision)); err != nil {
		workflow.GetLogger(ctx).Error("record routing decision", "ticket", st.Number, "err", err)
		if r.indexPending {
			w.index(ctx)
		}
	}
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

// details is the markdown operators see as the workflow's current details.
func (w *ticketWorkflow) details() string {
	s := w.state
	if !w.lifecycle {
		assignee := "unassigned"
		if s.AssigneeID != nil {
			assignee = "assigned"
		}
		return fmt.Sprintf("**Status:** %s  \n**Priority:** %s  \n**Assignee:** %s  \n**Events:** %d",
			s.Status, s.Priority, assignee, s.Seq)
	}
	assignee := "unassigned"
	if s.AssigneeID != nil {
		assignee = "user " + strconv.FormatInt(*s.AssigneeID, 10)
	}
	team := "none"
	if s.TeamID != nil {
		team = "team " + strconv.FormatInt(*s.TeamID, 10)
	}
	next := "none"
	if d := lifecycle.Deadlines(s, w.policy, w.cal); len(d) > 0 {
		next = fmt.Sprintf("%s at %s", d[0].Summary, d[0].At.UTC().Format(time.RFC3339))
	}
	sladue := "paused or met"
	if due := lifecycle.SLADueAt(s, w.cal); due != nil {
		sladue = due.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("**Status:** %s  \n**Priority:** %s  \n**Assignee:** %s  \n**Team:** %s  \n"+
		"**Escalation level:** %d  \n**SLA due:** %s  \n**Next deadline:** %s  \n**Events:** %d",
		s.Status, s.Priority, assignee, team, s.EscalationLevel, sladue, next, s.Seq)
}

// InitialSearchAttributes are set at start so a ticket is findable in the
// Temporal UI before its first workflow task runs.
func InitialSearchAttributes(in TicketInput) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		AttrStatus.ValueSet(string(ticket.StatusOpen)),
		AttrPriority.ValueSet(string(in.Priority)),
	)
}

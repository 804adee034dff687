package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/sla"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// The lifecycle under the SDK test suite: time skips from timer to timer,
// so days of a ticket's life run in milliseconds while every deadline is
// checked to the nanosecond against workflow time.

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

func ptr[T any](v T) *T { return &v }

// testPolicy: high is 1h/4h, critical 30m/2h; warn at 75 % of resolution,
// escalate at each breach and 2h after the resolution breach.
func testPolicy() Policy {
	return Policy{
		Transitions: ticket.DefaultTransitions(),
		SLA: map[ticket.Priority]SLATargets{
			ticket.PriorityCritical: {FirstResponse: 30 * time.Minute, Resolution: 2 * time.Hour},
			ticket.PriorityHigh:     {FirstResponse: time.Hour, Resolution: 4 * time.Hour},
			ticket.PriorityMedium:   {FirstResponse: 8 * time.Hour, Resolution: 72 * time.Hour},
			ticket.PriorityLow:      {FirstResponse: 24 * time.Hour, Resolution: 120 * time.Hour},
		},
		Escalation: true,
		TimeRules: []TimeRule{
			{Name: "res-75", Clock: ClockResolution, Percent: 75, Action: Escalation{Level: 1}},
			{Name: "fr-100", Clock: ClockFirstResponse, Percent: 100, Action: Escalation{Level: 1}},
			{Name: "res-100", Clock: ClockResolution, Percent: 100, Action: Escalation{Level: 2, RaisePriority: true}},
			{Name: "res-100+2h", Clock: ClockResolution, Percent: 100, After: 2 * time.Hour, Action: Escalation{Level: 3, TeamID: ptr(int64(9))}},
		},
		AttemptRules: []AttemptRule{
			{Name: "reopened-2", Kind: AttemptReopened, Count: 2, Action: Escalation{Level: 2}},
			{Name: "followups-3", Kind: AttemptRequesterFollowups, Count: 3, Action: Escalation{Level: 1}},
			{Name: "reassigned-2", Kind: AttemptReassigned, Count: 2, Action: Escalation{Level: 1}},
		},
		ExpireAfter:    7 * 24 * time.Hour,
		ExpiryAction:   ExpiryEscalate,
		AutoCloseAfter: 4 * 24 * time.Hour,
		ReopenWindow:   14 * 24 * time.Hour,
	}
}

type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	events  []lifecycle.Event
	outbox  []lifecycle.Notification
	rows    []lifecycle.TicketRow
	applies int
	// failApply makes the next Apply calls fail (database down).
	failApply int
	// routes are the routing requests the workflow made; decide answers
	// them (nil: no rule matches).
	routes []lifecycle.RouteRequest
	decide func(lifecycle.RouteRequest) lifecycle.Decision
	// resolves are the changes that asked for the required-fields facts;
	// resolveFacts answers them.
	resolves     []activities.ResolveFactsInput
	resolveFacts lifecycle.ResolveFacts
}

const (
	requester = int64(100)
	agentA    = int64(200)
	agentB    = int64(201)
)

var (
	asRequester = Actor{UserID: requester, Role: "requester"}
	asAgent     = Actor{UserID: agentA, Role: "agent"}
	asAgentB    = Actor{UserID: agentB, Role: "agent"}
)

func newHarness(t *testing.T) *harness {
	h := &harness{t: t}
	var s testsuite.WorkflowTestSuite
	h.env = s.NewTestWorkflowEnvironment()
	h.env.SetStartTime(t0)
	h.env.RegisterActivity(&activities.Tickets{})
	h.env.OnActivity(tickets.Apply, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ch lifecycle.Change) (activities.ApplyResult, error) { return h.apply(ch) })
	h.env.OnActivity(tickets.ResolveFacts, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ResolveFactsInput) (lifecycle.ResolveFacts, error) {
			h.resolves = append(h.resolves, in)
			return h.resolveFacts, nil
		})
	// The routing activities of runs from "route-apply" on: the decision,
	// then the planner's record of it, as the store's transaction does.
	h.env.OnActivity(tickets.RouteApply, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RouteApplyInput) (activities.RouteApplyResult, error) {
			return h.routeApply(in)
		})
	h.env.OnActivity(tickets.CreateRouted, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateRoutedInput) (activities.CreateRoutedResult, error) {
			if len(h.events) == 0 {
				h.events = append(h.events, lifecycle.Event{Seq: 1, Kind: "created", CreatedAt: in.Create.CreatedAt})
				h.outbox = append(h.outbox, in.Create.Outbox...)
			}
			return h.routeApply(in.RouteApplyInput)
		})
	return h
}

// apply records a change as the store does: idempotent by sequence.
func (h *harness) apply(ch lifecycle.Change) (activities.ApplyResult, error) {
	if h.failApply > 0 {
		h.failApply--
		return activities.ApplyResult{}, errors.New("database down")
	}
	last := h.events[len(h.events)-1].Seq
	if last >= ch.Events[len(ch.Events)-1].Seq {
		return activities.ApplyResult{Indexed: true}, nil // a retry of a change already written
	}
	if ch.Events[0].Seq != last+1 {
		h.t.Errorf("change starts at seq %d after %d", ch.Events[0].Seq, last)
	}
	h.applies++
	for _, e := range ch.Events {
		e.Actor = ch.Actor
		h.events = append(h.events, e)
	}
	h.outbox = append(h.outbox, ch.Outbox...)
	h.rows = append(h.rows, ch.Row)
	return activities.ApplyResult{CommentID: int64(h.applies), Indexed: true}, nil
}

// routeApply decides (h.decide; nil: no rule matches) and records the
// decision in the same step.
func (h *harness) routeApply(in activities.RouteApplyInput) (activities.RouteApplyResult, error) {
	h.routes = append(h.routes, in.Route)
	d := lifecycle.Decision{Rules: []rules.Ref{}}
	if h.decide != nil {
		d = h.decide(in.Route)
	}
	st, ch := in.Record(d)
	if len(ch.Events) > 0 {
		if _, err := h.apply(ch); err != nil {
			return activities.RouteApplyResult{}, err
		}
	}
	return activities.RouteApplyResult{Decision: d, State: st, Indexed: true}, nil
}

// at runs fn once workflow time has advanced d from the start.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

type anyUpdate struct {
	accepted bool
	rejected error
	err      error
	result   ChangeResult
	done     bool
}

func (u *anyUpdate) Accept()          { u.accepted = true }
func (u *anyUpdate) Reject(err error) { u.rejected = err; u.done = true }
func (u *anyUpdate) Complete(v any, err error) {
	u.done, u.err = true, err
	if r, ok := v.(ChangeResult); ok {
		u.result = r
	}
}

var reqSeq int

func (h *harness) change(req ChangeRequest) *anyUpdate {
	u := &anyUpdate{}
	if req.RequestID == "" {
		reqSeq++
		req.RequestID = fmt.Sprintf("req-%d", reqSeq)
	}
	h.env.UpdateWorkflow(UpdateChange, req.RequestID, u, req)
	return u
}

func (h *harness) comment(actor Actor, internal bool) *anyUpdate {
	u := &anyUpdate{}
	reqSeq++
	id := fmt.Sprintf("c-%d", reqSeq)
	h.env.UpdateWorkflow(UpdateComment, id, u, CommentRequest{RequestID: id, Actor: actor, Internal: internal})
	return u
}

func status(s ticket.Status) *ticket.Status       { return &s }
func priority(p ticket.Priority) *ticket.Priority { return &p }

// run starts a ticket with pol and ends the test run at until (if the
// workflow has not finished by then).
func (h *harness) run(pol Policy, pri ticket.Priority, until time.Duration) {
	h.at(until, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(TicketWorkflow, TicketInput{Number: 1, Priority: pri, RequesterID: ptr(requester), Actor: "user:100", Policy: &pol})
}

// found returns the events of kind, with their offsets from t0.
func (h *harness) found(kind string) []lifecycle.Event {
	var out []lifecycle.Event
	for _, e := range h.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) expectAt(kind string, offsets ...time.Duration) {
	h.t.Helper()
	got := h.found(kind)
	var gotOff []time.Duration
	for _, e := range got {
		gotOff = append(gotOff, e.CreatedAt.Sub(t0))
	}
	if fmt.Sprint(gotOff) != fmt.Sprint(offsets) {
		h.t.Errorf("%s events at %v, want %v", kind, gotOff, offsets)
	}
}

func (h *harness) kinds() string {
	var k []string
	for _, e := range h.events {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}

func TestSLABreachFiresAtTheDeadline(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	h.run(pol, ticket.PriorityHigh, 10*time.Hour)
	h.expectAt("sla_breached", time.Hour, 4*time.Hour)
	b := h.found("sla_breached")
	if len(b) == 2 && (b[0].Data.(ticket.SLABreached).Clock != "first_response" || !b[0].Data.(ticket.SLABreached).DueAt.Equal(t0.Add(time.Hour))) {
		t.Errorf("first breach %+v", b[0].Data)
	}
	if n := len(h.found("escalated")); n != 0 {
		t.Errorf("escalation disabled but %d escalations", n)
	}
	var kinds []string
	for _, n := range h.outbox {
		kinds = append(kinds, n.Kind)
	}
	if got := strings.Join(kinds, ","); got != "ticket_created,sla_breached,sla_breached" {
		t.Errorf("outbox %s", got)
	}
}

func TestEscalationLevels(t *testing.T) {
	h := newHarness(t)
	h.run(testPolicy(), ticket.PriorityHigh, 12*time.Hour)
	// res-75 at 3h; fr-100 at 1h; res-100 at 4h (raises to critical); res-100+2h at 6h.
	esc := h.found("escalated")
	var got []string
	for _, e := range esc {
		d := e.Data.(ticket.Escalated)
		got = append(got, fmt.Sprintf("%s@%s→%v", d.Rule, e.CreatedAt.Sub(t0), d.Level))
	}
	want := "fr-100@1h0m0s→1 res-75@3h0m0s→1 res-100@4h0m0s→2 res-100+2h@6h0m0s→3"
	if strings.Join(got, " ") != want {
		t.Errorf("escalations %v\nwant %s", got, want)
	}
	if p := h.found("priority_changed"); len(p) != 1 || p[0].Data.(ticket.PriorityChanged).To != ticket.PriorityCritical || p[0].CreatedAt != t0.Add(4*time.Hour) {
		t.Errorf("priority raise %+v", p)
	}
	if tc := h.found("team_changed"); len(tc) != 1 || *tc[0].Data.(ticket.TeamChanged).To != 9 {
		t.Errorf("team move %+v", tc)
	}
	last := h.rows[len(h.rows)-1]
	if last.EscalationLevel != 3 || last.Priority != ticket.PriorityCritical || last.TeamID == nil || *last.TeamID != 9 {
		t.Errorf("final row %+v", last)
	}
	if n := len(h.found("sla_breached")); n != 2 {
		t.Errorf("%d breaches, want 2 (%s)", n, h.kinds())
	}
	// res-75 fired at level 1 already (fr-100 raised it): recorded, not notified.
	var notified []string
	for _, n := range h.outbox {
		if n.Kind == OutboxEscalated {
			notified = append(notified, n.Data.(ticket.EscalatedNotice).Rule)
		}
	}
	if got := strings.Join(notified, " "); got != "fr-100 res-100 res-100+2h" {
		t.Errorf("escalation notifications %q", got)
	}
}

func TestPendingPausesTheClocks(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	var toPending, back *anyUpdate
	h.at(30*time.Minute, func() { toPending = h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusPending)}) })
	h.at(150*time.Minute, func() { back = h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusInProgress)}) })
	h.run(pol, ticket.PriorityHigh, 10*time.Hour)
	if toPending.err != nil || back.err != nil || toPending.rejected != nil {
		t.Fatalf("changes: %+v %+v", toPending, back)
	}
	// Two hours paused: first response due 1h+2h, resolution 4h+2h.
	h.expectAt("sla_breached", 3*time.Hour, 6*time.Hour)
	if toPending.result.State.SLADueAt != nil {
		t.Errorf("SLA due while pending: %v", toPending.result.State.SLADueAt)
	}
	if d := back.result.State.SLADueAt; d == nil || !d.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("SLA due after resuming: %v, want %v", d, t0.Add(3*time.Hour))
	}
	if row := h.rows[0]; row.SLADueAt != nil {
		t.Errorf("row while pending has sla_due_at %v", row.SLADueAt)
	}
}

func TestPriorityChangeMovesTheDeadline(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	var up *anyUpdate
	h.at(10*time.Minute, func() { up = h.change(ChangeRequest{Actor: asAgent, Priority: priority(ticket.PriorityCritical)}) })
	h.run(pol, ticket.PriorityHigh, 10*time.Hour)
	if up.err != nil || up.rejected != nil {
		t.Fatalf("priority change: %+v", up)
	}
	// Critical: 30m first response, 2h resolution, counted from creation.
	h.expectAt("sla_breached", 30*time.Minute, 2*time.Hour)
}

func TestFirstPublicAgentReplyMeetsFirstResponse(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	var internal, public, fromRequester *anyUpdate
	h.at(10*time.Minute, func() { fromRequester = h.comment(asRequester, false) })
	h.at(20*time.Minute, func() { internal = h.comment(asAgent, true) })
	h.at(40*time.Minute, func() { public = h.comment(asAgent, false) })
	h.run(pol, ticket.PriorityHigh, 10*time.Hour)
	for _, u := range []*anyUpdate{internal, public, fromRequester} {
		if u.err != nil || u.rejected != nil {
			t.Fatalf("comment: %+v", u)
		}
	}
	h.expectAt("sla_breached", 4*time.Hour) // only resolution
	if n := len(h.found("comment")); n != 3 {
		t.Errorf("%d comments", n)
	}
	replies := 0
	for _, n := range h.outbox {
		if n.Kind == OutboxAgentReply {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("%d agent_reply notifications, want 1 (internal notes are not replies)", replies)
	}
}

func TestRequesterMayNotAddInternalComment(t *testing.T) {
	h := newHarness(t)
	var u *anyUpdate
	h.at(time.Minute, func() { u = h.comment(asRequester, true) })
	h.run(testPolicy(), ticket.PriorityLow, time.Hour)
	var appErr *temporal.ApplicationError
	if !errors.As(u.rejected, &appErr) || appErr.Type() != ErrForbidden {
		t.Fatalf("want a Forbidden rejection, got %+v", u)
	}
	if n := len(h.found("comment")); n != 0 {
		t.Errorf("rejected comment was written")
	}
}

func TestDisallowedMoveIsRejectedWithAllowedMoves(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Transitions = map[string][]string{
		"open": {"in_progress"}, "in_progress": {"pending", "resolved"}, "pending": {"in_progress"},
		"resolved": {"closed", "open"}, "closed": {"open"},
	}
	var bad, bothBad *anyUpdate
	h.at(time.Minute, func() { bad = h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusResolved)}) })
	// One bad field spoils the whole change: the priority stays.
	h.at(2*time.Minute, func() {
		bothBad = h.change(ChangeRequest{Actor: asAgent, Priority: priority(ticket.PriorityCritical), Status: status(ticket.StatusClosed)})
	})
	h.run(pol, ticket.PriorityLow, time.Hour)
	var appErr *temporal.ApplicationError
	if !errors.As(bad.rejected, &appErr) || appErr.Type() != ErrNotAllowed {
		t.Fatalf("want NotAllowed rejection, got %+v", bad)
	}
	var d NotAllowedDetails
	if err := appErr.Details(&d); err != nil || d.From != ticket.StatusOpen || d.To != ticket.StatusResolved || fmt.Sprint(d.Allowed) != "[in_progress]" {
		t.Errorf("details %+v (%v)", d, err)
	}
	if bothBad.rejected == nil {
		t.Fatal("mixed change accepted")
	}
	if len(h.events) != 1 {
		t.Errorf("rejected changes wrote events: %s", h.kinds())
	}
}

func TestAutoCloseAndReopenCancelsIt(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	h.at(time.Hour/2, func() { h.comment(asAgent, false) })
	h.at(time.Hour, func() { h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusResolved)}) })
	var reply *anyUpdate
	h.at(2*24*time.Hour, func() { reply = h.comment(asRequester, false) }) // reopens: no auto-close at 4d+1h
	h.at(3*24*time.Hour, func() { h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusResolved)}) })
	h.run(pol, ticket.PriorityHigh, 9*24*time.Hour)
	if reply.err != nil || !reply.result.Reopened || reply.result.State.Status != ticket.StatusOpen {
		t.Fatalf("requester reply on a resolved ticket: %+v", reply)
	}
	var closes []time.Duration
	for _, e := range h.found("status_changed") {
		if d := e.Data.(ticket.StatusChanged); d.To == ticket.StatusClosed {
			closes = append(closes, e.CreatedAt.Sub(t0))
			if d.Reason != "auto-close" || e.Actor != "system" {
				t.Errorf("close %+v", e)
			}
		}
	}
	if fmt.Sprint(closes) != fmt.Sprint([]time.Duration{7 * 24 * time.Hour}) {
		t.Errorf("closed at %v, want only 3d+4d", closes)
	}
	// The resolution clock ran 1h, paused 2d… resumed 1d: breached during the reopen.
	if n := len(h.found("sla_breached")); n != 1 {
		t.Errorf("%d breaches (%s)", n, h.kinds())
	}
}

func TestReopenWindowEndsTheWorkflow(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	h.at(time.Minute, func() { h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusClosed)}) })
	h.run(pol, ticket.PriorityLow, 30*24*time.Hour)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v err %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	h.expectAt("archived", 14*24*time.Hour+time.Minute)
	if last := h.rows[len(h.rows)-1]; last.ArchivedAt == nil {
		t.Errorf("row not archived: %+v", last)
	}
	if n := len(h.found("expired")); n != 0 {
		t.Errorf("a closed ticket expired")
	}
}

func TestExpiry(t *testing.T) {
	for _, action := range []string{ExpiryEscalate, ExpiryClose} {
		t.Run(action, func(t *testing.T) {
			h := newHarness(t)
			pol := testPolicy()
			pol.Escalation = false
			pol.ExpiryAction = action
			pol.SLA = nil
			h.run(pol, ticket.PriorityLow, 8*24*time.Hour)
			h.expectAt("expired", 7*24*time.Hour)
			switch action {
			case ExpiryEscalate:
				h.expectAt("escalated", 7*24*time.Hour)
				if l := h.rows[len(h.rows)-1].EscalationLevel; l != 1 {
					t.Errorf("level %d", l)
				}
			case ExpiryClose:
				if s := h.rows[len(h.rows)-1].Status; s != ticket.StatusClosed {
					t.Errorf("status %s", s)
				}
			}
			if h.rows[len(h.rows)-1].ExpiredAt == nil {
				t.Error("expired_at not set")
			}
		})
	}
}

func TestAttemptRules(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.TimeRules = nil
	pol.SLA = nil
	for i := 0; i < 2; i++ {
		base := time.Duration(i) * 10 * time.Hour
		h.at(base+time.Hour, func() { h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusResolved)}) })
		h.at(base+2*time.Hour, func() {
			h.change(ChangeRequest{Actor: asRequester, Status: status(ticket.StatusOpen), Reason: "reopen"})
		})
	}
	for i := 0; i < 3; i++ {
		h.at(30*time.Hour+time.Duration(i)*time.Hour, func() { h.comment(asRequester, false) })
	}
	h.at(40*time.Hour, func() { h.change(ChangeRequest{Actor: asAgent, Assignee: &IDChange{ID: ptr(agentA)}}) })
	h.at(41*time.Hour, func() { h.change(ChangeRequest{Actor: asAgent, Assignee: &IDChange{ID: ptr(agentB)}}) })
	h.at(42*time.Hour, func() { h.change(ChangeRequest{Actor: asAgent, Assignee: &IDChange{ID: ptr(agentA)}}) })
	h.run(pol, ticket.PriorityLow, 50*time.Hour)
	var got []string
	for _, e := range h.found("escalated") {
		got = append(got, fmt.Sprintf("%s@%s", e.Data.(ticket.Escalated).Rule, e.CreatedAt.Sub(t0)))
	}
	if want := "reopened-2@12h0m0s followups-3@32h0m0s reassigned-2@42h0m0s"; strings.Join(got, " ") != want {
		t.Errorf("escalations %v, want %s", got, want)
	}
}

func TestConcurrentUpdatesApplyInOrder(t *testing.T) {
	h := newHarness(t)
	var ups []*anyUpdate
	var claims []*anyUpdate
	h.at(time.Minute, func() {
		for _, p := range []ticket.Priority{ticket.PriorityHigh, ticket.PriorityCritical, ticket.PriorityLow, ticket.PriorityMedium} {
			ups = append(ups, h.change(ChangeRequest{Actor: asAgent, Priority: priority(p)}))
		}
		// Two agents claim at once: one wins, the other hears Conflict.
		claims = append(claims,
			h.change(ChangeRequest{Actor: asAgent, Assignee: &IDChange{ID: ptr(agentA)}, IfUnassigned: true}),
			h.change(ChangeRequest{Actor: asAgentB, Assignee: &IDChange{ID: ptr(agentB)}, IfUnassigned: true}))
	})
	h.run(testPolicy(), ticket.PriorityLow, time.Hour)
	for _, u := range ups {
		if u.err != nil || u.rejected != nil {
			t.Fatalf("update %+v", u)
		}
	}
	won := 0
	for _, c := range claims {
		var appErr *temporal.ApplicationError
		switch {
		case c.err == nil && c.rejected == nil:
			won++
		case errors.As(c.err, &appErr) && appErr.Type() == ErrConflict:
		default:
			t.Errorf("claim %+v", c)
		}
	}
	if won != 1 {
		t.Errorf("%d claims won, want exactly 1", won)
	}
	if n := len(h.found("assigned")); n != 1 {
		t.Errorf("%d assignments", n)
	}
	for i, e := range h.events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if p := h.rows[len(h.rows)-1].Priority; p != ticket.PriorityMedium && len(h.found("priority_changed")) != 4 {
		t.Errorf("final priority %s after %s", p, h.kinds())
	}
}

func TestContinueAsNewCarriesStateAndRequests(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.MaxHistoryEvents = 40
	pri := []ticket.Priority{ticket.PriorityHigh, ticket.PriorityLow}
	var first *anyUpdate
	for i := 0; i < 20; i++ {
		i := i
		h.at(time.Duration(i+1)*time.Minute, func() {
			// Each change adds about five history events.
			h.env.SetCurrentHistoryLength(5 * (i + 2))
			u := h.change(ChangeRequest{RequestID: fmt.Sprintf("p-%d", i), Actor: asAgent, Priority: priority(pri[i%2])})
			if i == 0 {
				first = u
			}
		})
	}
	h.run(pol, ticket.PriorityLow, 10*time.Hour)
	var can *workflow.ContinueAsNewError
	if !errors.As(h.env.GetWorkflowError(), &can) {
		t.Fatalf("want continue-as-new, got %v", h.env.GetWorkflowError())
	}
	var in TicketInput
	if err := decodeArg(can, &in); err != nil {
		t.Fatal(err)
	}
	if in.Carry == nil || in.Carry.Seq < 2 || !in.Carry.Persisted || in.Policy == nil || in.Policy.MaxHistoryEvents != 40 {
		t.Fatalf("carried %+v", in.Carry)
	}
	if len(in.Carry.Processed) == 0 || in.Carry.Processed[0].ID != "p-0" || first.err != nil {
		t.Fatalf("processed requests not carried: %+v", in.Carry.Processed)
	}
	// The next run answers a repeat of an old request without a new event,
	// and its timers count from the original creation.
	h2 := newHarness(t)
	h2.events = []lifecycle.Event{{Seq: in.Carry.Seq}}
	var repeat, fresh *anyUpdate
	h2.at(time.Second, func() {
		repeat = h2.change(ChangeRequest{RequestID: "p-0", Actor: asAgent, Priority: priority(ticket.PriorityHigh)})
		fresh = h2.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusInProgress)})
	})
	h2.env.SetStartTime(t0.Add(in.Carry.CreatedAt.Sub(t0) + 30*time.Minute))
	h2.at(time.Hour, func() { h2.env.CancelWorkflow() })
	h2.env.ExecuteWorkflow(TicketWorkflow, in)
	if repeat.err != nil || repeat.result.Seq != first.result.Seq {
		t.Errorf("repeat answered %+v, first was seq %d", repeat, first.result.Seq)
	}
	if fresh.err != nil || fresh.result.Seq != in.Carry.Seq+1 {
		t.Errorf("fresh change %+v after seq %d", fresh, in.Carry.Seq)
	}
	if len(h2.found("created")) != 0 {
		t.Error("the new run re-created the ticket")
	}
}

func decodeArg(can *workflow.ContinueAsNewError, into any) error {
	return temporalConverter.FromPayloads(can.Input, into)
}

var temporalConverter = converterDefault()

func TestPolicySignalMovesDeadlines(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	tighter := testPolicy()
	tighter.Escalation = false
	tighter.SLA[ticket.PriorityHigh] = SLATargets{FirstResponse: 20 * time.Minute, Resolution: 5 * time.Hour}
	h.at(10*time.Minute, func() { h.env.SignalWorkflow(SignalPolicy, tighter) })
	h.run(pol, ticket.PriorityHigh, 10*time.Hour)
	// The clocks take the new targets at once, keeping the time used.
	h.expectAt("sla_breached", 20*time.Minute, 5*time.Hour)
	h.expectAt("policy_changed", 10*time.Minute)
}

func TestBusinessCalendarSkipsNightsWeekendsAndHolidays(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	pol.Calendar = slaSpecBerlin()
	// Friday 2026-03-06 16:00 Berlin (15:00 UTC); high: 1h first response,
	// 4h resolution. Monday 2026-03-09 is a holiday in this calendar.
	start := time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC)
	h.env.SetStartTime(start)
	h.run(pol, ticket.PriorityHigh, 10*24*time.Hour)
	var got []string
	for _, e := range h.found("sla_breached") {
		got = append(got, e.CreatedAt.In(berlin(t)).Format("Mon 2006-01-02 15:04"))
	}
	// First response: Fri 16:00-17:00 → due Fri 17:00. Resolution: 1h on
	// Friday, then Tuesday 09:00 + 3h = 12:00.
	if want := "Fri 2026-03-06 17:00,Tue 2026-03-10 12:00"; strings.Join(got, ",") != want {
		t.Errorf("breaches %v, want %s", got, want)
	}
}

// TestRunsFromBeforeTheLifecycleEndWhenClosed replays nothing but checks
// the old path live: with the "lifecycle" version forced to the default,
// a close ends the run (as it did) instead of spinning.
func TestRunsFromBeforeTheLifecycleEndWhenClosed(t *testing.T) {
	h := newHarness(t)
	h.env.OnGetVersion("shape", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	h.env.OnGetVersion("lifecycle", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	var u *anyUpdate
	h.at(time.Minute, func() { u = h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusClosed)}) })
	h.at(30*24*time.Hour, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(TicketWorkflow, TicketInput{Number: 1, Priority: ticket.PriorityLow})
	if u == nil || u.err != nil {
		t.Fatalf("close: %+v", u)
	}
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("old-path run did not complete on close: %v", h.env.GetWorkflowError())
	}
	if n := len(h.found("sla_breached")); n != 0 {
		t.Errorf("old-path run fired SLA timers")
	}
}

// A change that ends the loop's wait cancels the timer it waited on, so a
// superseded deadline never wakes the workflow (issue 19). Runs from
// before the fix (GetVersion "cancel-timers" at DefaultVersion) keep the
// old wait, whose timers stay armed and fire stale: the test shows both.
func TestChangeCancelsTheTimerItEnds(t *testing.T) {
	for _, tc := range []struct {
		name                string
		old                 bool
		wantFired, wantStop int
	}{
		// New path: 3 comments each end a wait and cancel its timer; the
		// 2 deadlines (first response at 1h, resolution at 4h) fire.
		{name: "cancelled", wantFired: 2, wantStop: 3},
		// Old path: nothing is cancelled, and the 3 superseded timers
		// (all for the 1h deadline) fire too.
		{name: "before the fix", old: true, wantFired: 5, wantStop: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.old {
				h.env.OnGetVersion("shape", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
				h.env.OnGetVersion("cancel-timers", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			var fired, cancelled int
			h.env.SetOnTimerFiredListener(func(string) { fired++ })
			h.env.SetOnTimerCanceledListener(func(string) { cancelled++ })
			pol := testPolicy()
			pol.Escalation = false
			pol.AutoCloseAfter, pol.ExpireAfter = 0, 0
			for _, at := range []time.Duration{10 * time.Minute, 20 * time.Minute, 30 * time.Minute} {
				h.at(at, func() { h.comment(asAgent, true) })
			}
			h.run(pol, ticket.PriorityHigh, 10*time.Hour)
			h.expectAt("sla_breached", time.Hour, 4*time.Hour)
			if fired != tc.wantFired || cancelled != tc.wantStop {
				t.Errorf("timers fired %d, cancelled %d; want %d, %d", fired, cancelled, tc.wantFired, tc.wantStop)
			}
		})
	}
}

// A calendar that does not parse is never silently 24x7 (issue 19): the
// workflow task fails instead (configuration validates calendars first).
func TestUnparsableCalendarIsNotSilentlyAlwaysOpen(t *testing.T) {
	pol := testPolicy()
	pol.Calendar = sla.CalendarSpec{TimeZone: "Mars/Olympus", Hours: map[string][]string{"mon": {"09:00-17:00"}}}
	defer func() {
		if recover() == nil {
			t.Fatal("calendar() of an unknown zone returned a calendar")
		}
	}()
	pol.BusinessCalendar()
}

// Reopen is decided here, not by the API: a resolved ticket reopens, an
// open one stays as it is (what a retried reopen finds), one in progress
// is a conflict that leaves it unchanged.
func TestReopenOnlyResolvedOrClosed(t *testing.T) {
	h := newHarness(t)
	pol := testPolicy()
	pol.Escalation = false
	reopen := func() *anyUpdate {
		return h.change(ChangeRequest{Actor: asRequester, Status: status(ticket.StatusOpen), Reason: ticket.ReasonReopen})
	}
	var whileOpen, whileInProgress, whileResolved *anyUpdate
	h.at(time.Minute, func() { whileOpen = reopen() })
	h.at(2*time.Minute, func() { h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusInProgress)}) })
	h.at(3*time.Minute, func() { whileInProgress = reopen() })
	h.at(4*time.Minute, func() { h.change(ChangeRequest{Actor: asAgent, Status: status(ticket.StatusResolved)}) })
	h.at(5*time.Minute, func() { whileResolved = reopen() })
	h.run(pol, ticket.PriorityLow, time.Hour)
	if whileOpen.err != nil || whileOpen.rejected != nil || whileOpen.result.State.Status != ticket.StatusOpen {
		t.Errorf("reopen of an open ticket: %+v", whileOpen)
	}
	var appErr *temporal.ApplicationError
	if whileInProgress.rejected == nil || !errors.As(whileInProgress.rejected, &appErr) || appErr.Type() != ErrConflict {
		t.Errorf("reopen of a ticket in progress: %+v, want a Conflict rejection", whileInProgress)
	}
	if whileResolved.err != nil || whileResolved.rejected != nil || whileResolved.result.State.Status != ticket.StatusOpen {
		t.Errorf("reopen of a resolved ticket: %+v", whileResolved)
	}
	var moves []string
	for _, e := range h.found("status_changed") {
		d := e.Data.(ticket.StatusChanged)
		moves = append(moves, fmt.Sprintf("%v→%v %v", d.From, d.To, d.Reason))
	}
	if got, want := strings.Join(moves, ", "), "open→in_progress , in_progress→resolved , resolved→open reopen"; got != want {
		t.Errorf("status moves %s, want %s", got, want)
	}
}

// A resolve whose required fields are empty is rejected by the workflow
// itself (the facts come from an activity), whoever asks: here a lead's
// change with no API in front. Filling the field lets the same move pass.
func TestResolveRejectedWithoutRequiredFields(t *testing.T) {
	h := newHarness(t)
	h.resolveFacts = lifecycle.ResolveFacts{Fields: []catalog.Field{{Key: "cause", Type: catalog.TypeText, RequiredToResolve: true}}}
	lead := Actor{UserID: 1, Role: "lead"}
	var first, second *anyUpdate
	h.at(time.Minute, func() {
		first = h.change(ChangeRequest{RequestID: "r1", Actor: lead, Status: status(ticket.StatusResolved)})
	})
	h.at(2*time.Minute, func() {
		h.resolveFacts.Values = catalog.Values{"cause": "toner"}
		second = h.change(ChangeRequest{RequestID: "r2", Actor: lead, Status: status(ticket.StatusResolved), Text: []string{"custom_fields"}})
	})
	h.run(testPolicy(), ticket.PriorityMedium, time.Hour)
	var appErr *temporal.ApplicationError
	if first == nil || !errors.As(first.err, &appErr) || appErr.Type() != ErrInvalid {
		t.Fatalf("first resolve: %+v, want an Invalid rejection", first)
	}
	var probs []FieldProblem
	if err := appErr.Details(&probs); err != nil || len(probs) != 1 || probs[0].Field != "custom_fields.cause" {
		t.Errorf("problems %+v (%v), want custom_fields.cause", probs, err)
	}
	if second == nil || second.err != nil || !second.done {
		t.Fatalf("second resolve: %+v", second)
	}
	if len(h.resolves) != 2 || h.resolves[0].WithRequest || !h.resolves[1].WithRequest || h.resolves[1].RequestID != "r2" {
		t.Errorf("facts asked %+v", h.resolves)
	}
	if got := h.kinds(); !strings.Contains(got, "status_changed") || strings.Count(got, "status_changed") != 1 {
		t.Errorf("events %q: want exactly one status change", got)
	}
}

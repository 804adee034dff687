package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

type updateResult struct {
	accepted bool
	rejected error
	result   CreateResult
	err      error
	done     bool
}

func (u *updateResult) Accept()          { u.accepted = true }
func (u *updateResult) Reject(err error) { u.rejected = err; u.done = true }
func (u *updateResult) Complete(v any, err error) {
	u.done = true
	u.err = err
	if r, ok := v.(CreateResult); ok {
		u.result = r
	}
}

// A create is written and routed in one step (CreateRouted), which indexes
// the routed ticket once; the retrying IndexTicket activity runs only when
// that inline index failed.
func TestCreateUpdateAnswersOnceTicketIsPersisted(t *testing.T) {
	for _, c := range []struct {
		name      string
		indexed   bool
		indexRuns int
	}{
		{name: "indexed inline", indexed: true},
		{name: "inline index failed", indexRuns: 1},
	} {
		t.Run(c.name, func(t *testing.T) { testCreate(t, c.indexed, c.indexRuns) })
	}
}

func testCreate(t *testing.T, indexedInline bool, indexRuns int) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Tickets{})
	var created activities.CreateRoutedInput
	env.OnActivity(tickets.CreateRouted, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateRoutedInput) (activities.CreateRoutedResult, error) {
			created = in
			return activities.CreateRoutedResult{State: in.State, Indexed: indexedInline}, nil
		})
	indexed := 0
	env.OnActivity(tickets.IndexTicket, mock.Anything, int64(42)).Return(func(_ context.Context, _ int64) error {
		indexed++
		return nil
	})
	var upd updateResult
	var state State
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateCreate, "create-1", &upd)
	}, 0)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryState)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		if err := v.Get(&state); err != nil {
			t.Errorf("decode state: %v", err)
		}
		// A ticket lives on; end the test run here.
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(TicketWorkflow, TicketInput{Number: 42, Priority: ticket.PriorityHigh, Actor: "api"})

	if !upd.accepted || upd.err != nil || upd.result != (CreateResult{Number: 42, Seq: 1}) {
		t.Fatalf("create update: %+v", upd)
	}
	p := created.Create
	if p.Number != 42 || p.Seq != 1 || p.Status != ticket.StatusOpen || p.Priority != ticket.PriorityHigh {
		t.Errorf("created %+v", p)
	}
	r := created.Route
	if r.Trigger != lifecycle.RouteCreated || r.Key != "42:created:1" || created.State.Seq != 1 || !created.State.Persisted {
		t.Errorf("the create must route the created state: route %+v, state %+v", r, created.State)
	}
	if indexed != indexRuns {
		t.Errorf("IndexTicket ran %d times, want %d", indexed, indexRuns)
	}
	if state.Status != ticket.StatusOpen || !state.Persisted || state.Seq != 1 {
		t.Errorf("state %+v", state)
	}
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not stop after cancel")
	}
}

func TestCreateUpdateReportsPermanentFailure(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Tickets{})
	env.OnActivity(tickets.CreateRouted, mock.Anything, mock.Anything).Return(activities.CreateRoutedResult{},
		temporal.NewNonRetryableApplicationError("no payload", activities.ErrCodeMissingPayload, nil))
	var upd updateResult
	env.RegisterDelayedCallback(func() { env.UpdateWorkflow(UpdateCreate, "create-1", &upd) }, 0)
	env.ExecuteWorkflow(TicketWorkflow, TicketInput{Number: 7, Priority: ticket.PriorityLow})

	if upd.err == nil {
		t.Fatal("the create Update must fail when the ticket cannot be persisted")
	}
	var appErr *temporal.ApplicationError
	if !errors.As(env.GetWorkflowError(), &appErr) {
		t.Fatalf("workflow error %v", env.GetWorkflowError())
	}
}

func TestRejectsBadInput(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Tickets{})
	env.ExecuteWorkflow(TicketWorkflow, TicketInput{Number: 0, Priority: ticket.PriorityLow})
	if env.GetWorkflowError() == nil {
		t.Fatal("ticket number 0 accepted")
	}
	env = s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Tickets{})
	env.ExecuteWorkflow(TicketWorkflow, TicketInput{Number: 3, Priority: "urgent"})
	if env.GetWorkflowError() == nil {
		t.Fatal("unknown priority accepted")
	}
}

func TestWorkflowIDAndSummary(t *testing.T) {
	if got := TicketWorkflowID(123); got != "ticket-123" {
		t.Errorf("TicketWorkflowID = %s", got)
	}
	if got := StartSummary(TicketInput{Number: 5, Priority: ticket.PriorityCritical}); got != "Ticket #5 (critical)" {
		t.Errorf("summary %q", got)
	}
}

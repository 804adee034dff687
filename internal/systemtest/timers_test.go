package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

// TestShortPoliciesReallyFire runs a ticket on the real Temporal server
// with policies in seconds: the SLA breaches, two escalation levels with a
// priority raise, the outbox rows, the operator's view (search attributes,
// timer summaries, details), then resolution, auto-close and the end of
// the reopen window, which completes the workflow.
func TestShortPoliciesReallyFire(t *testing.T) {
	ctx := context.Background()
	cfg := env.cfg
	cfg.SLAPolicies = map[string]config.SLAPolicy{
		"high":     {FirstResponse: config.Duration(2 * time.Second), Resolution: config.Duration(4 * time.Second)},
		"critical": {FirstResponse: config.Duration(time.Second), Resolution: config.Duration(3 * time.Second)},
	}
	cfg.EscalationRules = []config.EscalationRule{
		{Name: "resolution-50%", Clock: "resolution", Percent: 50, Level: 1},
		{Name: "resolution-breached", Clock: "resolution", Percent: 100, Level: 2, RaisePriority: true},
	}
	cfg.AutoCloseAfter = config.Duration(2 * time.Second)
	cfg.ReopenWindow = config.Duration(2 * time.Second)
	srv := newAPI(cfg, nil)
	addr, err := listenAndServe(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)

	res := call(t, "http://"+addr, http.MethodPost, "/api/v1/tickets", []byte(`{"subject":"Timers","priority":"high"}`))
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	if tk.SLADueAt == nil || tk.SLADueAt.Sub(tk.CreatedAt.Add(2*time.Second)).Abs() >= time.Microsecond {
		t.Errorf("new ticket sla_due_at %v, want created_at+2s (%v)", tk.SLADueAt, tk.CreatedAt.Add(2*time.Second))
	}
	wid := workflows.TicketWorkflowID(tk.Number)

	// The operator's view right after creation.
	attrs := searchAttributes(t, wid)
	if attrs["TicketStatus"] != "open" || attrs["TicketPriority"] != "high" || attrs["TicketEscalationLevel"] != "0" || attrs["TicketSLADueAt"] == "" {
		t.Errorf("search attributes after create: %v", attrs)
	}
	if s := timerSummaries(t, wid); !strings.Contains(s, "high: first-response SLA") {
		t.Errorf("timer summaries %q", s)
	}

	eventually(t, 30*time.Second, "breaches and escalations", func() error {
		evs, err := env.store.Events(ctx, tk.Number)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range evs {
			switch d := e.Data.(type) {
			case ticket.SLABreached:
				got = append(got, fmt.Sprintf("breach %v", d.Clock))
				if e.CreatedAt.Before(d.DueAt) {
					t.Errorf("breach recorded at %v, before its deadline %v", e.CreatedAt, d.DueAt)
				}
			case ticket.Escalated:
				got = append(got, fmt.Sprintf("escalated %v→%v", d.Rule, d.Level))
			case ticket.PriorityChanged:
				got = append(got, fmt.Sprintf("priority %v", d.To))
			}
		}
		want := "breach first_response,escalated resolution-50%→1,breach resolution,escalated resolution-breached→2,priority critical"
		if strings.Join(got, ",") != want {
			return fmt.Errorf("events %v, want %s", got, want)
		}
		return nil
	})
	out, err := env.store.Outbox(ctx, tk.Number)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range out {
		kinds = append(kinds, n.Kind)
	}
	if got := strings.Join(kinds, ","); got != "ticket_created,sla_breached,escalated,sla_breached,escalated" {
		t.Errorf("outbox %s", got)
	}
	eventually(t, 10*time.Second, "search attributes after escalation", func() error {
		attrs := searchAttributes(t, wid)
		// A breached clock keeps running (its due time stays, in the
		// past); only pending or meeting it clears TicketSLADueAt.
		if attrs["TicketEscalationLevel"] != "2" || attrs["TicketPriority"] != "critical" || attrs["TicketSLADueAt"] == "" {
			return fmt.Errorf("%v", attrs)
		}
		return nil
	})

	// Pending clears the SLA due time; resolving starts the auto-close.
	change(t, tk.Number, workflows.ChangeRequest{Status: statusPtr(ticket.StatusPending)})
	if attrs := searchAttributes(t, wid); attrs["TicketSLADueAt"] != "" || attrs["TicketStatus"] != "pending" {
		t.Errorf("search attributes while pending: %v", attrs)
	}
	row, err := env.store.Ticket(ctx, tk.Number)
	if err != nil || row.SLADueAt != nil || row.Status != ticket.StatusPending {
		t.Errorf("row while pending: %+v %v", row, err)
	}
	change(t, tk.Number, workflows.ChangeRequest{Status: statusPtr(ticket.StatusResolved)})
	if s := timerSummaries(t, wid); !strings.Contains(s, "auto-close after resolution") {
		t.Errorf("timer summaries after resolving %q", s)
	}
	eventually(t, 30*time.Second, "auto-close, then the end of the reopen window", func() error {
		row, err := env.store.Ticket(ctx, tk.Number)
		if err != nil {
			return err
		}
		if row.Status != ticket.StatusClosed || row.ArchivedAt == nil {
			return fmt.Errorf("status %s archived %v", row.Status, row.ArchivedAt)
		}
		return nil
	})
	evs, _ := env.store.Events(ctx, tk.Number)
	var closed *store.Event
	for i := range evs {
		if d, ok := evs[i].Data.(ticket.StatusChanged); ok && d.To == ticket.StatusClosed {
			closed = &evs[i]
		}
	}
	if closed == nil || closed.Actor != "system" || closed.Data.(ticket.StatusChanged).Reason != "auto-close" {
		t.Errorf("close event %+v", closed)
	}
	eventually(t, 10*time.Second, "workflow completes", func() error {
		d, err := env.temporal.DescribeWorkflowExecution(ctx, wid, "")
		if err != nil {
			return err
		}
		if st := d.WorkflowExecutionInfo.Status; st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	recordHistory(t, wid, "ticket-lifecycle.json")
}

func statusPtr(s ticket.Status) *ticket.Status { return &s }

var changeSeq int

// change sends a ChangeRequest straight to the ticket's workflow as the agent.
func change(t *testing.T, number int64, req workflows.ChangeRequest) workflows.ChangeResult {
	t.Helper()
	changeSeq++
	req.RequestID = fmt.Sprintf("systemtest-%d-%d-%d", number, changeSeq, time.Now().UnixNano())
	req.Actor = workflows.Actor{UserID: env.users["agent"].ID, Role: "agent"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := env.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.TicketWorkflowID(number), UpdateID: req.RequestID, UpdateName: workflows.UpdateChange,
		Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var out workflows.ChangeResult
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		t.Fatalf("change %+v: %v", req, err)
	}
	return out
}

// searchAttributes returns a workflow's search attributes as strings.
func searchAttributes(t *testing.T, wid string) map[string]string {
	t.Helper()
	d, err := env.temporal.DescribeWorkflowExecution(context.Background(), wid, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, p := range d.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields() {
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			t.Fatal(err)
		}
		switch x := v.(type) {
		case float64:
			out[k] = fmt.Sprint(int64(x))
		case nil:
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// timerSummaries returns the summaries of the workflow's started timers.
func timerSummaries(t *testing.T, wid string) string {
	t.Helper()
	it := env.temporal.GetWorkflowHistory(context.Background(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() != enumspb.EVENT_TYPE_TIMER_STARTED {
			continue
		}
		var s string
		if p := e.GetUserMetadata().GetSummary(); p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// TestPolicyApplyMovesOpenTickets: `helpdesk policy apply` (worker.ApplyPolicy)
// tightens the SLA of a ticket already open, and its breach fires on the
// new deadline.
func TestPolicyApplyMovesOpenTickets(t *testing.T) {
	ctx := context.Background()
	res := createTicket(t, `{"subject":"Policy change","priority":"high"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	if tk.SLADueAt == nil || (tk.SLADueAt.Sub(tk.CreatedAt)-4*time.Hour).Abs() >= time.Microsecond {
		t.Fatalf("default high first response is 4h; sla_due_at %v", tk.SLADueAt)
	}
	cfg := env.cfg
	cfg.SLAPolicies = map[string]config.SLAPolicy{"high": {FirstResponse: config.Duration(2 * time.Second), Resolution: config.Duration(time.Hour)}}
	cfg.EnableEscalation = false
	wid := workflows.TicketWorkflowID(tk.Number)
	eventually(t, 10*time.Second, "ticket visible to the policy rollout", func() error {
		n, err := worker.ApplyPolicy(ctx, env.temporal, env.cfg.TemporalNamespace, worker.PolicyFromConfig(cfg), fmt.Sprintf("WorkflowId = %q", wid))
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("signalled %d tickets", n)
		}
		return nil
	})
	eventually(t, 20*time.Second, "breach on the new deadline", func() error {
		evs, err := env.store.Events(ctx, tk.Number)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if b, ok := e.Data.(ticket.SLABreached); ok && b.Clock == "first_response" {
				// PostgreSQL keeps microseconds; the workflow's clock nanoseconds.
				due := b.DueAt
				if d := due.Sub(tk.CreatedAt.Add(2 * time.Second)); d < 0 || d >= time.Microsecond {
					t.Errorf("breach due_at %v, want created_at+2s (%v)", due, tk.CreatedAt.Add(2*time.Second))
				}
				return nil
			}
		}
		return fmt.Errorf("no breach yet")
	})
}

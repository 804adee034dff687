// Package worker wires the ticket workflow and its activities to a Temporal
// worker polling helpdesk's task queue.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/finder"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/workflows"
)

// Deps are what the activities need.
type Deps struct {
	Client         client.Client
	TaskQueue      string
	Store          *store.Store
	Index          *search.Index
	IdempotencyTTL time.Duration
	Logger         *slog.Logger
	// DefaultAgentCapacity is the config's default_agent_capacity.
	DefaultAgentCapacity int
	// Audit, AuditExportDir and AuditLogInterval drive the scheduled audit
	// log export; without Audit no export is registered.
	Audit            *audit.Log
	AuditExportDir   string
	AuditLogInterval time.Duration
	// Mailer, when set, mails outbox notifications (OutboxMailLoop starts
	// one OutboxEmail workflow per notification).
	Mailer *activities.Mailer
	// Bulk actions run when Identity and Policy are set: a job acts as the
	// person who started it, with what the access policy (the API's
	// Casbin enforcer) lets their role do, seeing the tickets
	// agents_see_all_tickets lets them see, on at most BulkMaxTickets
	// tickets, waiting at most UpdateTimeout for each ticket's answer.
	// Jobs by query find their tickets on Index (internal/finder).
	Identity            *identity.Service
	Policy              activities.Enforcer
	AgentsSeeAllTickets bool
	BulkMaxTickets      int
	UpdateTimeout       time.Duration
}

// workflowTaskPollers is how many workflow-task long polls a worker keeps open.
const workflowTaskPollers = 8

// New builds a worker with every workflow and activity registered.
func New(d Deps) sdkworker.Worker {
	w := sdkworker.New(d.Client, d.TaskQueue, sdkworker.Options{
		// The SDK's 2 workflow-task pollers miss the sticky queue's window
		// under a burst of SLA deadlines, and timers then fire seconds late
		// (bench/timers: p99 40 s with 2, 432 ms with 8 at 2,000 tickets;
		// docs/benchmarks.md). Long polls are cheap.
		MaxConcurrentWorkflowTaskPollers: workflowTaskPollers,
	})
	w.RegisterWorkflowWithOptions(workflows.TicketWorkflow, workflow.RegisterOptions{Name: workflows.TicketWorkflowName})
	w.RegisterActivity(&activities.Tickets{Store: d.Store, Index: d.Index, DefaultAgentCapacity: d.DefaultAgentCapacity})
	if d.Mailer != nil {
		w.RegisterWorkflowWithOptions(workflows.OutboxEmailWorkflow, workflow.RegisterOptions{Name: workflows.OutboxEmailWorkflowName})
		w.RegisterActivity(d.Mailer)
	}
	if d.Identity != nil && d.Policy != nil {
		scope := identity.ScopeOptions{AgentsSeeAllTickets: d.AgentsSeeAllTickets}
		w.RegisterWorkflowWithOptions(workflows.BulkWorkflow, workflow.RegisterOptions{Name: workflows.BulkWorkflowName})
		w.RegisterActivity(&activities.Bulk{Store: d.Store, Identity: d.Identity, Policy: d.Policy,
			Tickets: workflows.BulkUpdates{Client: workflows.Client{Temporal: d.Client, TaskQueue: d.TaskQueue}},
			Scope:   scope, MaxTickets: d.BulkMaxTickets, UpdateTimeout: d.UpdateTimeout,
			Finder: &finder.Finder{Store: d.Store, Ident: d.Identity, Index: d.Index, Scope: scope}})
	}
	if d.Audit != nil {
		w.RegisterWorkflowWithOptions(workflows.AuditExportWorkflow, workflow.RegisterOptions{Name: workflows.AuditExportWorkflowName})
		w.RegisterActivity(&activities.Audit{Log: d.Audit, Dir: d.AuditExportDir})
	}
	return w
}

// EnsureSchedules creates or updates the Temporal schedules the worker
// serves (the audit log export every audit_log_interval).
func EnsureSchedules(ctx context.Context, d Deps) error {
	if d.Audit == nil {
		return nil
	}
	return workflows.EnsureAuditExportSchedule(ctx, d.Client, d.TaskQueue, d.AuditLogInterval)
}

// PurgeLoop forgets expired idempotency keys every interval until ctx ends.
func PurgeLoop(ctx context.Context, d Deps, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := d.Store.PurgeIdempotencyKeys(ctx, d.IdempotencyTTL)
			if err != nil {
				d.Logger.Warn("purge idempotency keys", "err", err)
			} else if n > 0 {
				d.Logger.Info("purged idempotency keys", "count", n)
			}
		}
	}
}

// OutboxMailLoop starts an OutboxEmail workflow for every notification not
// yet mailed, every tick, until ctx ends. Every worker process may run it:
// the workflow ID per notification makes the second start a no-op. Rows
// whose workflow is already running are asked about again after a minute
// (in case a start was lost). after skips older rows (tests).
func OutboxMailLoop(ctx context.Context, d Deps, every time.Duration, after int64) {
	started := map[int64]time.Time{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ids, err := d.Store.PendingOutboxEmail(ctx, after, 500)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("outbox mail: list pending", "err", err)
		}
		now := time.Now()
		for _, id := range ids {
			if at, ok := started[id]; ok && now.Sub(at) < time.Minute {
				continue
			}
			_, err := d.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                    workflows.OutboxEmailWorkflowID(id),
				TaskQueue:             d.TaskQueue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			}, workflows.OutboxEmailWorkflowName, id)
			var already *serviceerror.WorkflowExecutionAlreadyStarted
			if err != nil && !errors.As(err, &already) && ctx.Err() == nil {
				d.Logger.Warn("outbox mail: start", "outbox", id, "err", err)
				continue
			}
			started[id] = now
		}
		for id, at := range started {
			if now.Sub(at) > 10*time.Minute {
				delete(started, id)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Package worker wires the ticket workflow and its activities to a Temporal
// worker polling helpdesk's task queue.
package worker

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/audit"
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
}

// New builds a worker with every workflow and activity registered.
func New(d Deps) sdkworker.Worker {
	w := sdkworker.New(d.Client, d.TaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(workflows.TicketWorkflow, workflow.RegisterOptions{Name: workflows.TicketWorkflowName})
	w.RegisterActivity(&activities.Tickets{Store: d.Store, Index: d.Index, DefaultAgentCapacity: d.DefaultAgentCapacity})
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

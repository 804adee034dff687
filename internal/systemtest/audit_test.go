package systemtest

import (
	"context"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/helpdesk/helpdesk/workflows"
)

// The audit log export runs on a real Temporal schedule: triggering it
// writes the previous period as CSV and NDJSON and records both.
func TestAuditExportSchedule(t *testing.T) {
	ctx := context.Background()
	if err := workflows.EnsureAuditExportSchedule(ctx, env.temporal, env.cfg.TaskQueue, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Ensuring twice is harmless.
	if err := workflows.EnsureAuditExportSchedule(ctx, env.temporal, env.cfg.TaskQueue, time.Minute); err != nil {
		t.Fatal(err)
	}
	h := env.temporal.ScheduleClient().GetHandle(ctx, workflows.AuditExportScheduleID)
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "audit export recorded", func() error {
		var n int
		if err := env.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_exports`).Scan(&n); err != nil {
			return err
		}
		if n < 2 {
			return errNotYet
		}
		rows, err := env.store.Pool().Query(ctx, `SELECT path FROM audit_exports`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return err
			}
			if _, err := os.Stat(p); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err := h.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}

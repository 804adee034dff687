package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
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

// An allowed read's audit entry is stored after the answer (queued for
// the group commit), when fasthttp has already reused the connection's
// buffers for the next request. Reads of two tickets with paths of the
// same length, interleaved on a few keep-alive connections, must each
// leave a row that names its own request, and the chain must verify.
func TestQueuedReadAuditRowsKeepTheirRequest(t *testing.T) {
	ctx := context.Background()
	var numbers [2]int64
	for i := range numbers {
		res := createTicket(t, fmt.Sprintf(`{"subject":"audit aliasing %d"}`, i))
		if res.status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.status, res.body)
		}
		var tk struct {
			ID int64 `json:"id"`
		}
		res.decode(t, &tk)
		numbers[i] = tk.ID
	}
	if len(fmt.Sprint(numbers[0])) != len(fmt.Sprint(numbers[1])) {
		t.Fatalf("tickets %v: want numbers of one length, so one path can overwrite the other in place", numbers)
	}
	const perWorker, workers = 100, 4
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				path := fmt.Sprintf("/api/v1/tickets/%d", numbers[i%2])
				if i%4 >= 2 {
					path += "/history"
				}
				if res := call(t, env.baseURL, http.MethodGet, path, nil); res.status != http.StatusOK {
					t.Errorf("GET %s: %d %s", path, res.status, res.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	objects := []string{fmt.Sprintf("ticket:%d", numbers[0]), fmt.Sprintf("ticket:%d", numbers[1])}
	type row struct{ object, path string }
	var rows []row
	eventually(t, 30*time.Second, "every read audited", func() error {
		rs, err := env.store.Pool().Query(ctx, `SELECT object, detail->>'path' FROM audit_log WHERE action = 'ticket.read' AND object = ANY($1)`, objects)
		if err != nil {
			return err
		}
		rows = rows[:0]
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.object, &r.path); err != nil {
				return err
			}
			rows = append(rows, r)
		}
		if err := rs.Err(); err != nil {
			return err
		}
		if len(rows) < perWorker*workers {
			return fmt.Errorf("%d of %d reads audited", len(rows), perWorker*workers)
		}
		return nil
	})
	for _, r := range rows {
		n := strings.TrimPrefix(r.object, "ticket:")
		if r.path != "/api/v1/tickets/"+n && r.path != "/api/v1/tickets/"+n+"/history" {
			t.Errorf("audit row for %s names path %q", r.object, r.path)
		}
	}
	v, err := env.audit.Verify(ctx)
	if err != nil || !v.OK {
		t.Errorf("audit chain: %+v %v", v, err)
	}
}

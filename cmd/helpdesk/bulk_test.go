package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestBulkResolveSurvivesAWorkerKill is the promise about bulk
// actions: a bulk resolve of 1,000 tickets changes each ticket exactly
// once even when the worker running it is killed (SIGKILL) halfway and
// another takes over. The only worker on the tickets' task queue is a
// `helpdesk worker` process (`helpdesk dev` serves PostgreSQL,
// Elasticsearch and Temporal, its own worker idling on another queue);
// the tickets are made through a `helpdesk api` process, which also runs
// the bulk action and reports its progress.
func TestBulkResolveSurvivesAWorkerKill(t *testing.T) {
	const bootstrap = "bulk-kill-test-bootstrap-token-0123456789"
	d := startDevDeployment(t, bootstrap, "HELPDESK_TASK_QUEUE=bulk-kill-test-idle")
	joined := append(d.joined, "HELPDESK_TASK_QUEUE=bulk-kill-test", "HELPDESK_ENABLE_EMAIL_NOTIFICATIONS=false")
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	pgURL := d.pgURL
	startCommand(t, append(joined, "HELPDESK_HTTP_ADDR="+apiAddr), "api listening", "api")
	first := startCommand(t, joined, "worker polling", "worker")

	a := apiClient{t: t, hc: &http.Client{Timeout: 60 * time.Second}, token: bootstrap}
	const n = 1000
	numbers := make([]int64, n)
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var c struct {
					Number int64 `json:"id"`
				}
				a.create(apiAddr, fmt.Sprintf(`{"subject":"Bulk kill %d"}`, i), fmt.Sprintf("bulk-kill-%d", i), &c)
				numbers[i] = c.Number
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	ids, _ := json.Marshal(numbers)

	type job struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		Total     int    `json:"total"`
		Done      int    `json:"done"`
		Succeeded int    `json:"succeeded"`
		Failed    int    `json:"failed"`
		Failures  []any  `json:"failures"`
	}
	var j job
	a.do(apiAddr, "POST", "/api/v1/bulk", fmt.Sprintf(`{"ids":%s,"change":{"status":"resolved"}}`, ids), http.StatusAccepted, &j)
	// Kill the worker once a good part of the tickets is done: pages are
	// in flight, some changes applied and not yet recorded.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a.do(apiAddr, "GET", "/api/v1/bulk/"+j.ID, "", http.StatusOK, &j)
		if j.Done >= n/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bulk action did not get going: %+v", j)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := j.Done
	if killedAt >= n {
		t.Fatalf("the job finished before the worker was killed (%+v): nothing was proved", j)
	}
	startCommand(t, joined, "worker polling", "worker")
	deadline = time.Now().Add(3 * time.Minute)
	for j.State == "running" {
		if time.Now().After(deadline) {
			t.Fatalf("the bulk action did not finish after the new worker started: %+v", j)
		}
		time.Sleep(250 * time.Millisecond)
		a.do(apiAddr, "GET", "/api/v1/bulk/"+j.ID, "", http.StatusOK, &j)
	}
	t.Logf("worker killed at %d of %d done", killedAt, n)
	if j.State != "completed" || j.Total != n || j.Succeeded != n || j.Failed != 0 {
		t.Fatalf("job %+v", j)
	}

	// Each ticket resolved, by exactly one event of this bulk action.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT t.number, t.status,
			(SELECT count(*) FROM ticket_events e WHERE e.ticket_number = t.number AND e.bulk_id = $2 AND e.kind = 'status_changed'),
			(SELECT count(*) FROM ticket_events e WHERE e.ticket_number = t.number AND e.kind = 'status_changed')
		FROM tickets t WHERE t.number = ANY($1)`, numbers, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var number int64
		var status string
		var fromBulk, all int
		if err := rows.Scan(&number, &status, &fromBulk, &all); err != nil {
			t.Fatal(err)
		}
		seen++
		if status != "resolved" || fromBulk != 1 || all != 1 {
			t.Errorf("ticket %d: %s, %d status changes of which %d from the bulk action", number, status, all, fromBulk)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Errorf("%d tickets found, want %d", seen, n)
	}
}

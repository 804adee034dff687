// Command auditrow measures what one queued audit entry costs, on a
// private PostgreSQL: CPU per row in this process (normalizing, hashing,
// the batch insert) and in PostgreSQL, for the entry an allowed API read
// writes (audit.Writer.Enqueue, group commit). It isolates the audit row
// from the rest of the read path that bench/authz measures.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/auditrow -rows 100000 -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
)

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	rows := flag.Int("rows", 100000, "entries per round")
	rounds := flag.Int("rounds", 3, "rounds (each on a fresh writer, the table growing)")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of all rounds to FILE")
	flag.Parse()
	if err := run(*rows, *rounds, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(rows, rounds int, cpuProfile string) error {
	ctx := context.Background()
	db, err := stack.Start(ctx, stack.Options{Name: "bench-auditrow"})
	if err != nil {
		return err
	}
	defer db.Close()
	pg, st := db.PG, db.Store
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	l := audit.New(st.Pool())
	fmt.Println("| round | rows | rows/s | this process per row | PostgreSQL per row |")
	fmt.Println("|---|---|---|---|---|")
	for r := 0; r < rounds; r++ {
		w := l.NewWriter()
		s0, p0, t0 := selfCPU(), pg.CPUTime(), time.Now()
		actorID := int64(7)
		for i := 0; i < rows; i++ {
			// What api.Server.record queues for GET /api/v1/tickets/{id}
			// with an API token.
			e := audit.Entry{ActorID: &actorID, Actor: "agent@example.com", Action: "ticket.read", Object: fmt.Sprintf("ticket:%d", i%1000),
				Result: audit.ResultAllowed, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1", RequestID: fmt.Sprintf("%08x-0000-4000-8000-%012x", r, i),
				Detail: map[string]any{"method": "GET", "path": fmt.Sprintf("/api/v1/tickets/%d", i%1000), "via": "token", "token_id": int64(3), "status": 200}}
			if err := w.Enqueue(ctx, e); err != nil {
				return err
			}
		}
		w.Close() // returns once everything queued is committed
		self, pgCPU, el := selfCPU()-s0, pg.CPUTime()-p0, time.Since(t0)
		fmt.Printf("| %d | %d | %.0f | %.1f µs | %.1f µs |\n", r+1, rows, float64(rows)/el.Seconds(),
			float64(self.Nanoseconds())/1e3/float64(rows), float64(pgCPU.Nanoseconds())/1e3/float64(rows))
	}
	var count int64
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&count); err != nil {
		return err
	}
	if count < int64(rows*rounds) {
		return fmt.Errorf("%d entries queued but %d rows stored", rows*rounds, count)
	}
	return nil
}

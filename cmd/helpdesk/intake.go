package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/helpdesk/helpdesk/intake"
	"github.com/helpdesk/helpdesk/internal/config"
)

// runIntake watches every configured mailbox until ctx ends. Run it on as
// many machines as you like: one process at a time polls each mailbox.
func runIntake(ctx context.Context, cfg config.Config, _ []string) error {
	if len(cfg.Mailboxes) == 0 {
		return &config.OptionError{Option: "mailboxes", Reason: "no mailbox is configured, so intake has nothing to watch (docs/email.md)"}
	}
	b, err := connect(ctx, cfg)
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	defer b.Close()
	wait := startIntake(ctx, cfg, b)
	wait()
	return nil
}

// startIntake starts one poller per mailbox; the returned func waits for
// them after ctx ends.
func startIntake(ctx context.Context, cfg config.Config, b *backends) (wait func()) {
	proc := intake.NewProcessor(b.store, b.ident, b.temporal, cfg, slog.Default().With("component", "intake"))
	proc.Hook = crashHook(os.Getenv("HELPDESK_INTAKE_CRASH_AT"))
	var wg sync.WaitGroup
	for _, mb := range cfg.Mailboxes {
		p := &intake.Poller{Mailbox: mb, Processor: proc, Store: b.store, Concurrency: cfg.MailConcurrency,
			Log: slog.Default().With("component", "intake")}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Run(ctx)
		}()
	}
	slog.Info("intake polling", "mailboxes", len(cfg.Mailboxes))
	return wg.Wait
}

// crashHook is fault injection for the exactly-once tests:
// HELPDESK_INTAKE_CRASH_AT=point[:n] kills the process with SIGKILL the n-th
// time (default 1st) processing reaches point (parsed, claimed, payload, attached,
// commented, reserved, created, finished, durable, marked). Unset in
// production.
func crashHook(spec string) func(string) {
	if spec == "" {
		return nil
	}
	point, nth, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nth)
	if err != nil || n < 1 {
		n = 1
	}
	var hits atomic.Int64
	slog.Warn("fault injection on: intake kills itself", "at", point, "hit", n)
	return func(at string) {
		if at == point && hits.Add(1) == int64(n) {
			fmt.Fprintf(os.Stderr, "intake: crash point %s reached (hit %d): SIGKILL\n", at, n)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/worker"
)

// runPolicy applies the configured lifecycle policy (SLA targets, business
// calendar, escalation rules, expiry, auto-close, reopen window) to every
// open ticket; new tickets pick it up on their own.
func runPolicy(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) == 0 || args[0] != "apply" {
		return errors.New("usage: helpdesk policy apply [--where 'TicketPriority = \"high\"']")
	}
	fs := flag.NewFlagSet("policy apply", flag.ContinueOnError)
	where := fs.String("where", "", "only tickets matching this Temporal visibility query")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		Logger: sdklog.NewStructuredLogger(slog.Default().With("component", "temporal-sdk")),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	n, err := worker.ApplyPolicy(ctx, c, cfg.TemporalNamespace, worker.PolicyFromConfig(cfg), *where)
	if err != nil {
		return err
	}
	fmt.Printf("policy applied to %d open tickets\n", n)
	return nil
}

// Command helpdesk is the one binary of the help desk: the API, the Temporal
// worker, migrations, and `dev`, which runs everything locally.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/helpdesk/helpdesk/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, cfg config.Config, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run everything locally: Temporal (+ Web UI), PostgreSQL, Elasticsearch, worker and API", runDev},
		{"api", "serve the HTTP API and web UI", runAPI},
		{"worker", "run the Temporal worker for ticket workflows", runWorker},
		{"intake", "watch the configured mailboxes (IMAP) and turn mail into tickets and comments", runIntake},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"users", "manage accounts: users create --email E --role R [--name N] [--password-stdin]", runUsers},
		{"policy", "policy apply: send the configured SLA and escalation policy to every open ticket", runPolicy},
		{"audit", "audit verify: check the audit log's hash chain; exit 1 naming the first bad row", runAudit},
		{"reindex", "rebuild the search index from PostgreSQL while writes go on, then swap it in: reindex [-keep-old] [-page-size N]", runReindex},
		{"config", "config check [-config FILE]: validate a configuration and print the values in effect (secrets redacted)", nil},
		{"version", "print the version", nil},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: helpdesk [-config FILE] <command>\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nConfiguration: -config FILE (or HELPDESK_CONFIG) plus HELPDESK_* environment overrides; see README.\n")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("helpdesk", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	configPath := fs.String("config", os.Getenv("HELPDESK_CONFIG"), "path to the YAML config file")
	fs.Usage = func() { usage(os.Stderr) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		usage(os.Stderr)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "version" {
		fmt.Println(versionString())
		return 0
	}
	if name == "config" {
		// Before loading: a bad configuration is what it reports on.
		return runConfig(*configPath, rest, os.Stdout, os.Stderr)
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(os.Stderr, "helpdesk: unknown command %q\n\n", name)
		usage(os.Stderr)
		return 2
	}
	cfg, err := config.Load(*configPath, os.Environ())
	if err != nil {
		fmt.Fprintf(os.Stderr, "helpdesk: %v\n", err)
		return 1
	}
	slog.SetDefault(newLogger(cfg.LogLevel))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, cfg, rest); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "helpdesk %s: %v\n", name, err)
		return 1
	}
	return 0
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return "helpdesk " + v
}

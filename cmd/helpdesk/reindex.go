package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/search"
)

const reindexUsage = "usage: helpdesk reindex [-keep-old] [-page-size N]"

// runReindex is `helpdesk reindex`: build a new version of the search
// index from PostgreSQL while the help desk keeps running, point the alias
// at it, replay what changed meanwhile and delete the old version
// (docs/search-index.md).
func runReindex(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	keepOld := fs.Bool("keep-old", false, "keep the previous index version instead of deleting it")
	pageSize := fs.Int("page-size", 1000, "tickets per PostgreSQL read")
	if err := fs.Parse(args); err != nil {
		return errors.New(reindexUsage)
	}
	if fs.NArg() > 0 || *pageSize < 1 {
		return errors.New(reindexUsage)
	}
	if cfg.ElasticsearchURL == "" {
		return &config.OptionError{Option: "elasticsearch_url", Reason: "must be set (http://…)"}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ix, err := search.New(cfg.ElasticsearchURL, cfg.ElasticsearchIndex)
	if err != nil {
		return err
	}
	ix.SetStore(st)
	res, err := search.Reindex(ctx, ix, st, search.ReindexOptions{KeepOld: *keepOld, PageSize: *pageSize,
		Progress: printProgress(os.Stdout, ix.Name())})
	if errors.Is(err, search.ErrRebuildRunning) {
		return fmt.Errorf("another process is rebuilding or upgrading %s; run this again once it is done", ix.Name())
	}
	if err != nil {
		return err
	}
	printResult(os.Stdout, ix.Name(), res)
	return nil
}

// printProgress prints the load at most once a second, and each step.
func printProgress(w io.Writer, alias string) func(search.ReindexProgress) {
	var last time.Time
	started := false
	return func(p search.ReindexProgress) {
		if !started {
			started = true
			fmt.Fprintf(w, "building %s from PostgreSQL (%d tickets) while %s keeps serving\n", p.Index, p.Total, alias)
		}
		switch p.Step {
		case search.StepLoad:
			if time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			fmt.Fprintf(w, "  loaded %d/%d tickets (%.0f docs/s)\n", p.Loaded, p.Total, float64(p.Loaded)/p.Elapsed.Seconds())
		case search.StepSwap:
			fmt.Fprintf(w, "  loaded %d tickets; %s now points at %s\n", p.Loaded, alias, p.Index)
		case search.StepReplay:
			fmt.Fprintf(w, "  replayed %d tickets changed during the load\n", p.Replayed)
		}
	}
}

func printResult(w io.Writer, alias string, r search.ReindexResult) {
	switch {
	case len(r.Previous) == 0:
	case r.Deleted:
		fmt.Fprintf(w, "  deleted %s\n", strings.Join(r.Previous, ", "))
	default:
		fmt.Fprintf(w, "  kept %s (no longer behind %s; delete it when you no longer need it)\n", strings.Join(r.Previous, ", "), alias)
	}
	if len(r.Leftovers) > 0 {
		fmt.Fprintf(w, "  note: %s also exist beside the alias (kept earlier or left by an interrupted rebuild); delete them when you no longer need them\n",
			strings.Join(r.Leftovers, ", "))
	}
	fmt.Fprintf(w, "reindexed %d tickets into %s in %.1f s (%.0f docs/s), %d replayed\n",
		r.Loaded, r.Index, r.Elapsed.Seconds(), r.DocsPerSecond(), r.Replayed)
}

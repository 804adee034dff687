package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/store"
)

// A rebuild (docs/search-index.md, "Reindex") loads a new version of the
// index from PostgreSQL while the help desk keeps writing through the
// alias to the current one, swaps the alias in one atomic request, then
// replays every ticket whose event sequence in PostgreSQL is past the one
// the load wrote (or that the load never saw): those are exactly the
// tickets whose writes may have gone to the old index. Writes are
// versioned by event sequence, so a replay that overlaps a live write
// cannot put an older state back.

// ErrRebuildRunning says another process is rebuilding (or upgrading) the
// index: it holds the PostgreSQL advisory lock.
var ErrRebuildRunning = errors.New("search: another process is rebuilding the index")

// ReindexOptions tune a rebuild.
type ReindexOptions struct {
	// PageSize is how many tickets one PostgreSQL read fetches; default 1000.
	PageSize int
	// KeepOld keeps the previous version (no longer behind the alias)
	// instead of deleting it. A concrete index of an earlier version
	// cannot be kept: the alias takes its name.
	KeepOld bool
	// Progress, when set, hears after every page loaded and at each step.
	Progress func(ReindexProgress)
}

// Steps of a rebuild, as Progress reports them.
const (
	StepLoad   = "load"   // after each page written to the new index
	StepSwap   = "swap"   // the alias now points at the new index
	StepReplay = "replay" // changes made during the load are in too
	StepDone   = "done"   // the previous version is deleted (or kept)
)

// ReindexProgress is where a rebuild is.
type ReindexProgress struct {
	Step  string
	Index string // the version being built
	// Loaded tickets of Total (counted when the load began; tickets
	// created since then make Loaded end above it); Last is the highest
	// ticket number loaded so far.
	Loaded, Total, Last int64
	Replayed            int64
	Elapsed             time.Duration
}

// ReindexResult reports a rebuild.
type ReindexResult struct {
	// Index is the new version, now behind the alias.
	Index string
	// Previous is what the alias pointed at before (or the concrete index
	// the upgrade replaced); Deleted says whether it is gone.
	Previous []string
	Deleted  bool
	// Loaded is the tickets the load wrote, Replayed those written again
	// after the swap because they changed during the load.
	Loaded, Replayed int64
	// Leftovers are other versions found beside the alias (kept by
	// KeepOld or left by an interrupted rebuild); they are not touched.
	Leftovers []string
	// LoadTime is the load's share of Elapsed.
	LoadTime, Elapsed time.Duration
}

// DocsPerSecond is the load's rate.
func (r ReindexResult) DocsPerSecond() float64 {
	if r.LoadTime <= 0 {
		return 0
	}
	return float64(r.Loaded) / r.LoadTime.Seconds()
}

// loadBulkBytes bounds one _bulk request of a rebuild (bigger requests
// than the live writer's: throughput is what counts here).
const loadBulkBytes = 8 << 20

// Reindex rebuilds the index from PostgreSQL into a new version while
// writes continue, swaps the alias to it atomically, replays the tickets
// that changed meanwhile and deletes the previous version (unless
// opts.KeepOld). A concrete index of an earlier version is replaced the
// same way. Only one process rebuilds at a time (a PostgreSQL advisory
// lock); another gets ErrRebuildRunning. Before the swap a failure
// deletes the half-built index and leaves the alias alone.
func Reindex(ctx context.Context, ix *Index, st *store.Store, opts ReindexOptions) (ReindexResult, error) {
	release, ok, err := st.TryLock(ctx, "helpdesk-search-rebuild:"+ix.name)
	if err != nil {
		return ReindexResult{}, fmt.Errorf("search: rebuild: %w", err)
	}
	if !ok {
		return ReindexResult{}, ErrRebuildRunning
	}
	defer release()
	if opts.PageSize <= 0 {
		opts.PageSize = 1000
	}
	r := &rebuild{ix: ix, st: st, opts: opts, start: time.Now(), mapped: map[string]bool{}}
	err = r.run(ctx)
	return r.res, err
}

// rebuild is one Reindex run.
type rebuild struct {
	ix    *Index
	st    *store.Store
	opts  ReindexOptions
	start time.Time
	res   ReindexResult
	total int64
	// numbers and seqs are what the load wrote, in number order.
	numbers, seqs []int64
	// mapped holds the custom field keys mapped in the new index (and
	// keys no field defines, which stay unmapped).
	mapped map[string]bool
}

func (r *rebuild) run(ctx context.Context) error {
	ix := r.ix
	if err := ix.putTemplate(ctx); err != nil {
		return err
	}
	l, err := ix.layout(ctx)
	if err != nil {
		return err
	}
	if len(l.current) == 0 && !l.legacy {
		// Nothing to swap from: first bind the name (EnsureIndex's empty
		// version), so no write meanwhile creates a concrete index of it.
		if err := ix.create(ctx, l); err != nil {
			return err
		}
		if l, err = ix.layout(ctx); err != nil {
			return err
		}
	}
	r.res.Index = ix.versionName(l.next())
	r.res.Previous = l.current
	if l.legacy {
		r.res.Previous = []string{ix.name}
	}
	settings, err := r.liveSettings(ctx)
	if err != nil {
		return err
	}
	if err := r.createTarget(ctx); err != nil {
		return err
	}
	swapped := false
	defer func() {
		if !swapped {
			r.dropTarget()
		}
	}()
	if err := r.mapFields(ctx); err != nil {
		return err
	}
	if r.total, err = r.st.CountTickets(ctx); err != nil {
		return err
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	r.res.LoadTime = time.Since(r.start)
	res, err := ix.es.Indices.PutSettings(bytes.NewReader(settings), ix.es.Indices.PutSettings.WithIndex(r.res.Index),
		ix.es.Indices.PutSettings.WithContext(ctx))
	if err := answer(res, err, "restore the settings of "+r.res.Index); err != nil {
		return err
	}
	// Fields created during the load whose mapping did not reach the new
	// index (their creator's put-mapping failed) are mapped before the
	// swap; their values load on the tickets' replay or next write.
	if err := r.mapFields(ctx); err != nil {
		return err
	}
	if err := r.swap(ctx, l.legacy); err != nil {
		return err
	}
	swapped = true
	r.report(StepSwap)
	if err := r.replay(ctx); err != nil {
		return fmt.Errorf("%w (the alias %s already points at %s; run the rebuild again so nothing is missing, and delete %s once it succeeded)",
			err, ix.name, r.res.Index, strings.Join(r.res.Previous, ", "))
	}
	r.report(StepReplay)
	if l.legacy {
		r.res.Deleted = true // the swap removed it
	} else if len(r.res.Previous) > 0 && !r.opts.KeepOld {
		res, err := ix.es.Indices.Delete(r.res.Previous, ix.es.Indices.Delete.WithContext(ctx))
		if err := answer(res, err, "delete "+strings.Join(r.res.Previous, ", ")); err != nil {
			return err
		}
		r.res.Deleted = true
	}
	for _, v := range l.versions {
		if name := ix.versionName(v); !slices.Contains(r.res.Previous, name) {
			r.res.Leftovers = append(r.res.Leftovers, name)
		}
	}
	if err := ix.Refresh(ctx); err != nil {
		return err
	}
	r.res.Elapsed = time.Since(r.start)
	r.report(StepDone)
	return nil
}

func (r *rebuild) report(step string) {
	if r.opts.Progress == nil {
		return
	}
	var last int64
	if n := len(r.numbers); n > 0 {
		last = r.numbers[n-1]
	}
	r.opts.Progress(ReindexProgress{Step: step, Index: r.res.Index, Loaded: r.res.Loaded, Total: r.total,
		Last: last, Replayed: r.res.Replayed, Elapsed: time.Since(r.start)})
}

// liveSettings is what the new index returns to after its load: the
// replicas and refresh interval of the version it replaces, so an
// operator's tuning survives a rebuild; the template's where there is no
// previous version or it does not set them.
func (r *rebuild) liveSettings(ctx context.Context) ([]byte, error) {
	s := map[string]json.RawMessage{"number_of_replicas": template.Settings.Replicas, "refresh_interval": template.Settings.Refresh}
	if len(r.res.Previous) > 0 {
		ix := r.ix
		res, err := ix.es.Indices.GetSettings(ix.es.Indices.GetSettings.WithIndex(r.res.Previous[0]),
			ix.es.Indices.GetSettings.WithName("index.number_of_replicas", "index.refresh_interval"),
			ix.es.Indices.GetSettings.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("search: read the settings of %s: %w", r.res.Previous[0], err)
		}
		defer res.Body.Close()
		if res.IsError() {
			return nil, answer(res, nil, "read the settings of "+r.res.Previous[0])
		}
		var out map[string]struct {
			Settings struct {
				Index map[string]json.RawMessage `json:"index"`
			} `json:"settings"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			return nil, fmt.Errorf("search: read the settings of %s: %w", r.res.Previous[0], err)
		}
		for _, v := range out {
			for k, val := range v.Settings.Index {
				s[k] = val
			}
		}
	}
	return json.Marshal(map[string]any{"index": s})
}

// createTarget creates the new version with no replica and no refresh
// while it loads (the template gives everything else).
func (r *rebuild) createTarget(ctx context.Context) error {
	ix := r.ix
	res, err := ix.es.Indices.Create(r.res.Index,
		ix.es.Indices.Create.WithBody(strings.NewReader(`{"settings": {"index": {"number_of_replicas": 0, "refresh_interval": "-1"}}}`)),
		ix.es.Indices.Create.WithContext(ctx))
	return answer(res, err, "create index "+r.res.Index)
}

// dropTarget deletes a new version that never got behind the alias. The
// caller's context may be what ended, so it has its own.
func (r *rebuild) dropTarget() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ix := r.ix
	res, err := ix.es.Indices.Delete([]string{r.res.Index}, ix.es.Indices.Delete.WithContext(ctx))
	if err := answer(res, err, "delete the unfinished "+r.res.Index); err != nil {
		slog.Warn("search: rebuild failed; delete its index by hand", "index", r.res.Index, "err", err)
	}
}

// mapFields maps every custom field in the new index (and the others).
func (r *rebuild) mapFields(ctx context.Context) error {
	fields, err := r.st.CustomFields(ctx)
	if err != nil {
		return fmt.Errorf("search: rebuild: %w", err)
	}
	if err := r.ix.mapFields(ctx, fields); err != nil {
		return err
	}
	for _, f := range fields {
		r.mapped[f.Key] = true
	}
	return nil
}

// mapKeys maps the fields again when tickets about to load hold a value
// of a key this rebuild has not mapped: a field created since.
func (r *rebuild) mapKeys(ctx context.Context, tickets []store.SearchTicket) error {
	var unseen []string
	for _, t := range tickets {
		for k := range t.Ticket.CustomFields {
			if !r.mapped[k] {
				unseen = append(unseen, k)
			}
		}
	}
	if len(unseen) == 0 {
		return nil
	}
	if err := r.mapFields(ctx); err != nil {
		return err
	}
	// A key no field defines stays unmapped (dynamic: false); do not look
	// it up again.
	for _, k := range unseen {
		r.mapped[k] = true
	}
	return nil
}

// load writes every ticket into the new index, reading the next page from
// PostgreSQL while the last one is written.
func (r *rebuild) load(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan []store.SearchTicket, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(pages)
		var after int64
		for {
			page, err := r.st.SearchPage(ctx, after, r.opts.PageSize)
			if err != nil {
				readErr <- err
				return
			}
			if len(page) == 0 {
				return
			}
			select {
			case pages <- page:
			case <-ctx.Done():
				return
			}
			after = page[len(page)-1].Ticket.Number
		}
	}()
	for page := range pages {
		if err := r.write(ctx, page); err != nil {
			return err
		}
		for _, t := range page {
			r.numbers = append(r.numbers, t.Ticket.Number)
			r.seqs = append(r.seqs, t.Ticket.Seq)
		}
		r.res.Loaded += int64(len(page))
		r.report(StepLoad)
	}
	select {
	case err := <-readErr:
		return err
	default:
		return ctx.Err()
	}
}

// write puts tickets into the new index at their event sequences, in
// _bulk requests of at most loadBulkBytes. A ticket the index holds at the
// same or a later sequence already is left as it is.
func (r *rebuild) write(ctx context.Context, tickets []store.SearchTicket) error {
	if err := r.mapKeys(ctx, tickets); err != nil {
		return err
	}
	var body bytes.Buffer
	var numbers []int64
	flush := func() error {
		if len(numbers) == 0 {
			return nil
		}
		items, err := r.ix.bulk(ctx, &body, len(numbers))
		if err != nil {
			return fmt.Errorf("search: rebuild %s: %w", r.res.Index, err)
		}
		for i, it := range items {
			if it.Status >= 300 && it.Status != http.StatusConflict {
				return fmt.Errorf("search: rebuild %s: ticket %d: status %d: %s: %s", r.res.Index, numbers[i], it.Status, it.Error.Type, it.Error.Reason)
			}
		}
		body.Reset()
		numbers = numbers[:0]
		return nil
	}
	for _, t := range tickets {
		doc, err := json.Marshal(DocumentFor(t.Ticket, t.Extras))
		if err != nil {
			return fmt.Errorf("search: encode ticket %d: %w", t.Ticket.Number, err)
		}
		fmt.Fprintf(&body, `{"index":{"_index":%q,"_id":"%d","version":%d,"version_type":"external"}}`+"\n",
			r.res.Index, t.Ticket.Number, t.Ticket.Seq)
		body.Write(doc)
		body.WriteByte('\n')
		numbers = append(numbers, t.Ticket.Number)
		if body.Len() >= loadBulkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// swap points the alias at the new index and away from the previous one
// in one request: a write through the alias goes to one or the other,
// never to neither. Removing the previous binding must succeed (must_exist
// or remove_index), so if someone changed the alias meanwhile nothing
// changes and the rebuild fails.
func (r *rebuild) swap(ctx context.Context, legacy bool) error {
	ix := r.ix
	actions := []any{map[string]any{"add": map[string]any{"index": r.res.Index, "alias": ix.name}}}
	if legacy {
		actions = append(actions, map[string]any{"remove_index": map[string]any{"index": ix.name}})
	} else {
		for _, p := range r.res.Previous {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": p, "alias": ix.name, "must_exist": true}})
		}
	}
	body, err := json.Marshal(map[string]any{"actions": actions})
	if err != nil {
		return err
	}
	res, err := ix.es.Indices.UpdateAliases(bytes.NewReader(body), ix.es.Indices.UpdateAliases.WithContext(ctx))
	return answer(res, err, "point "+ix.name+" at "+r.res.Index)
}

// replay writes again every ticket PostgreSQL holds at a later event
// sequence than the load wrote, and every ticket the load did not see
// (created, or first committed, after the load passed its number). The
// alias points at the new index by now, so each such ticket's last write
// before the swap may have gone to the old index; every write after the
// swap comes here anyway.
func (r *rebuild) replay(ctx context.Context) error {
	var changed []int64
	i := 0
	err := r.st.TicketSeqs(ctx, func(number, seq int64) error {
		for i < len(r.numbers) && r.numbers[i] < number {
			i++
		}
		if i < len(r.numbers) && r.numbers[i] == number && r.seqs[i] >= seq {
			return nil
		}
		changed = append(changed, number)
		return nil
	})
	if err != nil {
		return err
	}
	for len(changed) > 0 {
		n := min(len(changed), r.opts.PageSize)
		tickets, err := r.st.SearchDocuments(ctx, changed[:n])
		if err != nil {
			return err
		}
		if err := r.write(ctx, tickets); err != nil {
			return err
		}
		r.res.Replayed += int64(len(tickets))
		changed = changed[n:]
	}
	return nil
}

// logProgress logs a rebuild's progress at most every few seconds.
func logProgress() func(ReindexProgress) {
	var last time.Time
	return func(p ReindexProgress) {
		if p.Step == StepLoad && time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		slog.Info("search: rebuilding", "index", p.Index, "step", p.Step, "loaded", p.Loaded, "of", p.Total,
			"replayed", p.Replayed, "seconds", strconv.FormatFloat(p.Elapsed.Seconds(), 'f', 1, 64))
	}
}

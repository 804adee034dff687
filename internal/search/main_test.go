package search_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/testsuite"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc/pgtest"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// The index tests share one private PostgreSQL (a database per test) and
// one Elasticsearch, started by the first test that needs it: the
// package's unit tests do not wait for it.
var (
	pg      *localsvc.Postgres
	esOnce  sync.Once
	es      *localsvc.Elasticsearch
	esErr   error
	esDir   string
	dbSeq   atomic.Int64
	nameSeq atomic.Int64
)

func TestMain(m *testing.M) {
	pgtest.Main(m, "search", func(ctx context.Context, p *localsvc.Postgres) (func(), error) {
		pg = p
		return func() {
			if es != nil {
				_ = es.Stop()
			}
			if esDir != "" {
				os.RemoveAll(esDir)
			}
		}, nil
	})
}

func elasticsearchURL(t *testing.T) string {
	t.Helper()
	esOnce.Do(func() {
		if esDir, esErr = os.MkdirTemp("", "helpdesk-search-es-"); esErr != nil {
			return
		}
		var port int
		if port, esErr = localsvc.FreePort(); esErr != nil {
			return
		}
		es, esErr = localsvc.StartElasticsearch(context.Background(),
			localsvc.ElasticsearchOptions{DataDir: filepath.Join(esDir, "data"), Port: port})
	})
	if esErr != nil {
		t.Fatalf("start Elasticsearch: %v", esErr)
	}
	return es.URL()
}

// env is one test's help desk: a fresh database, an index alias of its
// own, and the ticket activities writing to both as the worker's do.
type env struct {
	t     *testing.T
	st    *store.Store
	pool  *pgxpool.Pool
	ix    *search.Index
	url   string
	acts  *activities.Tickets
	pol   lifecycle.Policy
	clock atomic.Int64 // seconds added to the base time, so events move on
	base  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	url := elasticsearchURL(t)
	name := fmt.Sprintf("search_test_%d", dbSeq.Add(1))
	admin, err := pgxpool.New(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.Exec(ctx, `CREATE DATABASE `+name)
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Migrate(ctx, pg.URLFor(name)); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, pg.URLFor(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	e := &env{t: t, st: st, pool: st.Pool(), url: url, pol: lifecycle.Policy{Transitions: ticket.DefaultTransitions()},
		base: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	e.ix = e.index(fmt.Sprintf("tickets-%d-%d", time.Now().UnixNano(), nameSeq.Add(1)))
	e.acts = &activities.Tickets{Store: st, Index: e.ix}
	return e
}

// index is an Index named alias on the test's database.
func (e *env) index(alias string) *search.Index {
	e.t.Helper()
	ix, err := search.New(e.url, alias)
	if err != nil {
		e.t.Fatal(err)
	}
	ix.SetStore(e.st)
	return ix
}

func (e *env) now() time.Time {
	return e.base.Add(time.Duration(e.clock.Add(1)) * time.Second)
}

// writer runs the ticket activities as the worker does, in a test
// activity environment of its own (one per goroutine), and tracks the
// workflow state of the tickets it writes (one writer per ticket, as one
// workflow per ticket).
type writer struct {
	e      *env
	act    *testsuite.TestActivityEnvironment
	states map[int64]*lifecycle.State
}

func (e *env) writer() *writer {
	var suite testsuite.WorkflowTestSuite
	act := suite.NewTestActivityEnvironment()
	act.RegisterActivity(e.acts)
	return &writer{e: e, act: act, states: map[int64]*lifecycle.State{}}
}

// run executes one activity and decodes its result into out (nil: none).
func (w *writer) run(fn, in, out any) error {
	val, err := w.act.ExecuteActivity(fn, in)
	if err != nil || out == nil {
		return err
	}
	return val.Get(out)
}

// indexed does what the workflow does when a write's inline index did
// not happen: it runs the retrying IndexTicket activity.
func (w *writer) indexed(number int64, inline bool) error {
	if inline {
		return nil
	}
	var err error
	for i := 0; i < 20; i++ {
		if err = w.run(w.e.acts.IndexTicket, number, nil); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// create opens a ticket the way the API and the workflow do: the draft
// reserved under an idempotency key, then PersistCreated.
func (w *writer) create(d ticket.Draft) (int64, error) {
	ctx := context.Background()
	if d.Priority == "" {
		d.Priority = ticket.PriorityMedium
	}
	key := fmt.Sprintf("search-test-%d-%d", time.Now().UnixNano(), nameSeq.Add(1))
	hash := sha256.Sum256([]byte(key))
	r, err := w.e.st.ReserveTicketNumber(ctx, key, hash[:], d, time.Hour)
	if err != nil {
		return 0, err
	}
	at := w.e.now()
	var res activities.PersistResult
	in := activities.PersistCreatedInput{Number: r.Number, Seq: 1, Status: ticket.StatusOpen, Priority: d.Priority,
		AssigneeID: d.AssigneeID, CreatedAt: at, Actor: "system"}
	if err := w.run(w.e.acts.PersistCreated, in, &res); err != nil {
		return 0, err
	}
	w.states[r.Number] = &lifecycle.State{Number: r.Number, Status: ticket.StatusOpen, Priority: d.Priority,
		AssigneeID: d.AssigneeID, TeamID: d.TeamID, RequesterID: d.RequesterID, CategoryID: d.CategoryID,
		Seq: 1, CreatedAt: at, Persisted: true, Fired: map[string]bool{}, BreachedAt: map[lifecycle.Clock]time.Time{}}
	return r.Number, w.indexed(r.Number, res.Indexed)
}

var agent = lifecycle.Actor{UserID: 0, Role: ticket.RoleAgent}

// apply writes a plan through the Apply activity and adopts its state.
func (w *writer) apply(pl lifecycle.Plan, at time.Time, requestID string) error {
	if len(pl.Events) == 0 { // nothing changes (the workflow writes nothing either)
		return nil
	}
	cal := w.e.pol.BusinessCalendar()
	var res activities.ApplyResult
	if err := w.run(w.e.acts.Apply, pl.Change(at, agent, requestID, w.e.pol, cal), &res); err != nil {
		return err
	}
	*w.states[pl.State.Number] = pl.State
	return w.indexed(pl.State.Number, res.Indexed)
}

// change plans and applies a change request on one of w's tickets.
func (w *writer) change(number int64, req lifecycle.ChangeRequest) error {
	at := w.e.now()
	req.Actor = agent
	pl, err := lifecycle.PlanChange(*w.states[number], w.e.pol, w.e.pol.BusinessCalendar(), req, nil, at)
	if err != nil {
		return err
	}
	return w.apply(pl, at, req.RequestID)
}

// comment adds a public comment or an internal note.
func (w *writer) comment(number int64, body string, internal bool) error {
	ctx := context.Background()
	at := w.e.now()
	id := fmt.Sprintf("comment-%d-%d", number, nameSeq.Add(1))
	if err := w.e.st.PutRequestPayload(ctx, id, number, map[string]any{"body": body}); err != nil {
		return err
	}
	pl, err := lifecycle.PlanComment(*w.states[number], w.e.pol, w.e.pol.BusinessCalendar(),
		lifecycle.CommentRequest{RequestID: id, Actor: agent, Internal: internal}, at)
	if err != nil {
		return err
	}
	return w.apply(pl, at, id)
}

// breach records an SLA breach, as the workflow's deadline timer does.
func (w *writer) breach(number int64) error {
	at := w.e.now()
	st := lifecycle.CloneState(*w.states[number])
	st.Seq++
	cal := w.e.pol.BusinessCalendar()
	ch := lifecycle.Change{Number: number, At: at, Actor: "system", Row: lifecycle.Row(st, w.e.pol, cal),
		Events: []lifecycle.Event{{TicketNumber: number, Seq: st.Seq, Kind: ticket.EventSLABreached, Actor: "system", CreatedAt: at,
			Data: ticket.SLABreached{Clock: "resolution", DueAt: at, Priority: st.Priority}}}}
	var res activities.ApplyResult
	if err := w.run(w.e.acts.Apply, ch, &res); err != nil {
		return err
	}
	*w.states[number] = st
	return w.indexed(number, res.Indexed)
}

// es sends one request to Elasticsearch and decodes the answer into out
// (nil: none); it returns the status.
func (e *env) es(method, path, body string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return res.StatusCode
}

// aliased lists the indices a name resolves to: those behind it when it
// is an alias, itself when it is an index.
func (e *env) aliased(name string) []string {
	e.t.Helper()
	var out map[string]any
	if code := e.es("GET", "/"+name+"/_alias", "", &out); code != http.StatusOK {
		return nil
	}
	var names []string
	for n := range out {
		names = append(names, n)
	}
	return names
}

// exists reports whether an index (or alias) of that name exists.
func (e *env) exists(name string) bool {
	return e.es("HEAD", "/"+name, "", nil) == http.StatusOK
}

// matchesPostgres checks that the index behind ix holds exactly the
// tickets PostgreSQL holds, each as DocumentFor makes it from its current
// state, at its event sequence.
func (e *env) matchesPostgres(ix *search.Index) {
	e.t.Helper()
	ctx := context.Background()
	var numbers []int64
	if err := e.st.TicketSeqs(ctx, func(n, _ int64) error { numbers = append(numbers, n); return nil }); err != nil {
		e.t.Fatal(err)
	}
	tickets, err := e.st.SearchDocuments(ctx, numbers)
	if err != nil {
		e.t.Fatal(err)
	}
	bad := 0
	for _, tk := range tickets {
		doc, version, err := ix.Get(ctx, tk.Ticket.Number)
		if err != nil {
			e.t.Errorf("ticket %d (seq %d) is not in the index: %v", tk.Ticket.Number, tk.Ticket.Seq, err)
			bad++
		} else {
			got, _ := json.Marshal(doc)
			want, _ := json.Marshal(search.DocumentFor(tk.Ticket, tk.Extras))
			if version != tk.Ticket.Seq || !bytes.Equal(got, want) {
				e.t.Errorf("ticket %d: index holds version %d\n%s\nPostgreSQL has seq %d\n%s", tk.Ticket.Number, version, got, tk.Ticket.Seq, want)
				bad++
			}
		}
		if bad > 5 {
			e.t.Fatal("more tickets differ")
		}
	}
	if err := ix.Refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
	var count struct {
		Count int `json:"count"`
	}
	e.es("GET", "/"+ix.Name()+"/_count", "", &count)
	if count.Count != len(tickets) {
		e.t.Errorf("the index holds %d documents, PostgreSQL %d tickets", count.Count, len(tickets))
	}
}

package search_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// legacyMapping is the mapping of the concrete index that versions before
// the alias created (search.go at 34ea590).
const legacyMapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "id": {"type": "long"}, "subject": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
      "description": {"type": "text"}, "status": {"type": "keyword"}, "priority": {"type": "keyword"},
      "priority_rank": {"type": "byte"}, "assignee": {"type": "keyword"}, "assignee_id": {"type": "long"},
      "sla_due_at": {"type": "date"}, "escalation_level": {"type": "integer"}, "requester_id": {"type": "long"},
      "team_id": {"type": "long"}, "requester_org_id": {"type": "long"}, "category_id": {"type": "long"},
      "tags": {"type": "keyword"}, "channel": {"type": "keyword"}, "cf": {"type": "object", "dynamic": false},
      "created_at": {"type": "date"}, "updated_at": {"type": "date"}, "seq": {"type": "long"}
    }
  }
}`

func ptr[T any](v T) *T { return &v }

// An installation from before the alias has a concrete index under the
// configured name. EnsureIndex upgrades it: name-v1 built from PostgreSQL
// with every ticket in its current state and the new fields, the name now
// an alias, the old index gone. While another process holds the upgrade,
// a process goes on writing to the old index, which takes the new fields.
func TestEnsureIndexUpgradesAConcreteIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ident := identity.New(e.pool)
	ann, err := ident.CreateUser(ctx, identity.NewUser{Email: "ann@corp.example", Name: "Ann", Role: identity.RoleRequester})
	if err != nil {
		t.Fatal(err)
	}
	// Tickets written by an earlier version: a seed index stands in for
	// its writes; their old documents are copied into the concrete index.
	seed := e.index(e.ix.Name() + "-seed")
	if err := seed.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	e.acts.Index = seed
	w := e.writer()
	var numbers []int64
	for i := 0; i < 30; i++ {
		n, err := w.create(ticket.Draft{Subject: fmt.Sprintf("old ticket %d", i), RequesterID: &ann.ID})
		if err != nil {
			t.Fatal(err)
		}
		numbers = append(numbers, n)
	}
	legacy := e.ix.Name()
	if code := e.es("PUT", "/"+legacy, legacyMapping, nil); code != 200 {
		t.Fatalf("create the old index: %d", code)
	}
	var bulk strings.Builder
	for _, n := range numbers[:20] { // the old index missed the last ten
		fmt.Fprintf(&bulk, `{"index":{"_index":%q,"_id":"%d","version":1,"version_type":"external"}}`+"\n", legacy, n)
		fmt.Fprintf(&bulk, `{"id":%d,"subject":"old ticket","status":"open","priority":"medium","seq":1}`+"\n", n)
	}
	if code := e.es("POST", "/_bulk?refresh=true", bulk.String(), nil); code != 200 {
		t.Fatalf("old documents: %d", code)
	}
	// One of them changed since: the upgrade must take PostgreSQL's state.
	if err := w.comment(numbers[0], "the printer jams again", false); err != nil {
		t.Fatal(err)
	}
	e.acts.Index = e.ix

	// Another process is upgrading: this one goes on with the old index.
	release, ok, err := e.st.TryLock(ctx, "helpdesk-search-rebuild:"+legacy)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	defer func() { release() }()
	if err := e.ix.EnsureIndex(ctx); err != nil {
		t.Fatalf("EnsureIndex while another process upgrades: %v", err)
	}
	if got := e.aliased(legacy); !slices.Equal(got, []string{legacy}) {
		t.Fatalf("%s resolves to %v before the upgrade, want the old index", legacy, got)
	}
	if err := w.comment(numbers[1], "written to the old index with the new fields", true); err != nil {
		t.Fatalf("a write to the old index during the upgrade: %v", err)
	}
	release()
	release = func() {}

	if err := e.ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.aliased(legacy); !slices.Equal(got, []string{legacy + "-v1"}) {
		t.Fatalf("%s resolves to %v, want %s-v1", legacy, got, legacy)
	}
	e.matchesPostgres(e.ix)
	doc, _, err := e.ix.Get(ctx, numbers[29])
	if err != nil || doc.RequesterEmail != "ann@corp.example" {
		t.Errorf("a ticket the old index missed: %+v %v", doc, err)
	}
	// The next start finds the alias and leaves it alone.
	if err := e.ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.aliased(legacy); !slices.Equal(got, []string{legacy + "-v1"}) {
		t.Errorf("after a second EnsureIndex %s resolves to %v", legacy, got)
	}
}

// helpdesk reindex under load: writers keep changing and creating tickets
// through the activities while the rebuild loads, swaps and replays. After
// it every ticket's document is its PostgreSQL state at its sequence:
// nothing missing, nothing stale; the old version is gone.
func TestReindexWhileWritesContinue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	const writers, tickets = 3, 240
	ws := make([]*writer, writers)
	owned := make([][]int64, writers)
	for i := range ws {
		ws[i] = e.writer()
	}
	for i := 0; i < tickets; i++ {
		k := i % writers
		n, err := ws[k].create(ticket.Draft{Subject: fmt.Sprintf("ticket %d", i), Description: "printer"})
		if err != nil {
			t.Fatal(err)
		}
		owned[k] = append(owned[k], n)
	}

	// target, when set, asks each writer for one change to a ticket the
	// load has passed already (numbered at most target): a write that
	// goes to the old index and must be replayed.
	var target atomic.Int64
	var hits, changes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for k := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, mine := ws[k], owned[k]
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			hit := false
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := mine[rng.IntN(len(mine))]
				if tg := target.Load(); tg != 0 && !hit {
					var passed []int64
					for _, m := range mine {
						if m <= tg {
							passed = append(passed, m)
						}
					}
					if len(passed) > 0 {
						n = passed[rng.IntN(len(passed))]
					}
				}
				var err error
				switch i % 5 {
				case 0:
					p := ticket.Priorities()[rng.IntN(4)]
					err = w.change(n, lifecycle.ChangeRequest{RequestID: fmt.Sprintf("p-%d-%d", n, i), Priority: &p})
				case 1:
					err = w.comment(n, fmt.Sprintf("reply %d from writer %d", i, k), false)
				case 2:
					err = w.comment(n, fmt.Sprintf("note %d", i), true)
				case 3:
					to := ticket.StatusInProgress
					if w.states[n].Status == to {
						to = ticket.StatusPending
					}
					err = w.change(n, lifecycle.ChangeRequest{RequestID: fmt.Sprintf("s-%d-%d", n, i), Status: &to})
				case 4:
					var m int64
					if m, err = w.create(ticket.Draft{Subject: fmt.Sprintf("created during the rebuild by %d", k)}); err == nil {
						mine = append(mine, m)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d, ticket %d: %w", k, n, err)
					return
				}
				changes.Add(1)
				if tg := target.Load(); tg != 0 && !hit && n <= tg && i%5 != 4 {
					hit = true
					hits.Add(1)
				}
			}
		}()
	}
	stopWriters := func() {
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}

	var swapAt, loadedAtSwap int64
	progress := func(p search.ReindexProgress) {
		switch {
		case p.Step == search.StepLoad && target.Load() == 0 && hits.Load() == 0:
			target.Store(p.Last)
			for deadline := time.Now().Add(30 * time.Second); hits.Load() < writers && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		case p.Step == search.StepSwap:
			swapAt, loadedAtSwap = changes.Load(), p.Loaded
		}
	}
	res, err := search.Reindex(ctx, e.ix, e.st, search.ReindexOptions{PageSize: 20, Progress: progress})
	if err != nil {
		stopWriters()
		t.Fatal(err)
	}
	// Writes go on a little after the swap, through the alias.
	for deadline := time.Now().Add(30 * time.Second); changes.Load() < swapAt+30 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stopWriters()

	t.Logf("loaded %d tickets, %d of them or new ones replayed, %d changes before the swap", res.Loaded, res.Replayed, swapAt)
	old := e.ix.Name() + "-v1"
	if res.Index != e.ix.Name()+"-v2" || !slices.Equal(res.Previous, []string{old}) || !res.Deleted {
		t.Errorf("result %+v", res)
	}
	if got := e.aliased(e.ix.Name()); !slices.Equal(got, []string{res.Index}) {
		t.Errorf("alias points at %v, want %s", got, res.Index)
	}
	if e.exists(old) {
		t.Errorf("%s still exists", old)
	}
	if res.Replayed < writers || loadedAtSwap < tickets {
		t.Errorf("loaded %d, replayed %d: the test did not exercise the replay", loadedAtSwap, res.Replayed)
	}
	e.matchesPostgres(e.ix)
}

// The document carries what the query language searches by: emails in
// lower case, team and category names, public comments apart from
// internal notes, and whether the SLA was ever breached. Each change,
// comments and notes included, moves the event sequence and rewrites the
// document.
func TestDocumentFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	ident := identity.New(e.pool)
	var ann int64 // an address as an identity provider sent it, mixed case
	if err := e.pool.QueryRow(ctx, `INSERT INTO users (email, name, role) VALUES ('Ann.Smith@Corp.Example', 'Ann', 'requester') RETURNING id`).Scan(&ann); err != nil {
		t.Fatal(err)
	}
	bob, err := ident.CreateUser(ctx, identity.NewUser{Email: "bob@helpdesk.example", Name: "Bob", Role: identity.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	team, err := ident.CreateTeam(ctx, "Service desk", nil, []int64{bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	hw, err := e.st.CreateCategory(ctx, "Hardware", nil)
	if err != nil {
		t.Fatal(err)
	}
	printers, err := e.st.CreateCategory(ctx, "Printers", &hw.ID)
	if err != nil {
		t.Fatal(err)
	}

	w := e.writer()
	n, err := w.create(ticket.Draft{Subject: "Paper jam", RequesterID: &ann, TeamID: &team.ID, CategoryID: &printers.ID})
	if err != nil {
		t.Fatal(err)
	}
	doc := e.doc(n, 1)
	if doc.RequesterEmail != "ann.smith@corp.example" || doc.TeamName != "Service desk" || doc.CategoryName != "Hardware / Printers" ||
		doc.AssigneeEmail != "" || doc.Breached || doc.PublicText != "" || doc.InternalText != "" {
		t.Errorf("new ticket: %+v", doc)
	}
	if err := w.change(n, lifecycle.ChangeRequest{RequestID: "assign", Assignee: &lifecycle.IDChange{ID: &bob.ID}}); err != nil {
		t.Fatal(err)
	}
	if doc := e.doc(n, 2); doc.AssigneeEmail != "bob@helpdesk.example" {
		t.Errorf("assigned: %+v", doc)
	}
	if err := w.comment(n, "The tray is empty, please refill it", false); err != nil {
		t.Fatal(err)
	}
	if err := w.comment(n, "Vendor contract XYZZY-42 covers this", true); err != nil {
		t.Fatal(err)
	}
	doc = e.doc(n, 4)
	if doc.PublicText != "The tray is empty, please refill it" || doc.InternalText != "Vendor contract XYZZY-42 covers this" {
		t.Errorf("comments: public %q, internal %q", doc.PublicText, doc.InternalText)
	}
	if err := w.breach(n); err != nil {
		t.Fatal(err)
	}
	if doc := e.doc(n, 5); !doc.Breached {
		t.Errorf("after an SLA breach: %+v", doc)
	}
	// The fields are searchable as the query language needs them:
	// emails whatever their case, names exactly, internal text only in
	// its own field.
	if err := e.ix.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		hits  int
	}{
		{`{"term": {"requester_email": "ANN.SMITH@corp.example"}}`, 1},
		{`{"term": {"assignee_email": "Bob@Helpdesk.Example"}}`, 1},
		{`{"term": {"team_name": "Service desk"}}`, 1},
		{`{"term": {"category_name": "Hardware / Printers"}}`, 1},
		{`{"term": {"breached": true}}`, 1},
		{`{"match": {"public_text": "refill"}}`, 1},
		{`{"match": {"public_text": "xyzzy"}}`, 0},
		{`{"match": {"internal_text": "xyzzy"}}`, 1},
	} {
		var out struct {
			Hits struct {
				Total struct {
					Value int `json:"value"`
				} `json:"total"`
			} `json:"hits"`
		}
		e.es("POST", "/"+e.ix.Name()+"/_search", `{"query": `+c.query+`}`, &out)
		if out.Hits.Total.Value != c.hits {
			t.Errorf("%s: %d hits, want %d", c.query, out.Hits.Total.Value, c.hits)
		}
	}

	// Comment text is bounded; the newest comments are the ones kept.
	long := strings.Repeat("lorem ipsum ", 60<<10/12)
	for i := 0; i < 5; i++ {
		if err := w.comment(n, long, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.comment(n, "Fixed by the new tray", false); err != nil {
		t.Fatal(err)
	}
	doc = e.doc(n, 11)
	if len(doc.PublicText) > store.MaxSearchText || !strings.HasPrefix(doc.PublicText, "Fixed by the new tray\n\n") {
		t.Errorf("public text of %d bytes starting %.40q", len(doc.PublicText), doc.PublicText)
	}
}

// doc reads a ticket's document and checks the index holds it at seq.
func (e *env) doc(n, seq int64) search.Document {
	e.t.Helper()
	doc, version, err := e.ix.Get(context.Background(), n)
	if err != nil {
		e.t.Fatal(err)
	}
	if version != seq || doc.Seq != seq {
		e.t.Fatalf("ticket %d: index at version %d (seq %d), want %d", n, version, doc.Seq, seq)
	}
	return doc
}

// A custom field created after the alias exists is mapped in the index
// behind it, and one created during a rebuild reaches the new version
// too: its values are searchable after the swap.
func TestCustomFieldsMappedThroughTheAlias(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	field := func(key string, typ catalog.FieldType) catalog.Field {
		f, err := e.st.SaveCustomField(ctx, catalog.Field{Key: key, Label: key, Type: typ, VisibleToRequester: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ix.MapField(ctx, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	setField := func(w *writer, n int64, key string, v any) {
		id := fmt.Sprintf("cf-%d-%s", n, key)
		if err := e.st.PutRequestPayload(ctx, id, n, map[string]any{"custom_fields": map[string]any{key: v}}); err != nil {
			t.Fatal(err)
		}
		if err := w.change(n, lifecycle.ChangeRequest{RequestID: id, Text: []string{"custom_fields"}}); err != nil {
			t.Fatal(err)
		}
	}
	find := func(ff search.FieldFilter) []int64 {
		t.Helper()
		if err := e.ix.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := e.ix.Search(ctx, search.Query{Fields: []search.FieldFilter{ff}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Numbers
	}

	asset := field("asset", catalog.TypeText)
	w := e.writer()
	var numbers []int64
	for i := 0; i < 30; i++ {
		n, err := w.create(ticket.Draft{Subject: fmt.Sprintf("laptop %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		numbers = append(numbers, n)
	}
	setField(w, numbers[3], asset.Key, "LAP-1234")
	if got := find(search.FieldFilter{Key: asset.Key, Type: asset.Type, Any: []any{"LAP-1234"}}); !slices.Equal(got, []int64{numbers[3]}) {
		t.Errorf("asset filter finds %v, want [%d]", got, numbers[3])
	}

	// During the load (the new version exists, not behind the alias yet) a
	// field is created and a ticket the load already passed gets a value.
	var seats catalog.Field
	progress := func(p search.ReindexProgress) {
		if p.Step == search.StepLoad && seats.ID == 0 {
			seats = field("seats", catalog.TypeNumber)
			setField(w, numbers[0], seats.Key, 12)
			// And a second rebuild meanwhile is refused.
			if _, err := search.Reindex(ctx, e.ix, e.st, search.ReindexOptions{}); !errors.Is(err, search.ErrRebuildRunning) {
				t.Errorf("a second rebuild during the first: %v", err)
			}
		}
	}
	res, err := search.Reindex(ctx, e.ix, e.st, search.ReindexOptions{PageSize: 10, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	var mapping map[string]any
	e.es("GET", "/"+res.Index+"/_mapping/field/cf.seats", "", &mapping)
	if !strings.Contains(fmt.Sprint(mapping), "double") {
		t.Errorf("cf.seats in %s: %v", res.Index, mapping)
	}
	if got := find(search.FieldFilter{Key: seats.Key, Type: seats.Type, GTE: 10.0}); !slices.Equal(got, []int64{numbers[0]}) {
		t.Errorf("seats >= 10 finds %v, want [%d]", got, numbers[0])
	}
	if got := find(search.FieldFilter{Key: asset.Key, Type: asset.Type, Any: []any{"LAP-1234"}}); !slices.Equal(got, []int64{numbers[3]}) {
		t.Errorf("after the rebuild the asset filter finds %v, want [%d]", got, numbers[3])
	}
	// A field created after the swap is mapped in the new version.
	field("urgent", catalog.TypeCheckbox)
	var after map[string]any
	e.es("GET", "/"+res.Index+"/_mapping/field/cf.urgent", "", &after)
	if !strings.Contains(fmt.Sprint(after), "boolean") {
		t.Errorf("cf.urgent in %s: %v", res.Index, after)
	}
}

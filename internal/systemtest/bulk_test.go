package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/bulk"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

func init() {
	matrixBodies["POST /api/v1/bulk"] = `{"ids":[999999],"change":{"priority":"high"}}`
}

// bulkJSON is GET /bulk/{id}'s answer.
type bulkJSON struct {
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Total      int            `json:"total"`
	Done       int            `json:"done"`
	Succeeded  int            `json:"succeeded"`
	Failed     int            `json:"failed"`
	Skipped    int            `json:"skipped"`
	Cancelled  int            `json:"cancelled"`
	CreatedBy  int64          `json:"created_by"`
	FinishedAt *time.Time     `json:"finished_at"`
	Error      *string        `json:"error"`
	Change     map[string]any `json:"change"`
	Failures   []struct {
		Ticket int64  `json:"ticket"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	} `json:"failures"`
}

// startBulk POSTs a bulk action as s and returns the job it answers.
func startBulk(t *testing.T, s *session, body string, headers ...string) bulkJSON {
	t.Helper()
	res := s.do(t, "POST", "/api/v1/bulk", body, headers...)
	mustStatus(t, res, http.StatusAccepted, "start bulk "+body)
	var j bulkJSON
	res.decode(t, &j)
	if j.ID == "" || res.header.Get("Location") != "/api/v1/bulk/"+j.ID {
		t.Fatalf("bulk answer %s, Location %q", res.body, res.header.Get("Location"))
	}
	return j
}

// waitBulk polls GET /bulk/{id} as s until the job ended.
func waitBulk(t *testing.T, s *session, id string, within time.Duration) bulkJSON {
	t.Helper()
	var j bulkJSON
	eventually(t, within, "bulk action "+id+" ends", func() error {
		res := s.do(t, "GET", "/api/v1/bulk/"+id, "")
		if res.status != http.StatusOK {
			return fmt.Errorf("GET: %d %s", res.status, res.body)
		}
		j = bulkJSON{}
		res.decode(t, &j)
		if j.State == bulk.StateRunning {
			return fmt.Errorf("still running: %d of %d done", j.Done, j.Total)
		}
		return nil
	})
	if j.Done != j.Succeeded+j.Failed+j.Skipped || j.Done+j.Cancelled != j.Total || j.FinishedAt == nil {
		t.Errorf("counts do not add up: %+v", j)
	}
	return j
}

// createTickets files n tickets as the admin (untriaged: every agent sees
// them), a few at a time, and returns their numbers in order.
func createTickets(t *testing.T, n int, subject string) []int64 {
	t.Helper()
	out := make([]int64, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	sem := make(chan struct{}, 8)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := createTicket(t, fmt.Sprintf(`{"subject":"%s %d"}`, subject, i))
			if res.status != http.StatusCreated {
				errs <- fmt.Sprintf("create %d: %d %s", i, res.status, res.body)
				return
			}
			var tk ticket.Ticket
			if err := json.Unmarshal(res.body, &tk); err != nil {
				errs <- err.Error()
				return
			}
			out[i] = tk.Number
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	return out
}

// bulkEvents counts, per ticket, the events bulk action id wrote of kind.
func bulkEvents(t *testing.T, id, kind string) map[int64]int {
	t.Helper()
	rows, err := env.store.Pool().Query(context.Background(),
		`SELECT ticket_number, count(*) FROM ticket_events WHERE bulk_id = $1 AND kind = $2 GROUP BY ticket_number`, id, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var n int64
		var c int
		if err := rows.Scan(&n, &c); err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func idsJSON(ns ...int64) string {
	b, _ := json.Marshal(ns)
	return string(b)
}

// TestBulkChecksEachTicketAsByHand: an agent's bulk change over tickets
// they may change, tickets whose change the rules refuse, and tickets they
// cannot see. Each ticket is decided as if the agent had changed it by
// hand: the ones allowed change (their history naming the bulk action),
// the others fail with their reason, a ticket already as asked is
// skipped, and a ticket of another team reads exactly like a number that
// names no ticket.
func TestBulkChecksEachTicketAsByHand(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	agent2 := login(t, "agent2@example.com", testPassword)
	agentID := env.users["agent"].ID
	mk := func(subject string) int64 { return createAs(t, req, "Bulk by hand: "+subject) }
	ok, taken, resolved, mine := mk("changes"), mk("assigned to agent2"), mk("resolved"), mk("already as asked")
	archivedRow, archivedFlow := mk("closed for good"), mk("closed for good, row not yet marked")
	finance := createAs(t, agent2, "Bulk by hand: Finance's")
	setTeam(t, finance, "Finance")
	mustStatus(t, patchAs(t, agent, taken, `{"assignee":"agent2@example.com"}`), http.StatusOK, "assign to agent2")
	mustStatus(t, patchAs(t, agent, resolved, `{"status":"resolved"}`), http.StatusOK, "resolve")
	mustStatus(t, patchAs(t, agent, mine, `{"status":"in_progress","assignee":"agent@example.com"}`), http.StatusOK, "take")
	archive(t, archivedRow, true)
	archive(t, archivedFlow, false)
	const nowhere = int64(987654321)
	before := map[int64]ticket.Ticket{}
	for _, n := range []int64{taken, resolved, mine, archivedRow, finance} {
		before[n] = rowOf(t, n)
	}

	job := startBulk(t, agent, fmt.Sprintf(`{"ids":%s,"change":{"status":"in_progress","assignee":"agent@example.com"}}`,
		idsJSON(ok, taken, resolved, mine, archivedRow, archivedFlow, finance, nowhere, ok)))
	if job.Total != 8 || job.CreatedBy != agentID {
		t.Errorf("job at start: %+v", job)
	}
	job = waitBulk(t, agent, job.ID, 60*time.Second)
	if job.State != bulk.StateCompleted || job.Total != 8 || job.Succeeded != 1 || job.Skipped != 1 || job.Failed != 6 {
		t.Fatalf("job %+v", job)
	}
	reasons := map[int64]string{}
	details := map[int64]string{}
	for _, f := range job.Failures {
		reasons[f.Ticket], details[f.Ticket] = f.Reason, f.Detail
	}
	want := map[int64]string{taken: bulk.ReasonNotAllowed, resolved: bulk.ReasonTransitionRefused, archivedRow: bulk.ReasonArchived,
		archivedFlow: bulk.ReasonArchived, finance: bulk.ReasonNotFound, nowhere: bulk.ReasonNotFound}
	for n, r := range want {
		if reasons[n] != r {
			t.Errorf("ticket %d: reason %q (%s), want %q", n, reasons[n], details[n], r)
		}
	}
	// Another team's ticket and a number that names none are told apart
	// by nothing but the number.
	if a, b := strings.ReplaceAll(details[finance], fmt.Sprint(finance), "N"), strings.ReplaceAll(details[nowhere], fmt.Sprint(nowhere), "N"); a != b {
		t.Errorf("a hidden ticket reads %q, a missing one %q", a, b)
	}

	row := rowOf(t, ok)
	if row.Status != ticket.StatusInProgress || row.AssigneeID == nil || *row.AssigneeID != agentID {
		t.Errorf("the allowed ticket: %s, assignee %v", row.Status, row.AssigneeID)
	}
	for n, was := range before {
		if now := rowOf(t, n); now.Seq != was.Seq {
			t.Errorf("ticket %d changed (events %d..%d)", n, was.Seq, now.Seq)
		}
	}
	// The history says which bulk action changed the ticket, once.
	var fromBulk []string
	for _, h := range historyAs(t, agent, ok) {
		if h.Bulk == job.ID {
			fromBulk = append(fromBulk, h.Kind)
			if h.actorID() != agentID {
				t.Errorf("%s by %s", h.Kind, h.Actor)
			}
		}
	}
	if !slices.Equal(fromBulk, []string{ticket.EventAssigned, ticket.EventStatusChanged}) {
		t.Errorf("events of the bulk action: %v", fromBulk)
	}

	// The job is its creator's: another agent does not find it, an admin
	// does.
	lead := login(t, "lead@example.com", testPassword)
	mustStatus(t, lead.do(t, "GET", "/api/v1/bulk/"+job.ID, ""), http.StatusNotFound, "another's job")
	mustStatus(t, lead.do(t, "POST", "/api/v1/bulk/"+job.ID+"/cancel", ""), http.StatusNotFound, "cancel another's job")
	mustStatus(t, call(t, env.baseURL, "GET", "/api/v1/bulk/"+job.ID, nil), http.StatusOK, "admin reads a job")
	var list struct {
		Items []bulkJSON `json:"items"`
	}
	res := agent.do(t, "GET", "/api/v1/bulk", "")
	mustStatus(t, res, http.StatusOK, "list")
	res.decode(t, &list)
	if len(list.Items) == 0 || list.Items[0].ID != job.ID {
		t.Errorf("the agent's jobs: %s", res.body)
	}
	res = lead.do(t, "GET", "/api/v1/bulk", "")
	res.decode(t, &list)
	for _, j := range list.Items {
		if j.ID == job.ID {
			t.Errorf("the lead's list shows the agent's job")
		}
	}
	// A job that ended cannot be cancelled.
	mustStatus(t, agent.do(t, "POST", "/api/v1/bulk/"+job.ID+"/cancel", ""), http.StatusConflict, "cancel an ended job")
}

// TestBulkTagsAndComment: a bulk action adds and removes tags and adds an
// internal comment on each ticket; its requester sees neither.
func TestBulkTagsAndComment(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	var ns []int64
	for i := range 3 {
		n := createAs(t, req, fmt.Sprintf("Bulk tags %d", i))
		mustStatus(t, patchAs(t, agent, n, `{"tags_add":["old","keep"]}`), http.StatusOK, "tag")
		ns = append(ns, n)
	}
	job := startBulk(t, agent, fmt.Sprintf(`{"ids":%s,"change":{"tags_add":["Bulk-Done"],"tags_remove":["OLD"]},
		"comment":{"body":"Handled in bulk","internal":true}}`, idsJSON(ns...)))
	job = waitBulk(t, agent, job.ID, 60*time.Second)
	if job.State != bulk.StateCompleted || job.Succeeded != 3 {
		t.Fatalf("job %+v", job)
	}
	if job.Change["tags_add"] == nil || fmt.Sprint(job.Change["tags_add"]) != "[bulk-done]" {
		t.Errorf("change shown as %v", job.Change)
	}
	comments := bulkEvents(t, job.ID, ticket.EventComment)
	tags := bulkEvents(t, job.ID, ticket.EventTagsChanged)
	for _, n := range ns {
		if got := rowOf(t, n).Tags; !slices.Equal(got, []string{"bulk-done", "keep"}) {
			t.Errorf("ticket %d tags %q", n, got)
		}
		if comments[n] != 1 || tags[n] != 1 {
			t.Errorf("ticket %d: %d comments, %d tag changes from the bulk action", n, comments[n], tags[n])
		}
		h := historyAs(t, agent, n)
		if c := lastOfKind(h, ticket.EventComment); c == nil || c.Comment == nil || c.Comment.Body != "Handled in bulk" || !c.Comment.Internal {
			t.Errorf("ticket %d: last comment %+v", n, c)
		}
		for _, e := range historyAs(t, req, n) {
			if e.Kind == ticket.EventTagsChanged || e.Kind == ticket.EventComment || e.Bulk != "" {
				t.Errorf("ticket %d: the requester sees %+v", n, e)
			}
		}
	}
}

// TestBulkCancel: cancelled while its first tickets are stuck, a job
// finishes those in flight (at most its parallelism, 12) and leaves every
// other ticket untouched.
func TestBulkCancel(t *testing.T) {
	agent := login(t, "agent@example.com", testPassword)
	ns := createTickets(t, 40, "Bulk cancel")
	// The tickets' rows are locked, as by a slow transaction: the first
	// Updates wait in their workflows until the cancel was asked.
	ctx := context.Background()
	tx, err := env.store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM tickets WHERE number = ANY($1) FOR UPDATE`, ns); err != nil {
		t.Fatal(err)
	}
	job := startBulk(t, agent, fmt.Sprintf(`{"ids":%s,"change":{"priority":"critical"}}`, idsJSON(ns...)))
	eventually(t, 30*time.Second, "the job's first changes wait for the locked rows", func() error {
		var waiting int
		if err := env.store.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			return err
		}
		if waiting == 0 {
			return fmt.Errorf("no change waits yet")
		}
		return nil
	})
	res := agent.do(t, "POST", "/api/v1/bulk/"+job.ID+"/cancel", "")
	mustStatus(t, res, http.StatusAccepted, "cancel")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	job = waitBulk(t, agent, job.ID, 60*time.Second)
	t.Logf("cancelled job: %d succeeded, %d cancelled", job.Succeeded, job.Cancelled)
	if job.State != bulk.StateCancelled || job.Succeeded == 0 || job.Cancelled < len(ns)-12 || job.Failed != 0 {
		t.Fatalf("job %+v", job)
	}
	changed := 0
	for _, n := range ns {
		if rowOf(t, n).Priority == ticket.PriorityCritical {
			changed++
		}
	}
	if changed != job.Succeeded {
		t.Errorf("%d tickets changed, the job says %d", changed, job.Succeeded)
	}
	// Cancelling again is harmless.
	mustStatus(t, agent.do(t, "POST", "/api/v1/bulk/"+job.ID+"/cancel", ""), http.StatusAccepted, "cancel again")
}

// TestBulkRefusesBadRequests: what outsiders control is checked before
// anything runs: one of query and ids, a bounded list, known members and
// values; a requester may not bulk; a repeated request with the same
// Idempotency-Key is the same job, and the key cannot be reused for
// another.
func TestBulkRefusesBadRequests(t *testing.T) {
	agent := login(t, "agent@example.com", testPassword)
	tooMany := make([]int64, env.cfg.BulkMaxTickets+1)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	for _, c := range []struct {
		body   string
		fields []string
	}{
		{`{"query":"status:open","ids":[1],"change":{"priority":"low"}}`, []string{"query"}},
		{`{"change":{"priority":"low"}}`, []string{"ids"}},
		{`{"ids":[],"change":{"priority":"low"}}`, []string{"ids"}},
		{`{"ids":` + idsJSON(tooMany...) + `,"change":{"priority":"low"}}`, []string{"ids"}},
		{`{"ids":[1,-2,"3",1.5],"change":{"priority":"low"}}`, []string{"ids[1]", "ids[2]", "ids[3]"}},
		{`{"ids":"1,2","change":{"priority":"low"}}`, []string{"ids"}},
		{`{"query":"  ","change":{"priority":"low"}}`, []string{"query"}},
		{`{"ids":[1]}`, []string{"change"}},
		{`{"ids":[1],"change":{}}`, []string{"change"}},
		{`{"ids":[1],"change":{"colour":"red","status":"bogus","priority":null}}`, []string{"change.colour"}},
		{`{"ids":[1],"change":{"status":"bogus","priority":null,"tags_add":[""]}}`, []string{"change.priority", "change.status", "change.tags_add[0]"}},
		{`{"ids":[1],"change":{"assignee":"nobody@example.com","team":"No such team","category_id":999999}}`,
			[]string{"change.assignee", "change.team", "change.category_id"}},
		{`{"ids":[1],"change":"resolve"}`, []string{"change"}},
		{`{"ids":[1],"comment":{"body":"  "}}`, []string{"comment.body"}},
		{`{"ids":[1],"comment":{"text":"hi"}}`, []string{"comment.text"}},
		{`{"query":"status:open","tz":"Mars/Olympus","change":{"priority":"low"}}`, []string{"tz"}},
		{`{"ids":[1],"change":{"priority":"low"},"dry_run":true}`, []string{"dry_run"}},
	} {
		res := agent.do(t, "POST", "/api/v1/bulk", c.body)
		if res.status != http.StatusUnprocessableEntity {
			t.Errorf("%.120s: %d %.300s, want 422", c.body, res.status, res.body)
			continue
		}
		got := problemFields(t, res)
		slices.Sort(got)
		want := slices.Clone(c.fields)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%.120s: fields %v, want %v", c.body, got, want)
		}
	}
	req := login(t, "requester@example.com", testPassword)
	mustStatus(t, req.do(t, "POST", "/api/v1/bulk", `{"ids":[1],"comment":{"body":"hi"}}`), http.StatusForbidden, "a requester bulks")
	mustStatus(t, agent.do(t, "GET", "/api/v1/bulk/not-a-job", ""), http.StatusNotFound, "a malformed job id")

	// The same key and body: the same job. The key with another body: 422.
	key := fmt.Sprintf("bulk-key-%d", time.Now().UnixNano())
	n := createAs(t, req, "Bulk idempotency")
	body := fmt.Sprintf(`{"ids":[%d],"change":{"priority":"high"}}`, n)
	first := startBulk(t, agent, body, "Idempotency-Key", key)
	again := startBulk(t, agent, body, "Idempotency-Key", key)
	if again.ID != first.ID {
		t.Errorf("a repeated request started job %s after %s", again.ID, first.ID)
	}
	res := agent.do(t, "POST", "/api/v1/bulk", fmt.Sprintf(`{"ids":[%d],"change":{"priority":"low"}}`, n), "Idempotency-Key", key)
	mustStatus(t, res, http.StatusUnprocessableEntity, "key reused")
	job := waitBulk(t, agent, first.ID, 60*time.Second)
	if job.Succeeded != 1 || len(bulkEvents(t, first.ID, ticket.EventPriorityChanged)) != 1 {
		t.Errorf("job %+v", job)
	}
}

// TestBulkByQuery: a bulk action by query resolves its set once, as the
// person would find it with that query: tickets they cannot see are not
// in it (not even counted), and a query that does not parse is 422 at
// the position of what is wrong.
func TestBulkByQuery(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	agent2 := login(t, "agent2@example.com", testPassword)
	tag := fmt.Sprintf("bq%d", time.Now().UnixNano())
	var mine []int64
	for i := range 2 {
		n := createAs(t, req, fmt.Sprintf("Bulk by query %d", i))
		mustStatus(t, patchAs(t, agent, n, fmt.Sprintf(`{"tags_add":[%q]}`, tag)), http.StatusOK, "tag")
		mine = append(mine, n)
	}
	hidden := createAs(t, agent2, "Bulk by query: Finance's")
	setTeam(t, hidden, "Finance")
	mustStatus(t, patchAs(t, agent2, hidden, fmt.Sprintf(`{"tags_add":[%q]}`, tag)), http.StatusOK, "tag Finance's")
	untagged := createAs(t, req, "Bulk by query: no tag")
	eventually(t, 10*time.Second, "the tagged tickets are searchable", func() error {
		if got, _ := searchNumbers(t, nil, "q=tag:"+tag); len(got) != 3 {
			return fmt.Errorf("found %v", got)
		}
		return nil
	})

	job := startBulk(t, agent, fmt.Sprintf(`{"query":"tag:%s","tz":"Europe/Paris","change":{"priority":"critical"}}`, tag))
	job = waitBulk(t, agent, job.ID, 60*time.Second)
	if job.State != bulk.StateCompleted || job.Total != 2 || job.Succeeded != 2 {
		t.Fatalf("job %+v", job)
	}
	for _, n := range mine {
		if p := rowOf(t, n).Priority; p != ticket.PriorityCritical {
			t.Errorf("ticket %d: %s", n, p)
		}
	}
	for _, n := range []int64{hidden, untagged} {
		if p := rowOf(t, n).Priority; p == ticket.PriorityCritical {
			t.Errorf("ticket %d outside the set changed", n)
		}
	}

	res := agent.do(t, "POST", "/api/v1/bulk", `{"query":"status:open nosuchfield:x","change":{"priority":"low"}}`)
	mustStatus(t, res, http.StatusUnprocessableEntity, "a bad query")
	var p struct {
		Errors []struct {
			Field    string `json:"field"`
			Position *int   `json:"position"`
		} `json:"errors"`
	}
	res.decode(t, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "query" || p.Errors[0].Position == nil || *p.Errors[0].Position != 12 {
		t.Errorf("problem %s", res.body)
	}
}

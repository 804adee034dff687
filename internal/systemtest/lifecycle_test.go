package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/web"
	"github.com/helpdesk/helpdesk/workflows"
)

// Bodies the route matrix sends to the lifecycle routes.
func init() {
	for _, ph := range []string{"{own}", "{other}", "{team2}"} {
		matrixBodies["PATCH /api/v1/tickets/"+ph] = `{"priority":"high"}`
		matrixBodies["POST /api/v1/tickets/"+ph+"/comments"] = `{"body":"matrix comment"}`
	}
}

// lifecycleProblem is a problem document with the lifecycle's extra field.
type lifecycleProblem struct {
	problem
	Allowed []string `json:"allowed"`
}

type historyEntry struct {
	Seq     int64           `json:"seq"`
	Kind    string          `json:"kind"`
	Actor   json.RawMessage `json:"actor"`
	Bulk    string          `json:"bulk"`
	At      time.Time       `json:"at"`
	Data    map[string]any  `json:"data"`
	Comment *struct {
		ID       int64  `json:"id"`
		Body     string `json:"body"`
		Internal bool   `json:"internal"`
	} `json:"comment"`
}

// actorID is the user id of the entry's actor, 0 for "system".
func (h historyEntry) actorID() int64 {
	var a struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(h.Actor, &a)
	return a.ID
}

type commentJSON struct {
	ID        int64     `json:"id"`
	TicketID  int64     `json:"ticket_id"`
	AuthorID  *int64    `json:"author_id"`
	Body      string    `json:"body"`
	Internal  bool      `json:"internal"`
	CreatedAt time.Time `json:"created_at"`
}

func ticketURL(n int64, rest ...string) string {
	return fmt.Sprintf("/api/v1/tickets/%d", n) + strings.Join(rest, "")
}

func patchAs(t *testing.T, s *session, n int64, body string, headers ...string) response {
	t.Helper()
	return s.do(t, "PATCH", ticketURL(n), body, headers...)
}

func commentAs(t *testing.T, s *session, n int64, body string, headers ...string) response {
	t.Helper()
	return s.do(t, "POST", ticketURL(n, "/comments"), body, headers...)
}

func mustStatus(t *testing.T, res response, want int, what string) {
	t.Helper()
	if res.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, res.status, want, res.body)
	}
}

// historyAs pages through a ticket's whole history as s.
func historyAs(t *testing.T, s *session, n int64) []historyEntry {
	t.Helper()
	var out []historyEntry
	path := ticketURL(n, "/history?limit=3")
	for {
		res := s.do(t, "GET", path, "")
		mustStatus(t, res, http.StatusOK, "history")
		var page struct {
			Items        []historyEntry `json:"items"`
			NextAfterSeq *int64         `json:"next_after_seq"`
		}
		res.decode(t, &page)
		out = append(out, page.Items...)
		if page.NextAfterSeq == nil {
			return out
		}
		path = ticketURL(n, fmt.Sprintf("/history?limit=3&after_seq=%d", *page.NextAfterSeq))
	}
}

func rowOf(t *testing.T, n int64) ticket.Ticket {
	t.Helper()
	tk, err := env.store.Ticket(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func eventsOf(t *testing.T, n int64) []store.Event {
	t.Helper()
	evs, err := env.store.Events(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkSeqs asserts the ticket's events are numbered 1..last_seq without gaps.
func checkSeqs(t *testing.T, n int64) []store.Event {
	t.Helper()
	evs := eventsOf(t, n)
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("ticket %d: event %d has seq %d (gap or duplicate): %+v", n, i, e.Seq, evs)
		}
	}
	if row := rowOf(t, n); len(evs) == 0 || row.Seq != evs[len(evs)-1].Seq {
		t.Fatalf("ticket %d: last_seq %d, events %d", n, row.Seq, len(evs))
	}
	return evs
}

func workflowState(t *testing.T, n int64) workflows.State {
	t.Helper()
	v, err := env.temporal.QueryWorkflow(context.Background(), workflows.TicketWorkflowID(n), "", workflows.QueryState)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// workflowHistoryJSON is the ticket workflow's whole Temporal history.
func workflowHistoryJSON(t *testing.T, n int64) string {
	t.Helper()
	hist := &historypb.History{}
	iter := env.temporal.GetWorkflowHistory(context.Background(), workflows.TicketWorkflowID(n), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	b, err := protojson.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lastOfKind(h []historyEntry, kind string) *historyEntry {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Kind == kind {
			return &h[i]
		}
	}
	return nil
}

func TestLifecycleWalkThroughEveryStatus(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Lifecycle walk")
	prev := ticket.StatusOpen
	reopens := 0
	for _, to := range []ticket.Status{ticket.StatusInProgress, ticket.StatusPending, ticket.StatusOpen,
		ticket.StatusInProgress, ticket.StatusResolved, ticket.StatusOpen, ticket.StatusResolved,
		ticket.StatusClosed, ticket.StatusOpen, ticket.StatusPending, ticket.StatusClosed} {
		res := patchAs(t, agent, n, fmt.Sprintf(`{"status":%q}`, to))
		mustStatus(t, res, http.StatusOK, fmt.Sprintf("PATCH %s -> %s", prev, to))
		var tk ticket.Ticket
		res.decode(t, &tk)
		row := rowOf(t, n)
		if tk.Status != to || row.Status != to {
			t.Fatalf("after %s -> %s: answer %s, row %s", prev, to, tk.Status, row.Status)
		}
		if (prev == ticket.StatusResolved || prev == ticket.StatusClosed) && to == ticket.StatusOpen {
			reopens++
		}
		switch to {
		case ticket.StatusResolved:
			if row.ResolvedAt == nil || row.ClosedAt != nil {
				t.Errorf("resolved ticket: resolved_at %v closed_at %v", row.ResolvedAt, row.ClosedAt)
			}
		case ticket.StatusClosed:
			if row.ClosedAt == nil {
				t.Errorf("closed ticket has no closed_at")
			}
		case ticket.StatusOpen:
			if row.ResolvedAt != nil || row.ClosedAt != nil {
				t.Errorf("reopened ticket keeps resolved_at %v / closed_at %v", row.ResolvedAt, row.ClosedAt)
			}
		}
		if row.ReopenCount != reopens {
			t.Errorf("after %s -> %s: reopen_count %d, want %d", prev, to, row.ReopenCount, reopens)
		}
		h := historyAs(t, agent, n)
		last := lastOfKind(h, "status_changed")
		if last == nil || last.Data["from"] != string(prev) || last.Data["to"] != string(to) {
			t.Fatalf("history after %s -> %s: last status change %+v", prev, to, last)
		}
		if last.actorID() != env.users["agent"].ID || last.At.IsZero() {
			t.Errorf("status change actor %s at %v", last.Actor, last.At)
		}
		prev = to
	}
	evs := checkSeqs(t, n)
	if evs[0].Kind != "created" {
		t.Errorf("first event %+v", evs[0])
	}
	if st := workflowState(t, n); st.Status != ticket.StatusClosed || st.Seq != evs[len(evs)-1].Seq {
		t.Errorf("workflow state %s seq %d, row closed seq %d", st.Status, st.Seq, evs[len(evs)-1].Seq)
	}
	// The history the API shows is the event table, in order.
	h := historyAs(t, agent, n)
	if len(h) != len(evs) {
		t.Fatalf("history has %d items, events %d", len(h), len(evs))
	}
	for i := range h {
		if h[i].Seq != evs[i].Seq || h[i].Kind != evs[i].Kind {
			t.Errorf("history item %d %d/%s, event %d/%s", i, h[i].Seq, h[i].Kind, evs[i].Seq, evs[i].Kind)
		}
	}
	if string(h[0].Actor) == `"system"` || h[0].actorID() != env.users["requester"].ID {
		t.Errorf("created by %s", h[0].Actor)
	}
}

func TestLifecycleDisallowedMove(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Disallowed moves")
	mustStatus(t, patchAs(t, agent, n, `{"status":"resolved"}`), http.StatusOK, "resolve")
	before := len(eventsOf(t, n))

	res := patchAs(t, agent, n, `{"status":"in_progress"}`)
	mustStatus(t, res, http.StatusConflict, "resolved -> in_progress")
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("content type %q", ct)
	}
	var p lifecycleProblem
	res.decode(t, &p)
	want := env.cfg.StatusTransitions["resolved"]
	if p.Type != "/problems/transition-not-allowed" || !slices.Equal(p.Allowed, want) ||
		!strings.Contains(p.Detail, "resolved") || !strings.Contains(p.Detail, "in_progress") {
		t.Errorf("problem %+v, want allowed %v", p, want)
	}
	for _, a := range want {
		if !strings.Contains(p.Detail, a) {
			t.Errorf("detail %q does not name allowed move %s", p.Detail, a)
		}
	}
	if row := rowOf(t, n); row.Status != ticket.StatusResolved || len(eventsOf(t, n)) != before {
		t.Errorf("a refused move changed the ticket: %s, %d events (was %d)", row.Status, len(eventsOf(t, n)), before)
	}

	mustStatus(t, patchAs(t, agent, n, `{"status":"closed"}`), http.StatusOK, "close")
	res = patchAs(t, agent, n, `{"status":"pending"}`)
	mustStatus(t, res, http.StatusConflict, "closed -> pending")
	res.decode(t, &p)
	if !slices.Equal(p.Allowed, env.cfg.StatusTransitions["closed"]) {
		t.Errorf("allowed from closed %v", p.Allowed)
	}
	// One PATCH is one Update: the valid priority is not applied either.
	before = len(eventsOf(t, n))
	res = patchAs(t, agent, n, `{"priority":"critical","status":"in_progress"}`)
	mustStatus(t, res, http.StatusConflict, "priority + closed -> in_progress")
	if row := rowOf(t, n); row.Priority != ticket.PriorityMedium || row.Status != ticket.StatusClosed || len(eventsOf(t, n)) != before {
		t.Errorf("half-applied PATCH: %+v", row)
	}
	checkSeqs(t, n)
}

func TestLifecycleInvalidChanges(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Invalid changes")
	before := len(eventsOf(t, n))
	for _, c := range []struct {
		body   string
		fields []string
	}{
		{`{"priority":"urgent"}`, []string{"priority"}},
		{`{"priority":"high","status":"bogus"}`, []string{"status"}},
		{`{"priority":"high","assignee":"nobody@example.com"}`, []string{"assignee"}},
		{`{"priority":"high","assignee":"requester@example.com"}`, []string{"assignee"}},
		{`{"priority":"high","team":"No such team"}`, []string{"team"}},
		{`{"priority":"high","subject":"   "}`, []string{"subject"}},
		{`{"status":null,"priority":7}`, []string{"status", "priority"}},
		{`{"colour":"red"}`, []string{"colour"}},
		{`{}`, nil},
		{`[]`, nil},
	} {
		res := patchAs(t, agent, n, c.body)
		mustStatus(t, res, http.StatusUnprocessableEntity, c.body)
		var p problem
		res.decode(t, &p)
		var got []string
		for _, e := range p.Errors {
			got = append(got, e.Field)
		}
		for _, f := range c.fields {
			if !slices.Contains(got, f) {
				t.Errorf("%s: errors %v do not name %s", c.body, p.Errors, f)
			}
		}
	}
	mustStatus(t, patchAs(t, agent, n, `{"priority":`), http.StatusBadRequest, "malformed JSON")
	if row := rowOf(t, n); row.Priority != ticket.PriorityMedium || len(eventsOf(t, n)) != before {
		t.Fatalf("an invalid PATCH changed the ticket: %+v", row)
	}

	// A valid PATCH with text: the text lands in PostgreSQL and the
	// history, never in the workflow's history.
	res := patchAs(t, agent, n, `{"subject":"Renamed by the agent","description":"Fresh description 7f3a","priority":"low"}`)
	mustStatus(t, res, http.StatusOK, "text change")
	row := rowOf(t, n)
	if row.Subject != "Renamed by the agent" || row.Description != "Fresh description 7f3a" || row.Priority != ticket.PriorityLow {
		t.Fatalf("row after text change %+v", row)
	}
	h := historyAs(t, agent, n)
	if e := lastOfKind(h, "subject_changed"); e == nil || e.Data["from"] != "Invalid changes" || e.Data["to"] != "Renamed by the agent" {
		t.Errorf("subject change in history: %+v", e)
	}
	if e := lastOfKind(h, "description_changed"); e == nil || e.Data["to"] != "Fresh description 7f3a" {
		t.Errorf("description change in history: %+v", e)
	}
	if e := lastOfKind(h, "priority_changed"); e == nil || e.Data["from"] != "medium" || e.Data["to"] != "low" {
		t.Errorf("priority change in history: %+v", e)
	}
	// Every row carries the payload version; the history shows each
	// event's data as stored, without it (docs/lifecycle.md, "Event
	// payloads").
	for _, e := range h {
		var raw []byte
		if err := env.store.Pool().QueryRow(context.Background(), `SELECT data FROM ticket_events WHERE ticket_number = $1 AND seq = $2`,
			n, e.Seq).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var stored map[string]any
		if err := json.Unmarshal(raw, &stored); err != nil {
			t.Fatal(err)
		}
		if stored["v"] != float64(ticket.PayloadVersion) {
			t.Errorf("event %d (%s) stored as %s, want \"v\": %d", e.Seq, e.Kind, raw, ticket.PayloadVersion)
		}
		delete(stored, "v")
		if !reflect.DeepEqual(stored, e.Data) {
			t.Errorf("event %d (%s) stored as %s, shown as %v", e.Seq, e.Kind, raw, e.Data)
		}
	}
	if strings.Contains(workflowHistoryJSON(t, n), "Fresh description 7f3a") {
		t.Errorf("the new description is in the workflow's history")
	}
	// The same values again change nothing.
	before = len(eventsOf(t, n))
	mustStatus(t, patchAs(t, agent, n, `{"subject":"Renamed by the agent","priority":"low"}`), http.StatusOK, "no-op PATCH")
	if len(eventsOf(t, n)) != before {
		t.Errorf("a PATCH without changes wrote events")
	}
	checkSeqs(t, n)
}

func TestLifecycleAssignmentRules(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	lead := login(t, "lead@example.com", testPassword)
	n := createAs(t, req, "Assignment rules")
	agentID, agent2ID := env.users["agent"].ID, env.users["agent2"].ID

	// Agents may assign an unassigned ticket to someone else…
	mustStatus(t, patchAs(t, agent, n, `{"assignee":"agent2@example.com"}`), http.StatusOK, "assign to agent2")
	if row := rowOf(t, n); row.AssigneeID == nil || *row.AssigneeID != agent2ID {
		t.Fatalf("assignee %v", row.AssigneeID)
	}
	// …but not take it from them or unassign them.
	mustStatus(t, patchAs(t, agent, n, fmt.Sprintf(`{"assignee":%d}`, agentID)), http.StatusForbidden, "take from agent2")
	mustStatus(t, patchAs(t, agent, n, `{"assignee":null}`), http.StatusForbidden, "unassign agent2")
	// Leads may reassign.
	mustStatus(t, patchAs(t, lead, n, `{"assignee":"agent@example.com"}`), http.StatusOK, "lead reassigns")
	// The assignee may hand over or release their own ticket.
	mustStatus(t, patchAs(t, agent, n, `{"assignee":null,"team":"Support"}`), http.StatusOK, "release")
	row := rowOf(t, n)
	if row.AssigneeID != nil || row.TeamID == nil {
		t.Fatalf("after release: assignee %v team %v", row.AssigneeID, row.TeamID)
	}
	h := historyAs(t, agent, n)
	var assigned []historyEntry
	for _, e := range h {
		if e.Kind == "assigned" {
			assigned = append(assigned, e)
		}
	}
	if len(assigned) != 3 {
		t.Errorf("assigned events %+v", assigned)
	}
	// Requesters change nothing through PATCH.
	mustStatus(t, patchAs(t, req, n, `{"priority":"critical"}`), http.StatusForbidden, "requester PATCH")
	checkSeqs(t, n)
}

func TestLifecycleCommentsAndVisibility(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Comment visibility")

	res := commentAs(t, req, n, `{"body":"let me see the notes","internal":true}`)
	mustStatus(t, res, http.StatusForbidden, "requester internal comment")
	for _, body := range []string{`{}`, `{"body":"  "}`, `{"body":"x","internal":"yes"}`, `{"body":5}`, `{"body":"x","extra":1}`} {
		mustStatus(t, commentAs(t, req, n, body), http.StatusUnprocessableEntity, body)
	}

	res = commentAs(t, req, n, `{"body":"My printer still burns 51c2"}`)
	mustStatus(t, res, http.StatusCreated, "requester comment")
	var cm commentJSON
	res.decode(t, &cm)
	if cm.ID == 0 || cm.TicketID != n || cm.Body != "My printer still burns 51c2" || cm.Internal ||
		cm.AuthorID == nil || *cm.AuthorID != env.users["requester"].ID || cm.CreatedAt.IsZero() {
		t.Errorf("comment %+v", cm)
	}
	if loc := res.header.Get("Location"); !strings.HasPrefix(loc, ticketURL(n, "/history")) {
		t.Errorf("Location %q", loc)
	}
	res = commentAs(t, agent, n, `{"body":"internal note 9d1e: requester is VIP","internal":true}`)
	mustStatus(t, res, http.StatusCreated, "agent internal comment")
	res.decode(t, &cm)
	if !cm.Internal {
		t.Errorf("internal comment answered %+v", cm)
	}
	if rowOf(t, n).FirstRespondedAt != nil {
		t.Errorf("an internal note counted as the first response")
	}
	mustStatus(t, commentAs(t, agent, n, `{"body":"We are on it"}`), http.StatusCreated, "agent reply")
	if rowOf(t, n).FirstRespondedAt == nil {
		t.Errorf("the agent's reply did not set first_responded_at")
	}
	mustStatus(t, patchAs(t, agent, n, `{"assignee":"agent@example.com"}`), http.StatusOK, "assign")

	comments := func(h []historyEntry) []string {
		var out []string
		for _, e := range h {
			if e.Comment != nil {
				out = append(out, e.Comment.Body)
			}
		}
		return out
	}
	rh := historyAs(t, req, n)
	if got := comments(rh); !slices.Equal(got, []string{"My printer still burns 51c2", "We are on it"}) {
		t.Errorf("requester sees comments %q", got)
	}
	for _, e := range rh {
		if e.Kind == "assigned" || (e.Comment != nil && e.Comment.Internal) || e.Data["internal"] == true {
			t.Errorf("requester sees %+v", e)
		}
	}
	ah := historyAs(t, agent, n)
	if got := comments(ah); !slices.Equal(got, []string{"My printer still burns 51c2", "internal note 9d1e: requester is VIP", "We are on it"}) {
		t.Errorf("agent sees comments %q", got)
	}
	if lastOfKind(ah, "assigned") == nil {
		t.Errorf("agent does not see the assignment")
	}
	if wh := workflowHistoryJSON(t, n); strings.Contains(wh, "51c2") || strings.Contains(wh, "9d1e") {
		t.Errorf("a comment body is in the workflow's history")
	}
	// Idempotent: the same key twice is one comment.
	before := len(eventsOf(t, n))
	r1 := commentAs(t, agent, n, `{"body":"once"}`, "Idempotency-Key", "comment-once-"+fmt.Sprint(n))
	r2 := commentAs(t, agent, n, `{"body":"once"}`, "Idempotency-Key", "comment-once-"+fmt.Sprint(n))
	mustStatus(t, r1, http.StatusCreated, "first")
	mustStatus(t, r2, http.StatusCreated, "repeat")
	var c1, c2 commentJSON
	r1.decode(t, &c1)
	r2.decode(t, &c2)
	if c1.ID != c2.ID || len(eventsOf(t, n)) != before+1 {
		t.Errorf("repeat made another comment: %d vs %d, %d events (was %d)", c1.ID, c2.ID, len(eventsOf(t, n)), before)
	}
	checkSeqs(t, n)
}

func TestLifecycleRequesterReplyReopens(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Reply reopens")
	mustStatus(t, patchAs(t, agent, n, `{"status":"resolved"}`), http.StatusOK, "resolve")
	mustStatus(t, commentAs(t, req, n, `{"body":"Still broken"}`), http.StatusCreated, "requester reply")
	row := rowOf(t, n)
	if row.Status != ticket.StatusOpen || row.ReopenCount != 1 {
		t.Fatalf("after reply on resolved: %s, reopen_count %d", row.Status, row.ReopenCount)
	}
	h := historyAs(t, req, n)
	if e := lastOfKind(h, "status_changed"); e == nil || e.Data["from"] != "resolved" || e.Data["to"] != "open" || e.Data["reason"] != "reopen" {
		t.Errorf("reopen in history: %+v", e)
	}

	// A reply on a pending ticket hands it back to the agents.
	mustStatus(t, patchAs(t, agent, n, `{"status":"pending"}`), http.StatusOK, "pending")
	mustStatus(t, commentAs(t, req, n, `{"body":"Here is the log"}`), http.StatusCreated, "reply on pending")
	if row := rowOf(t, n); row.Status != ticket.StatusOpen {
		t.Errorf("after reply on pending: %s", row.Status)
	}

	// The reopen endpoint.
	mustStatus(t, patchAs(t, agent, n, `{"status":"closed"}`), http.StatusOK, "close")
	res := req.do(t, "POST", ticketURL(n, "/reopen"), "")
	mustStatus(t, res, http.StatusOK, "requester reopens")
	var tk ticket.Ticket
	res.decode(t, &tk)
	if row := rowOf(t, n); tk.Status != ticket.StatusOpen || row.ReopenCount != 2 {
		t.Errorf("reopened %+v, reopen_count %d", tk, row.ReopenCount)
	}
	mustStatus(t, req.do(t, "POST", ticketURL(n, "/reopen"), ""), http.StatusOK, "reopen an open ticket")
	mustStatus(t, patchAs(t, agent, n, `{"status":"in_progress"}`), http.StatusOK, "in progress")
	mustStatus(t, req.do(t, "POST", ticketURL(n, "/reopen"), ""), http.StatusConflict, "reopen in progress")
	mustStatus(t, patchAs(t, agent, n, `{"status":"resolved"}`), http.StatusOK, "resolve again")
	mustStatus(t, agent.do(t, "POST", ticketURL(n, "/reopen"), ""), http.StatusOK, "agent reopens")
	if row := rowOf(t, n); row.Status != ticket.StatusOpen || row.ReopenCount != 3 {
		t.Errorf("after agent reopen: %s, %d", row.Status, row.ReopenCount)
	}
	checkSeqs(t, n)
}

// rawDo is session.do for goroutines: errors come back instead of failing.
func rawDo(s *session, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, env.baseURL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-CSRF-Token", s.csrf)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func TestLifecycleConcurrentPatchesOnOneTicket(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	lead := login(t, "lead@example.com", testPassword)
	n := createAs(t, req, "Concurrent changes")
	priorities := ticket.Priorities()
	statuses := []ticket.Status{ticket.StatusInProgress, ticket.StatusPending, ticket.StatusOpen}
	const workers = 12
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := agent
			if i%2 == 1 {
				s = lead
			}
			body := fmt.Sprintf(`{"priority":%q,"status":%q}`, priorities[i%len(priorities)], statuses[i%len(statuses)])
			code, b, err := rawDo(s, "PATCH", ticketURL(n), body)
			if err != nil || code != http.StatusOK {
				errs <- fmt.Sprintf("%s: %d %s %v", body, code, b, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	evs := checkSeqs(t, n)
	// Replaying the events gives the row: the last change applied wins, and
	// every status change starts where the previous one ended.
	status, priority := ticket.StatusOpen, ticket.PriorityMedium
	for _, e := range evs {
		switch d := e.Data.(type) {
		case ticket.StatusChanged:
			if d.From != status {
				t.Errorf("event %d moves from %v, but the ticket was %s", e.Seq, d.From, status)
			}
			status = d.To
		case ticket.PriorityChanged:
			if d.From != priority {
				t.Errorf("event %d changes priority from %v, but it was %s", e.Seq, d.From, priority)
			}
			priority = d.To
		}
	}
	row := rowOf(t, n)
	if row.Status != status || row.Priority != priority {
		t.Errorf("row %s/%s, events end at %s/%s", row.Status, row.Priority, status, priority)
	}
	if st := workflowState(t, n); st.Status != status || st.Priority != priority || st.Seq != row.Seq {
		t.Errorf("workflow %s/%s seq %d, row %s/%s seq %d", st.Status, st.Priority, st.Seq, row.Status, row.Priority, row.Seq)
	}
	if len(evs) < 3 {
		t.Errorf("only %d events for %d concurrent changes", len(evs), workers)
	}
}

func TestLifecycleQueueNextNeverHandsOutATicketTwice(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	a1 := login(t, "agent@example.com", testPassword)
	a2 := login(t, "agent2@example.com", testPassword)
	const N = 10
	for i := 0; i < N; i++ {
		res := req.do(t, "POST", "/api/v1/tickets", fmt.Sprintf(`{"subject":"Queue %d","priority":"critical"}`, i))
		mustStatus(t, res, http.StatusCreated, "create")
	}
	type claim struct {
		by     int64
		number int64
	}
	var mu sync.Mutex
	var claims []claim
	var wg sync.WaitGroup
	for i := 0; i < N; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, by := a1, env.users["agent"].ID
			if i%2 == 1 {
				s, by = a2, env.users["agent2"].ID
			}
			code, b, err := rawDo(s, "POST", "/api/v1/queue/next", "")
			if err != nil || code != http.StatusOK {
				t.Errorf("queue/next: %d %s %v", code, b, err)
				return
			}
			var tk ticket.Ticket
			if err := json.Unmarshal(b, &tk); err != nil {
				t.Error(err)
				return
			}
			if tk.AssigneeID == nil || *tk.AssigneeID != by {
				t.Errorf("claimed ticket %d answered with assignee %v, want %d", tk.Number, tk.AssigneeID, by)
			}
			mu.Lock()
			claims = append(claims, claim{by, tk.Number})
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	seen := map[int64]int64{}
	for _, c := range claims {
		if other, dup := seen[c.number]; dup {
			t.Errorf("ticket %d handed to both %d and %d", c.number, other, c.by)
		}
		seen[c.number] = c.by
	}
	if len(claims) != N {
		t.Errorf("%d of %d claims succeeded", len(claims), N)
	}
	for _, c := range claims {
		row := rowOf(t, c.number)
		if row.AssigneeID == nil || *row.AssigneeID != c.by {
			t.Errorf("ticket %d: assignee %v, claimed by %d", c.number, row.AssigneeID, c.by)
		}
		assigned := 0
		for _, e := range checkSeqs(t, c.number) {
			if e.Kind == "assigned" {
				assigned++
			}
		}
		if assigned != 1 {
			t.Errorf("ticket %d assigned %d times", c.number, assigned)
		}
	}
	// Requesters do not claim.
	mustStatus(t, req.do(t, "POST", "/api/v1/queue/next", ""), http.StatusForbidden, "requester claims")
}

func TestLifecycleUrgencySortAndFilters(t *testing.T) {
	stamp := time.Now().UnixNano()
	res := call(t, env.baseURL, "POST", "/api/v1/teams", []byte(fmt.Sprintf(`{"name":"Urgency %d"}`, stamp)))
	mustStatus(t, res, http.StatusCreated, "create team")
	var team struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	res.decode(t, &team)
	var nums []int64
	for _, pr := range []string{"low", "critical", "medium", "high", "critical", "low"} {
		res := createTicket(t, fmt.Sprintf(`{"subject":"Urgency %s","priority":%q,"team":%d}`, pr, pr, team.ID))
		mustStatus(t, res, http.StatusCreated, "create "+pr)
		var tk ticket.Ticket
		res.decode(t, &tk)
		nums = append(nums, tk.Number)
	}
	list := func(query string) []int64 {
		t.Helper()
		var out []int64
		path := "/api/v1/tickets?limit=2&sort=urgency&team=" + fmt.Sprint(team.ID) + query
		for {
			res := call(t, env.baseURL, "GET", path, nil)
			mustStatus(t, res, http.StatusOK, "list "+path)
			var page struct {
				Items      []ticket.Ticket `json:"items"`
				NextCursor *string         `json:"next_cursor"`
			}
			res.decode(t, &page)
			for _, tk := range page.Items {
				out = append(out, tk.Number)
			}
			if page.NextCursor == nil {
				return out
			}
			path = "/api/v1/tickets?limit=2&sort=urgency&team=" + fmt.Sprint(team.ID) + query + "&cursor=" + *page.NextCursor
		}
	}
	want := []int64{nums[1], nums[4], nums[3], nums[2], nums[0], nums[5]}
	if got := list(""); !slices.Equal(got, want) {
		t.Errorf("urgency order %v, want %v", got, want)
	}
	// A pending ticket's SLA clock is paused: no due time, so it sorts
	// after the tickets of its priority that have one.
	admin := env.users["admin"].ID
	mustStatus(t, call(t, env.baseURL, "PATCH", ticketURL(nums[1]), []byte(`{"status":"pending"}`)), http.StatusOK, "pending")
	mustStatus(t, call(t, env.baseURL, "PATCH", ticketURL(nums[5]), []byte(fmt.Sprintf(`{"assignee":%d}`, admin))), http.StatusOK, "assign")
	rows := make([]ticket.Ticket, 0, len(nums))
	for _, n := range nums {
		rows = append(rows, rowOf(t, n))
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := store.KeyOf(rows[i]), store.KeyOf(rows[j])
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		inf := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		da, db := inf, inf
		if a.SLADueAt != nil {
			da = *a.SLADueAt
		}
		if b.SLADueAt != nil {
			db = *b.SLADueAt
		}
		if !da.Equal(db) {
			return da.Before(db)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Number < b.Number
	})
	want = want[:0]
	for _, r := range rows {
		want = append(want, r.Number)
	}
	if got := list(""); !slices.Equal(got, want) {
		t.Errorf("urgency order after changes %v, want %v", got, want)
	}
	if rowOf(t, nums[1]).SLADueAt == nil && want[0] != nums[4] {
		t.Errorf("a paused critical ticket sorts before a running one: %v", want)
	}
	if got := list("&status=open"); slices.Contains(got, nums[1]) || len(got) != 5 {
		t.Errorf("status=open: %v", got)
	}
	if got := list("&status=pending,in_progress"); !slices.Equal(got, []int64{nums[1]}) {
		t.Errorf("status=pending,in_progress: %v", got)
	}
	if got := list("&assignee=me"); !slices.Equal(got, []int64{nums[5]}) {
		t.Errorf("assignee=me: %v", got)
	}
	if got := list(fmt.Sprintf("&assignee=%d", admin)); !slices.Equal(got, []int64{nums[5]}) {
		t.Errorf("assignee=<id>: %v", got)
	}
	if got := list("&assignee=none"); len(got) != 5 || slices.Contains(got, nums[5]) {
		t.Errorf("assignee=none: %v", got)
	}
	// The default order is unchanged: newest first.
	res = call(t, env.baseURL, "GET", "/api/v1/tickets?limit=6&team="+fmt.Sprint(team.ID), nil)
	mustStatus(t, res, http.StatusOK, "newest first")
	var page struct {
		Items []ticket.Ticket `json:"items"`
	}
	res.decode(t, &page)
	var got []int64
	for _, tk := range page.Items {
		got = append(got, tk.Number)
	}
	if !slices.Equal(got, []int64{nums[5], nums[4], nums[3], nums[2], nums[1], nums[0]}) {
		t.Errorf("newest first: %v", got)
	}
	// Bad queries are 422, and a cursor of one sort is not one of the other.
	newest := call(t, env.baseURL, "GET", "/api/v1/tickets?limit=1", nil)
	var np struct {
		NextCursor *string `json:"next_cursor"`
	}
	newest.decode(t, &np)
	for _, q := range []string{"sort=bogus", "status=open,bogus", "assignee=someone", "team=x", "sort=urgency&cursor=" + *np.NextCursor} {
		mustStatus(t, call(t, env.baseURL, "GET", "/api/v1/tickets?"+q, nil), http.StatusUnprocessableEntity, q)
	}
	// Requesters get only their own tickets (the urgency order is staff
	// only: TestRequesterCannotInferHiddenFields).
	req := login(t, "requester2@example.com", testPassword)
	res = req.do(t, "GET", "/api/v1/tickets?limit=100", "")
	mustStatus(t, res, http.StatusOK, "requester list")
	res.decode(t, &page)
	for _, tk := range page.Items {
		if tk.RequesterID == nil || *tk.RequesterID != env.users["requester2"].ID {
			t.Errorf("requester2 lists ticket %d of %v", tk.Number, tk.RequesterID)
		}
	}
}

func TestLifecycleIdempotentPatch(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Idempotent change")
	key := fmt.Sprintf("patch-%d", time.Now().UnixNano())
	mustStatus(t, patchAs(t, agent, n, `{"priority":"high","description":"once"}`, "Idempotency-Key", key), http.StatusOK, "first")
	before := len(eventsOf(t, n))
	mustStatus(t, patchAs(t, agent, n, `{"priority":"high","description":"once"}`, "Idempotency-Key", key), http.StatusOK, "repeat")
	if len(eventsOf(t, n)) != before {
		t.Errorf("a repeated PATCH wrote events")
	}
	// The same key on another ticket is another request.
	m := createAs(t, req, "Idempotent change 2")
	mustStatus(t, patchAs(t, agent, m, `{"priority":"high","description":"once"}`, "Idempotency-Key", key), http.StatusOK, "other ticket")
	if row := rowOf(t, m); row.Priority != ticket.PriorityHigh || row.Description != "once" {
		t.Errorf("other ticket %+v", row)
	}
}

// archive stands in for the end of a ticket's reopen window: its workflow
// stops and the row is marked archived.
func archive(t *testing.T, n int64, markRow bool) {
	t.Helper()
	ctx := context.Background()
	if err := env.temporal.TerminateWorkflow(ctx, workflows.TicketWorkflowID(n), "", "test: reopen window ended"); err != nil {
		t.Fatal(err)
	}
	if markRow {
		if _, err := env.store.Pool().Exec(ctx, `UPDATE tickets SET archived_at = now() WHERE number = $1`, n); err != nil {
			t.Fatal(err)
		}
	}
}

func checkFollowUp(t *testing.T, res response, old int64, subject, body string) int64 {
	t.Helper()
	var out struct {
		Followup *ticket.Ticket `json:"followup_ticket"`
	}
	res.decode(t, &out)
	f := out.Followup
	if f == nil || f.Number == old || f.LinkedTicket == nil || *f.LinkedTicket != old || f.Subject != subject ||
		f.Description != body || f.Status != ticket.StatusOpen || f.RequesterID == nil || *f.RequesterID != env.users["requester"].ID {
		t.Fatalf("follow-up %s", res.body)
	}
	if loc := res.header.Get("Location"); loc != ticketURL(f.Number) {
		t.Errorf("Location %q", loc)
	}
	return f.Number
}

func TestLifecycleArchivedTicketReplyOpensFollowUp(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	n := createAs(t, req, "Old problem")
	mustStatus(t, patchAs(t, agent, n, `{"status":"closed"}`), http.StatusOK, "close")
	archive(t, n, true)

	key := fmt.Sprintf("followup-%d", n)
	res := commentAs(t, req, n, `{"body":"It broke again"}`, "Idempotency-Key", key)
	mustStatus(t, res, http.StatusCreated, "reply on archived")
	f := checkFollowUp(t, res, n, "Re: Old problem", "It broke again")
	res = commentAs(t, req, n, `{"body":"It broke again"}`, "Idempotency-Key", key)
	mustStatus(t, res, http.StatusOK, "repeated reply")
	if again := checkFollowUp(t, res, n, "Re: Old problem", "It broke again"); again != f {
		t.Errorf("repeat opened ticket %d, first %d", again, f)
	}
	for _, r := range []response{
		commentAs(t, agent, n, `{"body":"staff reply"}`),
		patchAs(t, agent, n, `{"priority":"high"}`),
		req.do(t, "POST", ticketURL(n, "/reopen"), ""),
	} {
		mustStatus(t, r, http.StatusConflict, "change on archived")
		var p problem
		r.decode(t, &p)
		if p.Type != "/problems/ticket-archived" {
			t.Errorf("problem %+v", p)
		}
	}
	// The follow-up is a live ticket with its own workflow.
	mustStatus(t, patchAs(t, agent, f, `{"status":"in_progress"}`), http.StatusOK, "work the follow-up")

	// The workflow completed but the row does not say so yet (the answer
	// raced the end of the window): the same answers.
	m := createAs(t, req, "Raced problem")
	archive(t, m, false)
	res = patchAs(t, agent, m, `{"priority":"high"}`)
	mustStatus(t, res, http.StatusConflict, "PATCH on a completed workflow")
	res = commentAs(t, req, m, `{"body":"Hello again"}`)
	mustStatus(t, res, http.StatusCreated, "reply on a completed workflow")
	checkFollowUp(t, res, m, "Re: Raced problem", "Hello again")
}

// TestLifecycleReopenWindowEnds runs a ticket whose reopen window is two
// seconds (through a second API whose configuration says so): after it the
// workflow completes and a reply opens a linked ticket.
func TestLifecycleReopenWindowEnds(t *testing.T) {
	cfg := env.cfg
	cfg.ReopenWindow = config.Duration(2 * time.Second)
	ui, err := web.Assets()
	if err != nil {
		t.Fatal(err)
	}
	srv := newAPI(cfg, ui)
	addr, err := listenAndServe(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + addr
	secret := fmt.Sprintf("lifecycle-requester-token-%d", time.Now().UnixNano())
	if _, err := env.ident.CreateTokenWithSecret(context.Background(), env.users["requester"].ID, "lifecycle",
		[]string{identity.ScopeTicketsRead, identity.ScopeTicketsWrite}, secret); err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer " + secret}
	res := call(t, base, "POST", "/api/v1/tickets", []byte(`{"subject":"Short window"}`), auth...)
	mustStatus(t, res, http.StatusCreated, "create")
	var tk ticket.Ticket
	res.decode(t, &tk)
	agent := login(t, "agent@example.com", testPassword)
	mustStatus(t, patchAs(t, agent, tk.Number, `{"status":"closed"}`), http.StatusOK, "close")
	eventually(t, 30*time.Second, "ticket archived after its reopen window", func() error {
		if row := rowOf(t, tk.Number); row.ArchivedAt == nil {
			return fmt.Errorf("archived_at not set; status %s", row.Status)
		}
		return nil
	})
	eventually(t, 10*time.Second, "workflow completed", func() error {
		d, err := env.temporal.DescribeWorkflowExecution(context.Background(), workflows.TicketWorkflowID(tk.Number), "")
		if err != nil {
			return err
		}
		if s := d.WorkflowExecutionInfo.Status; s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	if e := lastOfKind(historyAs(t, agent, tk.Number), "archived"); e == nil {
		t.Errorf("no archived event")
	}
	res = call(t, env.baseURL, "POST", ticketURL(tk.Number, "/comments"), []byte(`{"body":"Back again"}`), auth...)
	mustStatus(t, res, http.StatusCreated, "reply after the window")
	checkFollowUp(t, res, tk.Number, "Re: Short window", "Back again")
	mustStatus(t, call(t, env.baseURL, "POST", ticketURL(tk.Number, "/reopen"), nil, auth...), http.StatusConflict, "reopen after the window")
}

func TestSingleTicketListsAllowedMoves(t *testing.T) {
	res := createTicket(t, `{"subject":"Which moves?"}`)
	var tk ticket.Ticket
	res.decode(t, &tk)
	got := call(t, env.baseURL, http.MethodGet, fmt.Sprintf("/api/v1/tickets/%d", tk.Number), nil)
	var one ticket.Ticket
	got.decode(t, &one)
	if fmt.Sprint(one.AllowedStatuses) != fmt.Sprint(env.cfg.StatusTransitions["open"]) {
		t.Errorf("allowed_statuses %v, want %v", one.AllowedStatuses, env.cfg.StatusTransitions["open"])
	}
	patched := call(t, env.baseURL, http.MethodPatch, fmt.Sprintf("/api/v1/tickets/%d", tk.Number), []byte(`{"status":"resolved"}`))
	patched.decode(t, &one)
	if one.Status != ticket.StatusResolved || fmt.Sprint(one.AllowedStatuses) != fmt.Sprint(env.cfg.StatusTransitions["resolved"]) {
		t.Errorf("after PATCH: status %s allowed %v", one.Status, one.AllowedStatuses)
	}
	reopened := call(t, env.baseURL, http.MethodPost, fmt.Sprintf("/api/v1/tickets/%d/reopen", tk.Number), nil)
	one = ticket.Ticket{}
	reopened.decode(t, &one)
	if one.Status != ticket.StatusOpen || fmt.Sprint(one.AllowedStatuses) != fmt.Sprint(env.cfg.StatusTransitions["open"]) {
		t.Errorf("after reopen: status %s allowed %v", one.Status, one.AllowedStatuses)
	}
}

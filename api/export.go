package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/finder"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// exportRequest is GET /tickets/export's parameters.
type exportRequest struct {
	q, format, sort string
	include         map[string]bool
	bom             bool
}

// exportIncludes are what include= may add to each ticket.
var exportIncludes = []string{"comments", "history", "fields"}

// parseExport reads the export parameters (searchCaller copied them out
// of the request: they outlive it in the stream).
func parseExport(params []search.Param) (exportRequest, []FieldError) {
	var errs []FieldError
	get := func(name string) string { v, _ := param(params, name); return v }
	r := exportRequest{q: get("q"), format: get("format"), sort: get("sort"), include: map[string]bool{}}
	switch r.format {
	case "":
		r.format = "csv"
	case "csv", "ndjson":
	default:
		errs = append(errs, FieldError{Field: "format", Detail: fmt.Sprintf("unknown format %q; want csv or ndjson", r.format)})
	}
	if v := get("include"); v != "" {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if !slices.Contains(exportIncludes, part) {
				errs = append(errs, FieldError{Field: "include", Detail: fmt.Sprintf("unknown part %q; want some of %s", part, strings.Join(exportIncludes, ", "))})
				continue
			}
			r.include[part] = true
		}
	}
	if v := get("bom"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, FieldError{Field: "bom", Detail: "must be true or false"})
		}
		r.bom = b
	}
	if r.sort == "" {
		r.sort = "created"
	}
	if r.sort == search.SortRelevance || !search.ValidSort(r.sort) {
		errs = append(errs, FieldError{Field: "sort", Detail: "must be urgency, created, -created, updated or -updated"})
	}
	return r, errs
}

// exportTickets is GET /tickets/export: every ticket the query finds for
// the caller, streamed as CSV (RFC 4180, a header row, cells that a
// spreadsheet would run as a formula defused, optionally with a UTF-8 BOM)
// or NDJSON (one ticket per line). Tickets are read a thousand at a time
// over one point in time and written as they are read, so memory stays
// flat whatever the size. Each ticket is shaped for the caller as any
// answer is (requesters get their view, public comments only); the export
// is audited with its query.
func (s *Server) exportTickets(c *fiber.Ctx) error {
	p, params, staff, err := s.searchCaller(c)
	if err != nil {
		return err
	}
	r, errs := parseExport(params)
	loc, terr := s.searchLocation(p, params)
	if terr != nil {
		errs = append(errs, *terr)
	}
	if len(errs) > 0 {
		return invalid("the export is not valid", errs...)
	}
	req := finder.Request{Q: r.q, Loc: loc, Staff: staff, Sort: r.sort}
	f := s.finder()
	// Compile first: a bad query is a 422, not a broken download.
	if _, err := f.Compile(c.UserContext(), p, req); err != nil {
		return findError(err)
	}
	ex := &exporter{s: s, p: p, staff: staff, req: r}
	if ex.fields, err = s.fieldsFor(c.UserContext(), p); err != nil {
		return err
	}
	incl := make([]string, 0, len(r.include))
	for k := range r.include {
		incl = append(incl, k)
	}
	slices.Sort(incl)
	if err := s.audit(c, p, "export", "ticket", "allowed", map[string]any{"q": r.q, "format": r.format, "include": incl}); err != nil {
		return err
	}
	name := "tickets-" + time.Now().UTC().Format("20060102-150405")
	if r.format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8; header=present")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.csv"`)
	} else {
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.ndjson"`)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	s.streamBody(c, func(ctx context.Context, w io.Writer) error {
		return ex.run(ctx, f, req, w)
	})
	return nil
}

// exporter writes one export.
type exporter struct {
	s      *Server
	p      *identity.Principal
	staff  bool
	req    exportRequest
	fields []catalog.Field
	teams  map[int64]string
	csv    *csv.Writer
	n      int
}

func (ex *exporter) run(ctx context.Context, f *finder.Finder, req finder.Request, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if ex.req.format == "csv" {
		if ex.req.bom {
			bw.WriteString("\uFEFF")
		}
		ex.csv = csv.NewWriter(bw)
		ex.csv.UseCRLF = true
		if err := ex.csv.Write(ex.header()); err != nil {
			return err
		}
	}
	if ex.staff {
		teams, err := ex.s.ident.ListTeams(ctx)
		if err != nil {
			return err
		}
		ex.teams = make(map[int64]string, len(teams))
		for _, t := range teams {
			ex.teams[t.ID] = t.Name
		}
	}
	err := f.Scan(ctx, ex.p, req, func(hits []search.Hit) error {
		numbers := make([]int64, len(hits))
		for i, h := range hits {
			numbers[i] = h.Number
		}
		return ex.page(ctx, numbers, bw)
	})
	if err != nil {
		return err
	}
	if ex.csv != nil {
		ex.csv.Flush()
		if err := ex.csv.Error(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// page writes the tickets of one scan page, read from PostgreSQL within
// the caller's scope.
func (ex *exporter) page(ctx context.Context, numbers []int64, w *bufio.Writer) error {
	ts, err := ex.s.store.TicketsByNumber(ctx, numbers, ex.s.scope(ex.p).SQL)
	if err != nil {
		return err
	}
	shown, err := ex.s.shownEach(ctx, ex.staff, ts)
	if err != nil {
		return err
	}
	var emails map[int64]string
	if ex.staff {
		ids := make([]int64, 0, len(ts))
		for _, t := range ts {
			if t.RequesterID != nil {
				ids = append(ids, *t.RequesterID)
			}
		}
		if emails, err = ex.s.store.UserEmails(ctx, ids); err != nil {
			return err
		}
	}
	for i, t := range ts {
		var hist []historyItem
		if ex.req.include["comments"] || ex.req.include["history"] {
			q := store.HistoryQuery{Number: t.Number, Limit: 100000, ShowInternal: ex.staff}
			if !ex.staff {
				q.HiddenKinds = ticket.RequesterHiddenKinds()
			}
			rows, err := ex.s.store.History(ctx, q)
			if err != nil {
				return err
			}
			if hist, err = ex.s.historyItems(ctx, ex.p, ex.staff, rows); err != nil {
				return err
			}
		}
		if ex.csv != nil {
			err = ex.csv.Write(ex.row(t, emails, hist))
		} else {
			err = ex.line(w, shown[i], t, emails, hist)
		}
		if err != nil {
			return err
		}
		ex.n++
	}
	return nil
}

// exportComment is a comment as an export shows it.
type exportComment struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Author   any       `json:"author"`
	Internal bool      `json:"internal"`
	Body     string    `json:"body"`
}

func comments(hist []historyItem) []exportComment {
	out := []exportComment{}
	for _, h := range hist {
		if h.Comment != nil {
			out = append(out, exportComment{ID: h.Comment.ID, At: h.At, Author: h.Actor, Internal: h.Comment.Internal, Body: h.Comment.Body})
		}
	}
	return out
}

// line writes one NDJSON line: the ticket as the caller sees it, plus the
// requester's and team's names for staff and what include asked for.
func (ex *exporter) line(w *bufio.Writer, shown any, t ticket.Ticket, emails map[int64]string, hist []historyItem) error {
	extra := map[string]any{}
	if ex.staff {
		extra["requester"] = nameOr(emails, t.RequesterID)
		extra["team"] = nameOr(ex.teams, t.TeamID)
	}
	if ex.req.include["comments"] {
		extra["comments"] = comments(hist)
	}
	if ex.req.include["history"] {
		extra["history"] = hist
	}
	b, err := mergeJSON(shown, extra)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

func nameOr(names map[int64]string, id *int64) any {
	if id == nil {
		return nil
	}
	return names[*id]
}

// header is the CSV header row: the caller's columns, then each custom
// field as cf.<key>, comments and history when included.
func (ex *exporter) header() []string {
	h := []string{"id", "subject", "status", "priority"}
	if ex.staff {
		h = append(h, "requester", "assignee", "team", "category", "tags", "channel", "created_at", "updated_at",
			"sla_due_at", "first_responded_at", "resolved_at", "closed_at", "escalation_level")
	} else {
		h = append(h, "assigned", "category", "channel", "created_at", "updated_at", "resolved_at", "closed_at")
	}
	h = append(h, "description")
	if ex.req.include["fields"] {
		for _, f := range ex.fields {
			h = append(h, "cf."+f.Key)
		}
	}
	if ex.req.include["comments"] {
		h = append(h, "comments")
	}
	if ex.req.include["history"] {
		h = append(h, "history")
	}
	return h
}

// row is one ticket's CSV row, in header order. Every text cell goes
// through cell, which defuses formulas.
func (ex *exporter) row(t ticket.Ticket, emails map[int64]string, hist []historyItem) []string {
	ts := func(at *time.Time) string {
		if at == nil {
			return ""
		}
		return at.UTC().Format(time.RFC3339)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	r := []string{strconv.FormatInt(t.Number, 10), cell(t.Subject), string(t.Status), string(t.Priority)}
	if ex.staff {
		req, _ := nameOr(emails, t.RequesterID).(string)
		team, _ := nameOr(ex.teams, t.TeamID).(string)
		r = append(r, cell(req), cell(str(t.Assignee)), cell(team), cell(str(t.Category)), cell(strings.Join(t.Tags, ", ")), t.Channel,
			ts(&t.CreatedAt), ts(&t.UpdatedAt), ts(t.SLADueAt), ts(t.FirstRespondedAt), ts(t.ResolvedAt), ts(t.ClosedAt),
			strconv.Itoa(t.EscalationLevel))
	} else {
		r = append(r, strconv.FormatBool(t.AssigneeID != nil), cell(str(t.Category)), t.Channel,
			ts(&t.CreatedAt), ts(&t.UpdatedAt), ts(t.ResolvedAt), ts(t.ClosedAt))
	}
	r = append(r, cell(t.Description))
	if ex.req.include["fields"] {
		for _, f := range ex.fields {
			r = append(r, cell(fieldText(f, t.CustomFields[f.Key])))
		}
	}
	if ex.req.include["comments"] {
		var b strings.Builder
		for i, c := range comments(hist) {
			if i > 0 {
				b.WriteString("\n\n")
			}
			fmt.Fprintf(&b, "[%s %s%s] %s", c.At.UTC().Format(time.RFC3339), actorName(c.Author), map[bool]string{true: " (internal)"}[c.Internal], c.Body)
		}
		r = append(r, cell(b.String()))
	}
	if ex.req.include["history"] {
		var b strings.Builder
		for i, h := range hist {
			if i > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "%s %s %s", h.At.UTC().Format(time.RFC3339), h.Kind, actorName(h.Actor))
		}
		r = append(r, cell(b.String()))
	}
	return r
}

func actorName(a any) string {
	switch v := a.(type) {
	case historyActor:
		switch {
		case v.Name != nil:
			return *v.Name
		case v.Email != nil:
			return *v.Email
		}
		return "#" + strconv.FormatInt(v.ID, 10)
	case string:
		return v
	}
	return ""
}

// fieldText is a custom field value for a spreadsheet: options by label,
// lists joined.
func fieldText(f catalog.Field, v any) string {
	if v == nil {
		return ""
	}
	label := func(id any) string {
		for _, o := range f.Options {
			if o.ID == id {
				return o.Label
			}
		}
		return fmt.Sprint(id)
	}
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = label(e)
		}
		return strings.Join(parts, "; ")
	case string:
		if f.Type == catalog.TypeDropdown {
			return label(x)
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// cell defuses a text cell a spreadsheet would run as a formula (OWASP's
// CSV injection advice): one starting with = + - @, a tab or a carriage
// return gets a leading apostrophe, which spreadsheets show as text.
func cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// mergeJSON is v's JSON object with extra's members added.
func mergeJSON(v any, extra map[string]any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 || len(b) < 2 || b[len(b)-1] != '}' {
		return b, err
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := b[: len(b)-1 : len(b)-1]
	for _, k := range keys {
		vb, err := json.Marshal(extra[k])
		if err != nil {
			return nil, err
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(k)
		out = append(append(append(out, kb...), ':'), vb...)
	}
	return append(out, '}'), nil
}

package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/finder"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// maxSearchWindow is how deep search pages go (Elasticsearch's default
// max_result_window).
const maxSearchWindow = 10000

type searchPage struct {
	// Items are []ticket.Ticket for staff, []ticket.RequesterView
	// otherwise, each with its highlights.
	Items      []searchItem              `json:"items"`
	Total      int64                     `json:"total"`
	NextCursor *string                   `json:"next_cursor"`
	NextOffset *int                      `json:"next_offset,omitempty"`
	Sort       string                    `json:"sort"`
	Facets     map[string][]finder.Facet `json:"facets,omitempty"`
}

// searchItem is a ticket as the caller may see it with the fragments of
// its text that matched (HTML-escaped, matches in <mark>).
type searchItem struct {
	Ticket     any
	Highlights map[string][]string
}

func (it searchItem) MarshalJSON() ([]byte, error) {
	h := it.Highlights
	if h == nil {
		h = map[string][]string{}
	}
	return mergeJSON(it.Ticket, map[string]any{"highlights": h})
}

// searchTickets is GET /tickets/search: the query language in q
// (docs/query.md), sorted (sort), paged by an opaque cursor with
// search_after over a point in time, with facets on the first page and
// highlights, always within the caller's scope. The deprecated separate
// filters (status, priority, assignee, team, category_id, tag, channel,
// cf.*, offset) still work for one release and combine with q. Matches
// are found on the index; the tickets answered are read from PostgreSQL,
// again within the scope, so an answer never shows more than the caller
// may see, nor a stale ticket. Requesters never search or see internal
// notes and may not search by what they do not see.
func (s *Server) searchTickets(c *fiber.Ctx) error {
	p, params, staff, err := s.searchCaller(c)
	if err != nil {
		return err
	}
	in, errs := parseSearch(params, staff, p.User.ID)
	legacy, rerrs, err := s.resolveSearch(c.UserContext(), p, in, params)
	if err != nil {
		return err
	}
	loc, terr := s.searchLocation(p, params)
	if terr != nil {
		errs = append(errs, *terr)
	}
	if errs = append(errs, rerrs...); len(errs) > 0 {
		return invalid("the search is not valid", errs...)
	}
	req := finder.Request{Q: in.text, Loc: loc, Staff: staff, Sort: in.sort, Cursor: in.cursor,
		Limit: legacy.Size, Facets: in.facets, Legacy: legacy, From: legacy.From}
	page, err := s.finder().Search(c.UserContext(), p, req)
	if err != nil {
		return findError(err)
	}
	numbers := make([]int64, len(page.Hits))
	for i, h := range page.Hits {
		numbers[i] = h.Number
	}
	items, err := s.store.TicketsByNumber(c.UserContext(), numbers, s.scope(p).SQL)
	if err != nil {
		return err
	}
	shown, err := s.shownEach(c.UserContext(), staff, items)
	if err != nil {
		return err
	}
	out := searchPage{Items: make([]searchItem, 0, len(shown)), Total: page.Total, Sort: page.Sort, Facets: page.Facets}
	byNumber := make(map[int64]map[string][]string, len(page.Hits))
	for _, h := range page.Hits {
		byNumber[h.Number] = h.Highlights
	}
	for i, t := range items {
		out.Items = append(out.Items, searchItem{Ticket: shown[i], Highlights: byNumber[t.Number]})
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	if in.cursor == "" {
		// Offset paging (deprecated) for clients that still use it.
		if next := legacy.From + len(page.Hits); int64(next) < page.Total && len(page.Hits) == legacy.Size && next+legacy.Size <= maxSearchWindow {
			out.NextOffset = &next
		}
	}
	return c.JSON(out)
}

// searchCaller is what every search needs first: the caller, the query
// parameters (string(…) copies them out of fasthttp's buffers) and
// whether the caller is staff.
func (s *Server) searchCaller(c *fiber.Ctx) (*identity.Principal, []search.Param, bool, error) {
	if s.index == nil {
		return nil, nil, false, unavailable("search is not configured", 30)
	}
	p := principalOf(c)
	var params []search.Param
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		params = append(params, search.Param{Name: string(k), Value: string(v)})
	})
	staff, err := s.staffView(p)
	return p, params, staff, err
}

// shownEach is each ticket as the caller sees it, in order: the ticket
// itself for staff, its requester view otherwise (shapeFor).
func (s *Server) shownEach(ctx context.Context, staff bool, ts []ticket.Ticket) ([]any, error) {
	views, err := s.shapeFor(ctx, staff, ts)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(ts))
	for i, t := range ts {
		if views != nil {
			out[i] = views[i]
		} else {
			out[i] = t
		}
	}
	return out, nil
}

// findError turns a finder's refusal into a 422 naming the parameter and,
// for the query, the position.
func findError(err error) error {
	var ie *finder.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	fes := make([]FieldError, len(ie.Problems))
	for i, p := range ie.Problems {
		fes[i] = FieldError{Field: p.Field, Detail: p.Detail, Position: p.Position}
	}
	return invalid("the search is not valid", fes...)
}

// finder is the one way the API finds tickets by a query.
func (s *Server) finder() *finder.Finder {
	return &finder.Finder{Store: s.store, Ident: s.ident, Index: s.index,
		Scope: identity.ScopeOptions{AgentsSeeAllTickets: s.cfg.AgentsSeeAllTickets}}
}

// searchLocation is the time zone a search reads days in: the tz
// parameter, else the caller's own, else the business calendar's.
func (s *Server) searchLocation(p *identity.Principal, params []search.Param) (*time.Location, *FieldError) {
	if v, ok := param(params, "tz"); ok {
		loc, err := loadZone(v)
		if err != nil {
			return nil, &FieldError{Field: "tz", Detail: err.Error()}
		}
		return loc, nil
	}
	return s.userLocation(p), nil
}

// loadZone reads an IANA time zone name; "Local" (the server's zone) is
// not one a caller may ask for.
func loadZone(name string) (*time.Location, error) {
	if len(name) > 64 {
		return nil, fmt.Errorf("must be an IANA time zone such as Europe/Berlin")
	}
	return sla.LoadZone(name)
}

// searchInput is a search's query parameters checked for everything that
// needs neither the caller's scope nor the store.
type searchInput struct {
	query      search.Query // without scope, category subtree and field filters
	categoryID *int64
	// fieldFilters: some parameter filters by a custom field (cf.<key>).
	fieldFilters bool
	// text is q, the query language; sort, cursor and facets as given.
	text, sort, cursor string
	facets             bool
}

// parseSearch reads a search's query parameters (the first value of each,
// all of tag's); staff is whether the caller sees what requesters do not,
// me is the caller (assignee=me).
func parseSearch(params []search.Param, staff bool, me int64) (searchInput, []FieldError) {
	var errs []FieldError
	get := func(name string) string { v, _ := param(params, name); return v }
	if !staff {
		errs = staffOnlyParams(func(n string) bool { _, ok := param(params, n); return ok }, "assignee", "team", "tag")
	}
	in := searchInput{query: search.Query{Size: 25}, text: get("q"), sort: get("sort"), cursor: get("cursor"), facets: true}
	q := &in.query
	if v, ok := param(params, "facets"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, FieldError{Field: "facets", Detail: "must be true or false"})
		}
		in.facets = b
	}
	if in.sort != "" && !search.ValidSort(in.sort) {
		errs = append(errs, FieldError{Field: "sort", Detail: fmt.Sprintf("unknown sort %q; want one of %s", in.sort, strings.Join(search.Sorts, ", "))})
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, FieldError{Field: "limit", Detail: "must be a whole number from 1 to 100"})
		} else {
			q.Size = n
		}
	}
	if v := get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n+q.Size > maxSearchWindow {
			errs = append(errs, FieldError{Field: "offset", Detail: fmt.Sprintf("must be a whole number from 0 to %d minus limit; narrow the search to go deeper", maxSearchWindow)})
		} else {
			q.From = n
		}
		if in.cursor != "" {
			errs = append(errs, FieldError{Field: "offset", Detail: "cannot be used with cursor (offset paging is deprecated; use cursor)"})
		}
	}
	for _, st := range parseStatuses(get("status"), &errs) {
		q.Statuses = append(q.Statuses, string(st))
	}
	if v := get("priority"); v != "" {
		for _, part := range strings.Split(v, ",") {
			pr, err := ticket.ParsePriority(strings.TrimSpace(part))
			if err != nil {
				errs = append(errs, FieldError{Field: "priority", Detail: err.Error()})
				continue
			}
			q.Priorities = append(q.Priorities, string(pr))
		}
	}
	q.AssigneeID, q.Unassigned = parseAssignee(get("assignee"), me, &errs)
	if v := get("team"); v != "" {
		if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
			errs = append(errs, FieldError{Field: "team", Detail: "must be a team id"})
		} else {
			q.TeamID = &id
		}
	}
	if v := get("category_id"); v != "" {
		if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
			errs = append(errs, FieldError{Field: "category_id", Detail: "must be a category id"})
		} else {
			in.categoryID = &id
		}
	}
	for _, prm := range params {
		if prm.Name == "tag" && strings.TrimSpace(prm.Value) != "" {
			q.Tags = append(q.Tags, strings.TrimSpace(prm.Value))
		}
		in.fieldFilters = in.fieldFilters || strings.HasPrefix(prm.Name, search.FieldParamPrefix)
	}
	switch v := get("channel"); v {
	case "", "web", "api", "email":
		q.Channel = v
	default:
		errs = append(errs, FieldError{Field: "channel", Detail: fmt.Sprintf("unknown channel %q; want web, api or email", v)})
	}
	return in, errs
}

// param is the first value of query parameter name.
func param(params []search.Param, name string) (string, bool) {
	for _, p := range params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// resolveSearch completes a parsed search for p: within p's scope, over
// the category's subtree, with the custom field filters p may use.
func (s *Server) resolveSearch(ctx context.Context, p *identity.Principal, in searchInput, params []search.Param) (search.Query, []FieldError, error) {
	q := in.query
	q.Scope = s.scope(p).ElasticsearchFilter()
	var errs []FieldError
	if id := in.categoryID; id != nil {
		tree, err := s.categoryTree(ctx)
		if err != nil {
			return q, nil, err
		}
		if _, ok := tree.Get(*id); !ok {
			errs = append(errs, FieldError{Field: "category_id", Detail: fmt.Sprintf("category %d does not exist", *id)})
		}
		q.CategoryIDs = append([]int64{*id}, tree.Descendants(*id)...)
	}
	if in.fieldFilters {
		fields, err := s.fieldsFor(ctx, p)
		if err != nil {
			return q, nil, err
		}
		var probs []catalog.Problem
		q.Fields, probs = search.ParseFieldFilters(params, fields)
		errs = append(errs, problemsOf(probs)...)
	}
	return q, errs, nil
}

package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// maxSearchWindow is how deep search pages go (Elasticsearch's default
// max_result_window).
const maxSearchWindow = 10000

type searchPage struct {
	// Items are []ticket.Ticket for staff, []ticket.RequesterView otherwise.
	Items      any   `json:"items"`
	Total      int64 `json:"total"`
	NextOffset *int  `json:"next_offset"`
}

// searchTickets is GET /tickets/search: full text (q) and filters over the
// Elasticsearch projection, custom fields included (cf.<key>=…, see
// search.ParseFieldFilters), always within the caller's scope. Matches are
// found on the indexed state; the tickets answered are read from
// PostgreSQL, again within the scope, so an answer never shows more than
// the caller may see, nor a stale ticket. Nothing of Elasticsearch's
// answer but the numbers and the total is used (no _source, no
// highlights), and the tickets are shaped for the caller like any other
// answer. Requesters may not filter by what they do not see (assignee,
// team, tags: refused; a hidden custom field: no such field), so no
// filter tells them anything about it.
func (s *Server) searchTickets(c *fiber.Ctx) error {
	if s.index == nil {
		return unavailable("search is not configured", 30)
	}
	p := principalOf(c)
	var params []search.Param
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		params = append(params, search.Param{Name: string(k), Value: string(v)})
	})
	staff, err := s.staffView(p)
	if err != nil {
		return err
	}
	in, errs := parseSearch(params, staff, p.User.ID)
	q, rerrs, err := s.resolveSearch(c.UserContext(), p, in, params)
	if err != nil {
		return err
	}
	if errs = append(errs, rerrs...); len(errs) > 0 {
		return invalid("the search is not valid", errs...)
	}
	res, err := s.index.Search(c.UserContext(), q)
	if err != nil {
		return err
	}
	items, err := s.store.TicketsByNumber(c.UserContext(), res.Numbers, s.scope(p).SQL)
	if err != nil {
		return err
	}
	shown, err := s.ticketsFor(c, items)
	if err != nil {
		return err
	}
	page := searchPage{Items: shown, Total: res.Total}
	if next := q.From + len(res.Numbers); int64(next) < res.Total && len(res.Numbers) == q.Size && next+q.Size <= maxSearchWindow {
		page.NextOffset = &next
	}
	return c.JSON(page)
}

// searchInput is a search's query parameters checked for everything that
// needs neither the caller's scope nor the store.
type searchInput struct {
	query      search.Query // without scope, category subtree and field filters
	categoryID *int64
	// fieldFilters: some parameter filters by a custom field (cf.<key>).
	fieldFilters bool
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
	in := searchInput{query: search.Query{Text: strings.TrimSpace(get("q")), Size: 25}}
	q := &in.query
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

package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
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
	var errs []FieldError
	staff, err := s.staffView(p)
	if err != nil {
		return err
	}
	if !staff {
		errs = append(errs, staffOnlyParams(c, "assignee", "team", "tag")...)
	}
	q := search.Query{Text: strings.TrimSpace(c.Query("q")), Size: 25, Scope: s.scope(p).ElasticsearchFilter()}
	q.Size = int(queryInt(c, "limit", 1, 100, int64(q.Size), "must be a whole number from 1 to 100", &errs))
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n+q.Size > maxSearchWindow {
			errs = append(errs, FieldError{Field: "offset", Detail: fmt.Sprintf("must be a whole number from 0 to %d minus limit; narrow the search to go deeper", maxSearchWindow)})
		} else {
			q.From = n
		}
	}
	for _, st := range parseStatuses(c.Query("status"), &errs) {
		q.Statuses = append(q.Statuses, string(st))
	}
	if v := c.Query("priority"); v != "" {
		for _, part := range strings.Split(v, ",") {
			pr, err := ticket.ParsePriority(strings.TrimSpace(part))
			if err != nil {
				errs = append(errs, FieldError{Field: "priority", Detail: err.Error()})
				continue
			}
			q.Priorities = append(q.Priorities, string(pr))
		}
	}
	q.AssigneeID, q.Unassigned = parseAssignee(c.Query("assignee"), p.User.ID, &errs)
	if v := c.Query("team"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, FieldError{Field: "team", Detail: "must be a team id"})
		}
		q.TeamID = &id
	}
	if v := c.Query("category_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, FieldError{Field: "category_id", Detail: "must be a category id"})
		} else {
			tree, err := s.categoryTree(c.UserContext())
			if err != nil {
				return err
			}
			if _, ok := tree.Get(id); !ok {
				errs = append(errs, FieldError{Field: "category_id", Detail: fmt.Sprintf("category %d does not exist", id)})
			}
			q.CategoryIDs = append([]int64{id}, tree.Descendants(id)...)
		}
	}
	for _, prm := range params {
		if prm.Name == "tag" && strings.TrimSpace(prm.Value) != "" {
			q.Tags = append(q.Tags, strings.TrimSpace(prm.Value))
		}
	}
	switch v := c.Query("channel"); v {
	case "", "web", "api", "email":
		q.Channel = v
	default:
		errs = append(errs, FieldError{Field: "channel", Detail: fmt.Sprintf("unknown channel %q; want web, api or email", v)})
	}
	hasCF := false
	for _, prm := range params {
		hasCF = hasCF || strings.HasPrefix(prm.Name, search.FieldParamPrefix)
	}
	if hasCF {
		fields, err := s.fieldsFor(c.UserContext(), p)
		if err != nil {
			return err
		}
		var probs []catalog.Problem
		q.Fields, probs = search.ParseFieldFilters(params, fields)
		errs = append(errs, problemsOf(probs)...)
	}
	if len(errs) > 0 {
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

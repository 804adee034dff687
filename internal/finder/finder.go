// Package finder answers ticket searches written in the query language
// (internal/query) for one caller: it resolves the names a query uses
// (teams, categories, custom fields) to ids, compiles the query with the
// caller's time zone and scope (internal/search), runs it on the index and
// pages with search_after behind an opaque cursor. The search API, exports
// and bulk actions all find tickets through it, so they agree on what a
// query means and on what a caller may see.
package finder

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/query"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
)

// Finder finds tickets for callers.
type Finder struct {
	Store *store.Store
	Ident *identity.Service
	Index *search.Index
	Scope identity.ScopeOptions
	// Now is the clock relative dates count from (time.Now if nil).
	Now func() time.Time
}

// Request is one search.
type Request struct {
	// Q is the query, in the query language.
	Q string
	// Loc is the time zone days are read in.
	Loc *time.Location
	// Staff: the caller sees internal notes and staff-only fields.
	Staff bool
	// Sort is one of search.Sorts; "" is relevance with free text, else
	// newest first.
	Sort string
	// Cursor continues a previous page; Limit is the page size.
	Cursor string
	Limit  int
	// Facets: count facets (first pages only).
	Facets bool
	// Legacy carries the deprecated separate parameters' filters; From is
	// their offset paging (no cursor then).
	Legacy search.Query
	From   int
}

// Facet is one facet value: for team, assignee and category the id is
// the filter and the value its name.
type Facet struct {
	Value string `json:"value"`
	ID    *int64 `json:"id,omitempty"`
	Count int64  `json:"count"`
}

// Page is one page of results.
type Page struct {
	Hits       []search.Hit
	Total      int64
	Facets     map[string][]Facet
	NextCursor string
	// Sort is the order the page is in.
	Sort string
}

// Problem is one thing wrong with a request: the parameter, what is
// wrong, and for the query the byte position.
type Problem struct {
	Field    string
	Detail   string
	Position *int
}

// InvalidError is a request that cannot run as asked.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Detail
	}
	return "finder: " + strings.Join(parts, "; ")
}

func invalid(field, detail string) error {
	return &InvalidError{Problems: []Problem{{Field: field, Detail: detail}}}
}

// Compile parses and compiles r's query for p: the Elasticsearch request
// of its first page, without paging. Errors are *InvalidError.
func (f *Finder) Compile(ctx context.Context, p *identity.Principal, r Request) (search.Request, error) {
	sr, _, err := f.compile(ctx, p, r)
	return sr, err
}

// compile is Compile that also answers the parsed query.
func (f *Finder) compile(ctx context.Context, p *identity.Principal, r Request) (search.Request, query.Query, error) {
	q, err := query.Parse(r.Q)
	if err != nil {
		var qe *query.Error
		if errors.As(err, &qe) {
			pos := qe.Pos
			return search.Request{}, q, &InvalidError{Problems: []Problem{{Field: "q", Detail: qe.Error(), Position: &pos}}}
		}
		return search.Request{}, q, invalid("q", err.Error())
	}
	env, err := f.env(ctx, p, q, r)
	if err != nil {
		return search.Request{}, q, err
	}
	clauses, qerrs := search.Compile(q, env)
	if len(qerrs) > 0 {
		ie := &InvalidError{}
		for _, qe := range qerrs {
			pos := qe.Pos
			ie.Problems = append(ie.Problems, Problem{Field: "q", Detail: qe.Error(), Position: &pos})
		}
		return search.Request{}, q, ie
	}
	sort := r.Sort
	if sort == "" {
		sort = "-created"
		if len(clauses.Text) > 0 {
			sort = search.SortRelevance
		}
	}
	if !search.ValidSort(sort) {
		return search.Request{}, q, invalid("sort", fmt.Sprintf("unknown sort %q; want one of %s", sort, strings.Join(search.Sorts, ", ")))
	}
	legacy := r.Legacy
	legacy.Scope = identity.TicketScope(*p, f.Scope).ElasticsearchFilter()
	sr := search.Request{Query: legacy, Clauses: clauses, Sort: sort}
	sr.Query.Size = r.Limit
	sr.Query.From = r.From
	return sr, q, nil
}

// env resolves what compiling q for p needs, reading only what q uses.
func (f *Finder) env(ctx context.Context, p *identity.Principal, q query.Query, r Request) (search.Env, error) {
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	loc := r.Loc
	if loc == nil {
		loc = time.UTC
	}
	env := search.Env{Now: now, Loc: loc, Me: p.User.ID, Staff: r.Staff}
	uses := func(field string) bool {
		return slices.ContainsFunc(q.Terms, func(t query.Term) bool { return t.Field == field })
	}
	if uses("team") && r.Staff {
		teams, err := f.Ident.ListTeams(ctx)
		if err != nil {
			return env, err
		}
		env.Teams = make(map[string]int64, len(teams))
		for _, t := range teams {
			env.Teams[strings.ToLower(t.Name)] = t.ID
		}
	}
	if uses("category") {
		cs, err := f.Store.Categories(ctx)
		if err != nil {
			return env, err
		}
		tree := catalog.NewTree(cs)
		env.Categories = map[string][]int64{}
		for _, c := range cs {
			sub := tree.Descendants(c.ID)
			for _, name := range []string{c.Name, tree.PathName(c.ID)} {
				key := strings.ToLower(strings.Join(strings.Fields(name), " "))
				env.Categories[key] = append(env.Categories[key], sub...)
			}
		}
		for k, ids := range env.Categories {
			slices.Sort(ids)
			env.Categories[k] = slices.Compact(ids)
		}
	}
	if slices.ContainsFunc(q.Terms, func(t query.Term) bool { return strings.HasPrefix(t.Field, "cf.") }) {
		fs, err := f.Store.CustomFields(ctx)
		if err != nil {
			return env, err
		}
		if !r.Staff {
			fs = catalog.ForRequesters(fs)
		}
		env.Fields = make(map[string]catalog.Field, len(fs))
		for _, fd := range fs {
			env.Fields[fd.Key] = fd
		}
	}
	return env, nil
}

// cursor is what a next page needs: the sort, the last hit's sort key,
// the point in time, and a fingerprint of the search it belongs to.
type cursor struct {
	Sort  string `json:"s"`
	After []any  `json:"a"`
	PIT   string `json:"p,omitempty"`
	Of    string `json:"f"`
}

// fingerprint ties a cursor to its search: the same query (as parsed), time
// zone and kind of caller.
func fingerprint(q query.Query, r Request, sort string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00%s\x00%+v", q.String(), r.Loc, r.Staff, sort, legacyKey(r.Legacy))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

func legacyKey(q search.Query) string {
	q.Size, q.From, q.Scope = 0, 0, nil
	b, _ := json.Marshal(q)
	return string(b)
}

const maxCursor = 4096

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if len(s) > maxCursor {
		return c, fmt.Errorf("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	if len(c.After) == 0 || len(c.After) > 4 {
		return c, fmt.Errorf("no position")
	}
	for i, v := range c.After {
		switch x := v.(type) {
		case json.Number:
			// search_after takes numbers as they were answered.
			if n, err := x.Int64(); err == nil {
				c.After[i] = n
			} else if fl, err := x.Float64(); err == nil {
				c.After[i] = fl
			} else {
				return c, fmt.Errorf("bad position")
			}
		case string:
			if len(x) > 64 {
				return c, fmt.Errorf("bad position")
			}
		default:
			return c, fmt.Errorf("bad position")
		}
	}
	return c, nil
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Search answers one page of r for p.
func (f *Finder) Search(ctx context.Context, p *identity.Principal, r Request) (Page, error) {
	sr, q, err := f.compile(ctx, p, r)
	if err != nil {
		return Page{}, err
	}
	fp := fingerprint(q, r, sr.Sort)
	if r.Cursor != "" {
		c, err := decodeCursor(r.Cursor)
		if err != nil {
			return Page{}, invalid("cursor", "is not a cursor this search answered; start again without it")
		}
		if c.Of != fp || c.Sort != sr.Sort {
			return Page{}, invalid("cursor", "belongs to a different search (query, sort or time zone changed); start again without it")
		}
		sr.After, sr.PIT = c.After, c.PIT
	} else if r.Facets {
		if r.Staff {
			sr.Facets = search.StaffFacets
		} else {
			sr.Facets = search.RequesterFacets
		}
	}
	sr.Highlight = search.HighlightFields(r.Staff)
	// The pages after the first read one point in time, so a ticket
	// changed meanwhile is neither shown twice nor skipped. An order a
	// change can move (relevance, urgency, updated) opens it beside the
	// first page's search, not after it: the two see the same refresh
	// but for a window of milliseconds, and the first page costs no extra
	// round trip. Creation order needs none: no change moves a ticket in
	// it.
	var pitc chan pitResult
	if r.Cursor == "" && r.From == 0 && r.Limit > 0 && movable(sr.Sort) {
		pitc = make(chan pitResult, 1)
		go func() {
			id, err := f.Index.OpenPIT(ctx)
			pitc <- pitResult{id, err}
		}()
	}
	found, err := f.Index.Find(ctx, sr)
	pit, pitErr := f.pitFor(ctx, pitc, err == nil && r.From == 0 && len(found.Hits) == r.Limit && r.Limit > 0 &&
		(r.Cursor != "" || int64(len(found.Hits)) < found.Total))
	if errors.Is(err, search.ErrExpired) {
		return Page{}, invalid("cursor", "has expired; start the search again")
	}
	if err != nil {
		if r.Cursor != "" {
			return Page{}, invalid("cursor", "cannot be continued; start the search again")
		}
		return Page{}, err
	}
	page := Page{Hits: found.Hits, Total: found.Total, Sort: sr.Sort}
	if found.Facets != nil {
		if page.Facets, err = f.name(ctx, found.Facets); err != nil {
			return Page{}, err
		}
	}
	if r.From == 0 && len(found.Hits) == r.Limit && r.Limit > 0 && (r.Cursor != "" || int64(len(found.Hits)) < found.Total) {
		if pitErr != nil {
			return Page{}, pitErr
		}
		if found.PIT != "" {
			pit = found.PIT
		}
		last := found.Hits[len(found.Hits)-1]
		page.NextCursor = encodeCursor(cursor{Sort: sr.Sort, After: last.Sort, PIT: pit, Of: fp})
	}
	return page, nil
}

type pitResult struct {
	id  string
	err error
}

// movable reports whether a change to a ticket can move it in the order.
func movable(sort string) bool { return sort != "created" && sort != "-created" }

// pitFor waits for the point in time opened beside a first page (if one
// was) and keeps it when there is a next page, else closes it.
func (f *Finder) pitFor(ctx context.Context, pitc chan pitResult, next bool) (string, error) {
	if pitc == nil {
		return "", nil
	}
	res := <-pitc
	if !next {
		if res.id != "" {
			go f.Index.ClosePIT(context.WithoutCancel(ctx), res.id)
		}
		return "", nil
	}
	return res.id, res.err
}

// name attaches names to the facets counted by id.
func (f *Finder) name(ctx context.Context, in map[string][]search.Bucket) (map[string][]Facet, error) {
	out := make(map[string][]Facet, len(in))
	var teams map[int64]string
	var tree *catalog.Tree
	var users map[int64]string
	for name, bs := range in {
		fs := make([]Facet, 0, len(bs))
		for _, b := range bs {
			fc := Facet{Value: b.Value, Count: b.Count}
			switch name {
			case "team", "assignee", "category":
				id, err := strconv.ParseInt(b.Value, 10, 64)
				if err != nil {
					continue
				}
				if id == -1 {
					fc.Value = "none"
					break
				}
				fc.ID = &id
				switch name {
				case "team":
					if teams == nil {
						ts, err := f.Ident.ListTeams(ctx)
						if err != nil {
							return nil, err
						}
						teams = map[int64]string{}
						for _, t := range ts {
							teams[t.ID] = t.Name
						}
					}
					fc.Value = teams[id]
				case "category":
					if tree == nil {
						cs, err := f.Store.Categories(ctx)
						if err != nil {
							return nil, err
						}
						tree = catalog.NewTree(cs)
					}
					fc.Value = tree.PathName(id)
				case "assignee":
					if users == nil {
						ids := make([]int64, 0, len(bs))
						for _, b := range bs {
							if n, err := strconv.ParseInt(b.Value, 10, 64); err == nil && n > 0 {
								ids = append(ids, n)
							}
						}
						var err error
						if users, err = f.Store.UserEmails(ctx, ids); err != nil {
							return nil, err
						}
					}
					fc.Value = users[id]
				}
				if fc.Value == "" {
					fc.Value = "#" + b.Value
				}
			}
			fs = append(fs, fc)
		}
		out[name] = fs
	}
	return out, nil
}

// scanPage is how many tickets one scan step reads.
const scanPage = 1000

// Scan calls fn with every ticket matching r for p, page by page in the
// request's order, over one point in time: a ticket changed while the scan
// runs is seen once, as it was when the scan started. Limit and Cursor are
// ignored.
func (f *Finder) Scan(ctx context.Context, p *identity.Principal, r Request, fn func(hits []search.Hit) error) error {
	r.Cursor, r.Facets, r.From = "", false, 0
	sr, err := f.Compile(ctx, p, r)
	if err != nil {
		return err
	}
	if sr.Sort == search.SortRelevance {
		// A scan has no use for scores; the number order is stable.
		sr.Sort = "created"
	}
	sr.Query.Size = scanPage
	sr.OpenPIT = true
	defer func() { f.Index.ClosePIT(context.WithoutCancel(ctx), sr.PIT) }()
	for {
		found, err := f.Index.Find(ctx, sr)
		if err != nil {
			return err
		}
		sr.PIT, sr.OpenPIT = found.PIT, false
		if len(found.Hits) > 0 {
			if err := fn(found.Hits); err != nil {
				return err
			}
		}
		if len(found.Hits) < scanPage {
			return nil
		}
		sr.After = found.Hits[len(found.Hits)-1].Sort
	}
}

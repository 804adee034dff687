package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/helpdesk/helpdesk/internal/query"
)

// Sorts are the orders a search can have (query.Sorts).
var Sorts = query.Sorts

// The sort names with a meaning of their own.
const (
	SortRelevance = "relevance"
	SortUrgency   = "urgency"
)

// ValidSort reports whether s is one of Sorts.
func ValidSort(s string) bool {
	for _, v := range Sorts {
		if v == s {
			return true
		}
	}
	return false
}

// sortClause is the Elasticsearch sort of a sort name. Every order ends
// with the ticket number, so it is total and search_after never skips or
// repeats a ticket with an equal key. Urgency is the work queue's order
// (store.UrgencyKey): most urgent priority, earliest deadline (none last),
// oldest, lowest number.
func sortClause(name string) []any {
	switch name {
	case SortUrgency:
		return []any{
			map[string]any{"priority_rank": "asc"},
			map[string]any{"sla_due_at": map[string]any{"order": "asc", "missing": "_last"}},
			map[string]any{"created_at": "asc"},
			map[string]any{"id": "asc"},
		}
	case "created":
		return []any{map[string]any{"created_at": "asc"}, map[string]any{"id": "asc"}}
	case "-created":
		return []any{map[string]any{"created_at": "desc"}, map[string]any{"id": "desc"}}
	case "updated":
		return []any{map[string]any{"updated_at": "asc"}, map[string]any{"id": "asc"}}
	case "-updated":
		return []any{map[string]any{"updated_at": "desc"}, map[string]any{"id": "desc"}}
	}
	return []any{"_score", map[string]any{"id": "desc"}}
}

// Facet names and the document field each counts. Team, assignee and
// category are counted by id (names are the caller's to attach: a rename
// must not need a reindex); assignee counts unassigned tickets as -1.
var facetFields = map[string]string{
	"status": "status", "priority": "priority", "team": "team_id", "assignee": "assignee_id",
	"category": "category_id", "tag": "tags", "channel": "channel",
}

// StaffFacets are every facet; RequesterFacets the ones about what
// requesters see.
var (
	StaffFacets     = []string{"status", "priority", "team", "assignee", "category", "tag", "channel"}
	RequesterFacets = []string{"status", "priority", "category", "channel"}
)

// Bucket is one value of a facet and how many matching tickets have it.
type Bucket struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Hit is one matching ticket: its number, the highlighted fragments of the
// text that matched (HTML-escaped, matches in <mark>), and its sort values
// (the search_after key of the next page).
type Hit struct {
	Number     int64
	Highlights map[string][]string
	Sort       []any
}

// Found is one page of a search.
type Found struct {
	Hits  []Hit
	Total int64
	// Facets by name; only when the request asked for them.
	Facets map[string][]Bucket
	// PIT is the point in time the page was read at, when the request
	// opened or used one.
	PIT string
}

// Request is one search: a query (the legacy filters, the compiled query
// language clauses and the caller's scope), an order and a page.
type Request struct {
	Query   Query
	Clauses Clauses
	Sort    string
	// After is the previous page's last sort key; PIT the point in time of
	// the previous pages (both empty on a first page).
	After []any
	PIT   string
	// OpenPIT opens a point in time for the pages after this one.
	OpenPIT bool
	// Highlight lists the text fields to highlight (requesters never get
	// internal_text); nil: no highlights.
	Highlight []string
	// Facets lists the facets to count.
	Facets []string
}

// pitKeepAlive is how long a search's point in time lives after each page.
const pitKeepAlive = "5m"

// Body is the Elasticsearch request of r.
func (r Request) Body() map[string]any {
	body := r.Query.Body()
	must, filter := r.Query.clauses()
	b := map[string]any{"must": append(must, r.Clauses.Must...), "filter": append(filter, r.Clauses.Filter...)}
	if len(r.Clauses.MustNot) > 0 {
		b["must_not"] = r.Clauses.MustNot
	}
	body["query"] = map[string]any{"bool": b}
	sort := r.Sort
	if sort == "" {
		sort = SortRelevance
	}
	body["sort"] = sortClause(sort)
	if len(r.After) > 0 {
		delete(body, "from")
		body["search_after"] = r.After
	}
	if r.PIT != "" {
		body["pit"] = map[string]any{"id": r.PIT, "keep_alive": pitKeepAlive}
	}
	if len(r.Highlight) > 0 && len(r.Clauses.Text) > 0 {
		fields := map[string]any{}
		for _, name := range r.Highlight {
			opts := map[string]any{"number_of_fragments": 3, "fragment_size": 150}
			if name == "subject" {
				opts = map[string]any{"number_of_fragments": 0}
			}
			fields[name] = opts
		}
		// Only the free text highlights: a filter's value (a tag, a
		// status) is not what the person looked for in the text.
		body["highlight"] = map[string]any{
			"encoder": "html", "pre_tags": []string{"<mark>"}, "post_tags": []string{"</mark>"},
			"require_field_match": true, "fields": fields,
			"highlight_query": map[string]any{"bool": map[string]any{"must": r.Clauses.Text}},
		}
	}
	if len(r.Facets) > 0 {
		aggs := map[string]any{}
		for _, name := range r.Facets {
			field, ok := facetFields[name]
			if !ok {
				continue
			}
			t := map[string]any{"field": field, "size": 20}
			if name == "assignee" || name == "team" {
				t["missing"] = -1
			}
			aggs[name] = map[string]any{"terms": t}
		}
		body["aggs"] = aggs
	}
	return body
}

// Find runs r.
func (ix *Index) Find(ctx context.Context, r Request) (Found, error) {
	if r.OpenPIT && r.PIT == "" {
		pit, err := ix.OpenPIT(ctx)
		if err != nil {
			return Found{}, err
		}
		r.PIT = pit
	}
	body, err := json.Marshal(r.Body())
	if err != nil {
		return Found{}, fmt.Errorf("search: encode query: %w", err)
	}
	opts := []func(*esapi.SearchRequest){ix.es.Search.WithBody(bytes.NewReader(body)), ix.es.Search.WithContext(ctx)}
	if r.PIT == "" {
		opts = append(opts, ix.es.Search.WithIndex(ix.name))
	}
	res, err := ix.es.Search(opts...)
	if err != nil {
		return Found{}, fmt.Errorf("search: query: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		if res.StatusCode == http.StatusNotFound && r.PIT != "" {
			return Found{}, ErrExpired
		}
		return Found{}, fmt.Errorf("search: query: %s: %s", res.Status(), msg)
	}
	return decodeFound(res.Body, r.PIT)
}

// ErrExpired says a search's point in time is gone (the cursor is older
// than its keep-alive, or the cluster restarted).
var ErrExpired = fmt.Errorf("search: the search has expired")

func decodeFound(body io.Reader, pit string) (Found, error) {
	var out struct {
		PIT  string `json:"pit_id"`
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID        string              `json:"_id"`
				Highlight map[string][]string `json:"highlight"`
				Sort      []any               `json:"sort"`
			} `json:"hits"`
		} `json:"hits"`
		Aggs map[string]struct {
			Buckets []struct {
				Key      any   `json:"key"`
				KeyAsStr any   `json:"key_as_string"`
				Count    int64 `json:"doc_count"`
			} `json:"buckets"`
		} `json:"aggregations"`
	}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return Found{}, fmt.Errorf("search: query: decode: %w", err)
	}
	f := Found{Total: out.Hits.Total.Value, Hits: make([]Hit, 0, len(out.Hits.Hits)), PIT: pit}
	if out.PIT != "" {
		f.PIT = out.PIT
	}
	for _, h := range out.Hits.Hits {
		n, err := strconv.ParseInt(h.ID, 10, 64)
		if err != nil {
			continue
		}
		f.Hits = append(f.Hits, Hit{Number: n, Highlights: h.Highlight, Sort: h.Sort})
	}
	if len(out.Aggs) > 0 {
		f.Facets = map[string][]Bucket{}
		for name, a := range out.Aggs {
			bs := make([]Bucket, 0, len(a.Buckets))
			for _, b := range a.Buckets {
				bs = append(bs, Bucket{Value: fmt.Sprint(b.Key), Count: b.Count})
			}
			f.Facets[name] = bs
		}
	}
	return f, nil
}

// OpenPIT opens a point in time on the index: the pages of one search
// read the same snapshot, so a ticket changed while someone pages is
// neither shown twice nor skipped.
func (ix *Index) OpenPIT(ctx context.Context) (string, error) {
	res, err := ix.es.OpenPointInTime([]string{ix.name}, pitKeepAlive, ix.es.OpenPointInTime.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("search: open point in time: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return "", fmt.Errorf("search: open point in time: %s: %s", res.Status(), msg)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("search: open point in time: %w", err)
	}
	return out.ID, nil
}

// ClosePIT releases a point in time early (a scan that read to the end).
func (ix *Index) ClosePIT(ctx context.Context, pit string) {
	if pit == "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"id": pit})
	res, err := ix.es.ClosePointInTime(ix.es.ClosePointInTime.WithBody(bytes.NewReader(body)), ix.es.ClosePointInTime.WithContext(ctx))
	if err == nil {
		res.Body.Close()
	}
}

// timeValue renders t for a date range.
func timeValue(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Package search keeps the Elasticsearch projection of tickets: the index
// template (template.json) and the alias in front of the index versions,
// the one function that builds a ticket's search document, the writes,
// versioned by the ticket's event sequence so an older retry can never
// overwrite a newer state, and the rebuild from PostgreSQL (Reindex).
// docs/search-index.md describes all of it.
package search

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Index writes and reads the tickets index: the alias name, in front of
// the index version that is current (name-vN).
type Index struct {
	es   *elasticsearch.Client
	name string
	cf   fieldMappings
	w    writer
	// store is where EnsureIndex rebuilds from when it upgrades an index
	// of an earlier version (SetStore); nil: it cannot.
	store *store.Store
}

// New connects to Elasticsearch at url; name is the tickets alias
// (config elasticsearch_index).
func New(url, name string) (*Index, error) {
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:  []string{url},
		MaxRetries: 3,
		// The client's product check would reject a cluster that answers
		// slowly on first contact; our readiness check covers reachability.
		Transport: &http.Transport{MaxIdleConnsPerHost: 32, ResponseHeaderTimeout: 30 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("search: client: %w", err)
	}
	return &Index{es: es, name: name}, nil
}

// Name is the alias that reads and writes go through.
func (ix *Index) Name() string { return ix.name }

// Document is a ticket as indexed. docs/search-index.md lists the fields
// and what each is for.
type Document struct {
	ID           int64      `json:"id"`
	Subject      string     `json:"subject"`
	Description  string     `json:"description"`
	Status       string     `json:"status"`
	Priority     string     `json:"priority"`
	PriorityRank int        `json:"priority_rank"`
	AssigneeID   *int64     `json:"assignee_id"`
	SLADueAt     *time.Time `json:"sla_due_at,omitempty"`
	Escalation   int        `json:"escalation_level"`
	RequesterID  *int64     `json:"requester_id"`
	TeamID       *int64     `json:"team_id"`
	RequesterOrg *int64     `json:"requester_org_id"`
	CategoryID   *int64     `json:"category_id"`
	Tags         []string   `json:"tags"`
	Channel      string     `json:"channel,omitempty"`
	// CF holds the custom field values by key, as stored; each key is
	// mapped by its field type (fields.go).
	CF        map[string]any `json:"cf"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Seq       int64          `json:"seq"`

	// What PostgreSQL adds to the row (store.SearchExtras). Emails are
	// lower case; a field without a value is left out, so "has none" is a
	// missing field as for the ids.
	RequesterEmail string `json:"requester_email,omitempty"`
	AssigneeEmail  string `json:"assignee_email,omitempty"`
	TeamName       string `json:"team_name,omitempty"`
	// CategoryName is the category's path as displayed ("Hardware / Printers").
	CategoryName string `json:"category_name,omitempty"`
	// PublicText is the public comments' text, InternalText the internal
	// notes': separate fields, so a requester's search and its highlights
	// never read internal text.
	PublicText   string `json:"public_text,omitempty"`
	InternalText string `json:"internal_text,omitempty"`
	// Breached: the ticket has missed an SLA deadline at some point.
	Breached bool `json:"breached"`
}

// DocumentFor is the one place a ticket becomes a search document: its
// row and what PostgreSQL adds to it (store.SearchExtras).
func DocumentFor(t ticket.Ticket, x store.SearchExtras) Document {
	d := Document{
		ID: t.Number, Subject: t.Subject, Description: t.Description,
		Status: string(t.Status), Priority: string(t.Priority), PriorityRank: t.Priority.Rank(),
		AssigneeID: t.AssigneeID, SLADueAt: t.SLADueAt, Escalation: t.EscalationLevel, RequesterID: t.RequesterID, TeamID: t.TeamID, RequesterOrg: t.RequesterOrgID,
		CategoryID: t.CategoryID, Tags: t.Tags, Channel: t.Channel, CF: t.CustomFields,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Seq: t.Seq,
		RequesterEmail: strings.ToLower(x.RequesterEmail), TeamName: x.TeamName, CategoryName: x.CategoryPath,
		PublicText: x.PublicText, InternalText: x.InternalText, Breached: x.Breached,
	}
	if t.Assignee != nil {
		d.AssigneeEmail = strings.ToLower(*t.Assignee)
	}
	return d
}

// IndexTicket writes the ticket's document at version t.Seq. A write whose
// sequence is not newer than the stored one is ignored and reported as
// stale=true: the index already holds the same or a later state.
func (ix *Index) IndexTicket(ctx context.Context, t ticket.Ticket, x store.SearchExtras) (stale bool, err error) {
	if err := ix.ensureKeysMapped(ctx, t.CustomFields); err != nil {
		return false, fmt.Errorf("search: index ticket %d: %w", t.Number, err)
	}
	body, err := json.Marshal(DocumentFor(t, x))
	if err != nil {
		return false, fmt.Errorf("search: encode ticket %d: %w", t.Number, err)
	}
	return ix.write(ctx, t.Number, t.Seq, body)
}

// Get returns the indexed document of a ticket and its version.
func (ix *Index) Get(ctx context.Context, number int64) (Document, int64, error) {
	res, err := ix.es.Get(ix.name, strconv.FormatInt(number, 10), ix.es.Get.WithContext(ctx))
	if err != nil {
		return Document{}, 0, fmt.Errorf("search: get ticket %d: %w", number, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return Document{}, 0, fmt.Errorf("search: get ticket %d: %w", number, ErrNotFound)
	}
	if res.IsError() {
		msg, _ := io.ReadAll(res.Body)
		return Document{}, 0, fmt.Errorf("search: get ticket %d: %s: %s", number, res.Status(), msg)
	}
	var out struct {
		Version int64    `json:"_version"`
		Source  Document `json:"_source"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return Document{}, 0, fmt.Errorf("search: get ticket %d: decode: %w", number, err)
	}
	return out.Source, out.Version, nil
}

// ErrNotFound says a document is not in the index.
var ErrNotFound = fmt.Errorf("search: not found")

// Refresh makes recent writes searchable now (tests, reindex).
func (ix *Index) Refresh(ctx context.Context) error {
	res, err := ix.es.Indices.Refresh(ix.es.Indices.Refresh.WithIndex(ix.name), ix.es.Indices.Refresh.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("search: refresh: %w", err)
	}
	res.Body.Close()
	return nil
}

// Ping checks the cluster answers.
func (ix *Index) Ping(ctx context.Context) error {
	res, err := ix.es.Cluster.Health(ix.es.Cluster.Health.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("search: ping: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("search: ping: %s", res.Status())
	}
	return nil
}

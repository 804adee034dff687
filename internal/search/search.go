// Package search keeps the Elasticsearch projection of tickets: the index
// mapping, the one function that builds a ticket's search document, and the
// writes, versioned by the ticket's event sequence so an older retry can
// never overwrite a newer state.
package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Index writes and reads the tickets index.
type Index struct {
	es   *elasticsearch.Client
	name string
	cf   fieldMappings
	w    writer
}

// New connects to Elasticsearch at url; name is the tickets index.
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

// Name is the index name.
func (ix *Index) Name() string { return ix.name }

// mapping uses only core Elasticsearch features (standard analyzer, keyword,
// text, date, numeric) so it runs on the minimal distribution too.
const mapping = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
  "mappings": {
    "dynamic": "strict",
    "properties": {
      "id":          {"type": "long"},
      "subject":     {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
      "description": {"type": "text"},
      "status":      {"type": "keyword"},
      "priority":    {"type": "keyword"},
      "priority_rank": {"type": "byte"},
      "assignee":    {"type": "keyword"},
      "assignee_id": {"type": "long"},
      "sla_due_at":  {"type": "date"},
      "escalation_level": {"type": "integer"},
      "requester_id": {"type": "long"},
      "team_id":     {"type": "long"},
      "requester_org_id": {"type": "long"},
      "category_id": {"type": "long"},
      "tags":        {"type": "keyword"},
      "channel":     {"type": "keyword"},
      "cf":          {"type": "object", "dynamic": false},
      "created_at":  {"type": "date"},
      "updated_at":  {"type": "date"},
      "seq":         {"type": "long"}
    }
  }
}`

// EnsureIndex creates the index with its mapping when it does not exist.
func (ix *Index) EnsureIndex(ctx context.Context) error {
	res, err := ix.es.Indices.Exists([]string{ix.name}, ix.es.Indices.Exists.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("search: check index %s: %w", ix.name, err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		if err := ix.putMapping(ctx); err != nil {
			return err
		}
		return ix.mapAllFields(ctx)
	}
	res, err = ix.es.Indices.Create(ix.name, ix.es.Indices.Create.WithBody(strings.NewReader(mapping)),
		ix.es.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("search: create index %s: %w", ix.name, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(res.Body)
		// Another process created it first.
		if res.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("resource_already_exists_exception")) {
			return ix.mapAllFields(ctx)
		}
		return fmt.Errorf("search: create index %s: %s: %s", ix.name, res.Status(), body)
	}
	return ix.mapAllFields(ctx)
}

// putMapping adds fields that newer versions introduced to an existing
// index (Elasticsearch accepts additive mapping changes in place).
func (ix *Index) putMapping(ctx context.Context) error {
	var m struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(mapping), &m); err != nil {
		return fmt.Errorf("search: mapping: %w", err)
	}
	res, err := ix.es.Indices.PutMapping([]string{ix.name}, bytes.NewReader(m.Mappings),
		ix.es.Indices.PutMapping.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("search: update mapping of %s: %w", ix.name, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(res.Body)
		return fmt.Errorf("search: update mapping of %s: %s: %s", ix.name, res.Status(), body)
	}
	return nil
}

// Document is a ticket as indexed.
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
}

// DocumentFor is the one place a ticket becomes a search document.
func DocumentFor(t ticket.Ticket) Document {
	return Document{
		ID: t.Number, Subject: t.Subject, Description: t.Description,
		Status: string(t.Status), Priority: string(t.Priority), PriorityRank: t.Priority.Rank(),
		AssigneeID: t.AssigneeID, SLADueAt: t.SLADueAt, Escalation: t.EscalationLevel, RequesterID: t.RequesterID, TeamID: t.TeamID, RequesterOrg: t.RequesterOrgID,
		CategoryID: t.CategoryID, Tags: t.Tags, Channel: t.Channel, CF: t.CustomFields,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Seq: t.Seq,
	}
}

// IndexTicket writes the ticket's document at version t.Seq. A write whose
// sequence is not newer than the stored one is ignored and reported as
// stale=true: the index already holds the same or a later state.
func (ix *Index) IndexTicket(ctx context.Context, t ticket.Ticket) (stale bool, err error) {
	if err := ix.ensureKeysMapped(ctx, t.CustomFields); err != nil {
		return false, fmt.Errorf("search: index ticket %d: %w", t.Number, err)
	}
	body, err := json.Marshal(DocumentFor(t))
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

package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Ticket writes go to Elasticsearch through one _bulk request per group:
// a write that arrives while another group is on the wire waits for it and
// then leaves with everything that queued meanwhile (group commit). A lone
// write goes at once, so nothing waits for a timer; under concurrent load
// many writes share one request, one translog fsync and one HTTP exchange,
// which is where Elasticsearch spent most of its CPU per ticket change.

// maxGroup bounds one _bulk request; the rest waits for the next.
const (
	maxGroupDocs  = 256
	maxGroupBytes = 4 << 20
)

// groupTimeout bounds one _bulk exchange. It is independent of any one
// caller's context: a group carries other callers' writes too.
const groupTimeout = 30 * time.Second

type bulkWrite struct {
	action, doc []byte
	number      int64
	done        chan bulkResult
}

type bulkResult struct {
	stale bool
	err   error
}

// writer groups the ticket writes of one Index.
type writer struct {
	mu       sync.Mutex
	queue    []*bulkWrite
	inFlight bool
}

// write queues one versioned document write and waits for its outcome. A
// caller whose context ends stops waiting; the write itself still goes out
// (it is versioned, so a late arrival cannot overwrite a newer state).
func (ix *Index) write(ctx context.Context, number, version int64, doc []byte) (stale bool, err error) {
	action, err := json.Marshal(map[string]any{"index": map[string]any{
		"_index": ix.name, "_id": strconv.FormatInt(number, 10),
		"version": version, "version_type": "external",
	}})
	if err != nil {
		return false, err
	}
	w := &bulkWrite{action: action, doc: doc, number: number, done: make(chan bulkResult, 1)}
	ix.w.mu.Lock()
	ix.w.queue = append(ix.w.queue, w)
	lead := !ix.w.inFlight
	ix.w.inFlight = true
	ix.w.mu.Unlock()
	if lead {
		// The group goes from its own goroutine: the caller then stops
		// waiting when its context ends, whatever Elasticsearch does.
		go ix.flush()
	}
	select {
	case r := <-w.done:
		return r.stale, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// flush sends one group, then the next while writes queued behind it.
func (ix *Index) flush() {
	ix.w.mu.Lock()
	n, size := 0, 0
	for n < len(ix.w.queue) && n < maxGroupDocs {
		size += len(ix.w.queue[n].action) + len(ix.w.queue[n].doc) + 2
		n++
		if size >= maxGroupBytes {
			break
		}
	}
	group := ix.w.queue[:n:n]
	ix.w.queue = append([]*bulkWrite(nil), ix.w.queue[n:]...)
	ix.w.mu.Unlock()

	ix.send(group)

	ix.w.mu.Lock()
	more := len(ix.w.queue) > 0
	ix.w.inFlight = more
	ix.w.mu.Unlock()
	if more {
		ix.flush()
	}
}

// send makes one _bulk request and tells every write its outcome.
func (ix *Index) send(group []*bulkWrite) {
	var body bytes.Buffer
	for _, w := range group {
		body.Write(w.action)
		body.WriteByte('\n')
		body.Write(w.doc)
		body.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	results, err := ix.bulk(ctx, &body, len(group))
	for i, w := range group {
		if err != nil {
			w.done <- bulkResult{err: fmt.Errorf("search: index ticket %d: %w", w.number, err)}
			continue
		}
		r := results[i]
		switch {
		case r.Status == http.StatusConflict:
			w.done <- bulkResult{stale: true}
		case r.Status >= 300:
			w.done <- bulkResult{err: fmt.Errorf("search: index ticket %d: status %d: %s: %s", w.number, r.Status, r.Error.Type, r.Error.Reason)}
		default:
			w.done <- bulkResult{}
		}
	}
}

type bulkItem struct {
	Status int `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// bulk posts a _bulk body of n actions and returns the per-action results
// in order.
func (ix *Index) bulk(ctx context.Context, body io.Reader, n int) ([]bulkItem, error) {
	res, err := ix.es.Bulk(body, ix.es.Bulk.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(res.Body)
		return nil, fmt.Errorf("bulk: %s: %s", res.Status(), msg)
	}
	var out struct {
		Items []map[string]bulkItem `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("bulk: decode: %w", err)
	}
	if len(out.Items) != n {
		return nil, fmt.Errorf("bulk: %d results for %d actions", len(out.Items), n)
	}
	items := make([]bulkItem, n)
	for i, it := range out.Items {
		items[i] = it["index"]
	}
	return items, nil
}

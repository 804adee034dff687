package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Writer appends entries with group commit: concurrent entries are written
// together in one transaction (one head lock, one commit, one fsync) by a
// single goroutine. A lone entry costs what Log.Append costs; under load
// the commit is shared, so the audit log stops serializing requests behind
// one fsync each.
//
// Append waits until its entry is durable. Enqueue only waits until the
// entry is queued: the caller goes on while the entry is committed with
// the next batch, within lingerFor (10 ms) plus one commit. Nothing queued is dropped: the
// queue is bounded and Enqueue waits for room when it is full
// (backpressure), a batch that fails is retried until it commits, and
// Close writes everything queued. What Enqueue trades away is only this:
// entries queued by a process that is killed (SIGKILL, power loss) before
// their batch commits are lost with it.
type Writer struct {
	log  *Log
	reqs chan writeReq
	// mu orders sends against Close: senders hold it shared while they
	// send, and Close takes it exclusively to stop them, so every entry
	// that made it into reqs is drained.
	mu        sync.RWMutex
	closed    bool
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	logger    *slog.Logger
	// retryFor bounds how long Close keeps retrying failing batches;
	// stopBy is when that ends (set by the writer goroutine once it sees
	// Close).
	retryFor time.Duration
	stopBy   time.Time
}

type writeReq struct {
	e Entry
	// out receives the result of an Append; nil for Enqueue, whose
	// failures the writer retries itself.
	out chan writeResult
}

type writeResult struct {
	e   Entry
	err error
}

// maxBatch bounds one transaction; queueLen bounds what may wait for one;
// lingerFor is how long a batch of queued entries waits for more.
const (
	maxBatch  = 256
	queueLen  = 4096
	lingerFor = 10 * time.Millisecond
)

// NewWriter starts the writer goroutine; Close stops it.
func (l *Log) NewWriter() *Writer {
	w := &Writer{log: l, reqs: make(chan writeReq, queueLen), quit: make(chan struct{}), done: make(chan struct{}),
		logger: slog.Default(), retryFor: 30 * time.Second}
	go w.run()
	return w
}

// Append records e (as Log.Append does) and waits until it is committed.
func (w *Writer) Append(ctx context.Context, e Entry) (Entry, error) {
	r := writeReq{e: e, out: make(chan writeResult, 1)}
	if err := w.send(ctx, r); err != nil {
		return Entry{}, err
	}
	select {
	case res := <-r.out:
		return res.e, res.err
	case <-ctx.Done():
		return Entry{}, ctx.Err()
	}
}

// Enqueue queues e to be appended with the next batch and returns without
// waiting for the commit. When the queue is full it waits for room until
// ctx ends; an error means e was not queued (ctx ended, or the writer is
// closed), so the caller still holds the only copy.
func (w *Writer) Enqueue(ctx context.Context, e Entry) error {
	return w.send(ctx, writeReq{e: e})
}

func (w *Writer) send(ctx context.Context, r writeReq) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return errWriterClosed
	}
	select {
	case w.reqs <- r:
		return nil
	default:
	}
	select {
	case w.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: queue full: %w", ctx.Err())
	}
}

var errWriterClosed = errors.New("audit: writer closed")

// Close stops accepting entries, writes those already queued, and returns
// when they are durable (or, if the database stays unreachable, once it
// gave up retrying and logged them). Calling it again is harmless.
func (w *Writer) Close() {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.quit)
	})
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		var first writeReq
		select {
		case first = <-w.reqs:
		case <-w.quit:
			// No sender is left (Close holds them off): write what is
			// queued, then stop.
			for {
				select {
				case r := <-w.reqs:
					w.write(w.fill([]writeReq{r}))
				default:
					return
				}
			}
		}
		w.write(w.linger(w.fill([]writeReq{first})))
	}
}

// linger holds a batch of queued entries only (nobody waiting on it) open
// for up to lingerFor, collecting more: a transaction costs PostgreSQL far
// more than a row, and reads arrive one by one. An Append, a full batch or
// Close ends the wait at once.
func (w *Writer) linger(batch []writeReq) []writeReq {
	if len(batch) >= maxBatch || waited(batch) {
		return batch
	}
	t := time.NewTimer(lingerFor)
	defer t.Stop()
	for len(batch) < maxBatch {
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
			if r.out != nil {
				return w.fill(batch)
			}
		case <-t.C:
			return batch
		case <-w.quit:
			return batch
		}
	}
	return batch
}

// waited reports whether someone waits for the batch's commit.
func waited(batch []writeReq) bool {
	for _, r := range batch {
		if r.out != nil {
			return true
		}
	}
	return false
}

// fill adds what is already queued to batch, up to maxBatch.
func (w *Writer) fill(batch []writeReq) []writeReq {
	for len(batch) < maxBatch {
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// write appends batch, answers the Appends, and retries the queued
// entries until they are committed.
func (w *Writer) write(batch []writeReq) {
	for attempt, backoff := 0, 50*time.Millisecond; len(batch) > 0; attempt++ {
		if attempt > 0 {
			if !w.wait(backoff, len(batch)) {
				for _, r := range batch {
					w.logger.Error("audit: database unreachable at shutdown; entry not written", "entry", entryLog(r.e))
				}
				return
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		entries, errs := w.log.appendBatch(batch)
		var retry []writeReq
		var lastHash []byte
		var lastAt time.Time
		for i, r := range batch {
			switch {
			case r.out != nil:
				r.out <- writeResult{e: entries[i], err: errs[i]}
			case errs[i] == nil:
			case errors.Is(errs[i], ErrInvalid):
				// It can never be stored; the log line keeps it.
				w.logger.Error("audit: invalid entry not written", "err", errs[i], "entry", entryLog(r.e))
			default:
				retry = append(retry, r)
				lastHash, lastAt = entries[i].Hash, entries[i].At
			}
		}
		// A failed commit may still have committed (the connection broke
		// after COMMIT was sent). The failed rows were one transaction, so
		// the hash the attempt gave the last of them tells for all.
		if committed, err := w.log.hashStored(lastAt, lastHash); err == nil && committed {
			return
		}
		batch = retry
	}
}

// wait sleeps before another attempt at a failed batch. Once Close has
// been called, retrying stops retryFor later (it returns false), so
// shutdown ends even with the database gone.
func (w *Writer) wait(d time.Duration, entries int) bool {
	w.logger.Warn("audit: batch not committed; retrying", "entries", entries, "in", d)
	if w.stopBy.IsZero() {
		select {
		case <-w.quit:
			w.stopBy = time.Now().Add(w.retryFor)
		default:
		}
	}
	if !w.stopBy.IsZero() {
		left := time.Until(w.stopBy)
		if left <= 0 {
			return false
		}
		d = min(d, left)
	}
	time.Sleep(d)
	return true
}

// hashStored reports whether a row with hash, written at at, exists (false
// for no hash). A batch's rows all carry the batch's at, which
// audit_log_at indexes; hash has no index of its own (migration 015).
func (l *Log) hashStored(at time.Time, hash []byte) (bool, error) {
	if len(hash) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ok bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_log WHERE at = $1 AND hash = $2)`, at, hash).Scan(&ok)
	return ok, err
}

// entryLog is e as a log attribute, so an entry that could not be stored
// is kept whole in the server log.
func entryLog(e Entry) slog.Attr {
	return slog.Group("audit", "actor", e.Actor, "actor_id", e.ActorID, "action", e.Action, "object", e.Object,
		"result", e.Result, "ip", e.IP, "user_agent", e.UserAgent, "request_id", e.RequestID, "detail", e.Detail)
}

// normalizeFlatDetail is normalizeDetail without its four JSON passes for
// the detail every request's entry has: a flat object of strings (valid
// UTF-8, no NUL, within MaxStringBytes), booleans and integers, which those passes would return
// unchanged but for integers becoming json.Number. Anything else takes
// normalizeDetail. (TestFlatDetailIsNormalizeDetail holds them equal.)
func normalizeFlatDetail(detail map[string]any) (map[string]any, []byte, error) {
	if len(detail) == 0 {
		return normalizeDetail(detail)
	}
	m := make(map[string]any, len(detail))
	for k, v := range detail {
		if capString(k) != k {
			return normalizeDetail(detail)
		}
		switch v := v.(type) {
		case string:
			if capString(v) != v {
				return normalizeDetail(detail)
			}
			m[k] = v
		case bool:
			m[k] = v
		case int:
			m[k] = json.Number(strconv.FormatInt(int64(v), 10))
		case int64:
			m[k] = json.Number(strconv.FormatInt(v, 10))
		default:
			return normalizeDetail(detail)
		}
	}
	canon, err := appendValue(nil, m)
	if err != nil {
		return nil, nil, err
	}
	return m, canon, nil
}

// insertBatchSQL inserts rows from parallel arrays in their order, moves
// the chain head to the last one ($13 is its hash) and returns each row's
// id with its hash.
const insertBatchSQL = `
WITH ins AS (
    INSERT INTO audit_log (at, actor_id, actor, action, object, result, ip, user_agent, request_id, detail, prev_hash, hash)
    SELECT $1::timestamptz, u.actor_id, u.actor, u.action, u.object, u.result, u.ip, u.user_agent, u.request_id, u.detail::jsonb, u.prev_hash, u.hash
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bytea[])
        WITH ORDINALITY AS u(actor_id, actor, action, object, result, ip, user_agent, request_id, detail, prev_hash, hash, ord)
    ORDER BY u.ord
    RETURNING id, hash
), moved AS (
    UPDATE audit_chain_head SET last_id = (SELECT id FROM ins WHERE hash = $13::bytea), last_hash = $13::bytea
)
SELECT id, hash FROM ins`

// appendBatch writes a batch in one transaction: lock the head, chain each
// entry's hash onto the previous one, insert, move the head. It answers
// each entry on its own: an invalid one fails alone.
func (l *Log) appendBatch(batch []writeReq) ([]Entry, []error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries := make([]Entry, len(batch))
	details := make([][]byte, len(batch))
	errs := make([]error, len(batch))
	// Normalize before taking the chain head: the head is held only for
	// hashing and the inserts.
	bad := false
	for i, r := range batch {
		e := r.e
		if e.Actor == "" || e.Action == "" || !validResult(e.Result) {
			bad = true
			continue
		}
		e.mapFields(capString)
		detail, detailJSON, err := normalizeFlatDetail(e.Detail)
		if err != nil {
			bad = true
			continue
		}
		e.Detail, details[i] = detail, detailJSON
		entries[i] = e
	}
	if bad {
		// Write them one by one, so the valid ones land and each caller
		// hears about its own entry.
		for i, r := range batch {
			entries[i], errs[i] = l.Append(ctx, r.e)
		}
		return entries, errs
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var lastHash []byte
		if err := tx.QueryRow(ctx, `SELECT last_hash FROM audit_chain_head FOR UPDATE`).Scan(&lastHash); err != nil {
			return err
		}
		at := l.now().UTC().Truncate(time.Microsecond)
		for i := range entries {
			e := &entries[i]
			e.ID, e.At = 0, at
			canon, err := Canonical(*e)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			sum := sha256.Sum256(append(append([]byte{}, lastHash...), canon...))
			e.PrevHash, e.Hash = lastHash, sum[:]
			lastHash = e.Hash
		}
		// One statement inserts the batch in chain order (identity values
		// follow it, and Verify walks by id) and moves the head.
		n := len(entries)
		actorIDs := make([]*int64, n)
		cols := make([][]string, 8) // actor, action, object, result, ip, user_agent, request_id, detail
		for c := range cols {
			cols[c] = make([]string, n)
		}
		prevs, hashes := make([][]byte, n), make([][]byte, n)
		for i, e := range entries {
			actorIDs[i] = e.ActorID
			for c, v := range []string{e.Actor, e.Action, e.Object, e.Result, e.IP, e.UserAgent, e.RequestID, string(details[i])} {
				cols[c][i] = v
			}
			prevs[i], hashes[i] = e.PrevHash, e.Hash
		}
		rows, err := tx.Query(ctx, insertBatchSQL, entries[0].At, actorIDs, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7],
			prevs, hashes, lastHash)
		if err != nil {
			return err
		}
		ids := make(map[string]int64, n)
		for rows.Next() {
			var id int64
			var hash []byte
			if err := rows.Scan(&id, &hash); err != nil {
				rows.Close()
				return err
			}
			ids[string(hash)] = id
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range entries {
			id, ok := ids[string(entries[i].Hash)]
			if !ok || (i > 0 && id <= entries[i-1].ID) {
				return fmt.Errorf("rows not numbered in chain order")
			}
			entries[i].ID = id
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("audit: append batch: %w", err)
		}
	}
	return entries, errs
}

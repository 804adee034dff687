package audit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
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
// the next batch, a few milliseconds later. Nothing queued is dropped: the
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

// maxBatch bounds one transaction; queueLen bounds what may wait for one.
const (
	maxBatch = 256
	queueLen = 4096
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
		w.write(w.fill([]writeReq{first}))
	}
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
				lastHash = entries[i].Hash
			}
		}
		// A failed commit may still have committed (the connection broke
		// after COMMIT was sent). The failed rows were one transaction, so
		// the hash the attempt gave the last of them tells for all.
		if committed, err := w.log.hashStored(lastHash); err == nil && committed {
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

// hashStored reports whether a row with hash exists (false for no hash).
func (l *Log) hashStored(hash []byte) (bool, error) {
	if len(hash) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ok bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_log WHERE hash = $1)`, hash).Scan(&ok)
	return ok, err
}

// entryLog is e as a log attribute, so an entry that could not be stored
// is kept whole in the server log.
func entryLog(e Entry) slog.Attr {
	return slog.Group("audit", "actor", e.Actor, "actor_id", e.ActorID, "action", e.Action, "object", e.Object,
		"result", e.Result, "ip", e.IP, "user_agent", e.UserAgent, "request_id", e.RequestID, "detail", e.Detail)
}

// appendBatch writes a batch in one transaction: lock the head, chain each
// entry's hash onto the previous one, insert, move the head. It answers
// each entry on its own: an invalid one fails alone.
func (l *Log) appendBatch(batch []writeReq) ([]Entry, []error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries := make([]Entry, len(batch))
	details := make([][]byte, len(batch))
	canons := make([][]byte, len(batch))
	errs := make([]error, len(batch))
	bad := false
	for i, r := range batch {
		e := r.e
		if e.Actor == "" || e.Action == "" || !validResult(e.Result) {
			bad = true
		} else if _, _, err := normalizeDetail(e.Detail); err != nil {
			bad = true
		}
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
			for _, s := range []*string{&e.Actor, &e.Action, &e.Object, &e.Result, &e.IP, &e.UserAgent, &e.RequestID} {
				*s = cleanString(*s)
			}
			detail, detailJSON, err := normalizeDetail(e.Detail)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			e.Detail, details[i] = detail, detailJSON
			canon, err := Canonical(*e)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			canons[i] = canon
			sum := sha256.Sum256(append(append([]byte{}, lastHash...), canon...))
			e.PrevHash, e.Hash = lastHash, sum[:]
			lastHash = e.Hash
		}
		b := &pgx.Batch{}
		for i, e := range entries {
			b.Queue(`INSERT INTO audit_log (at, actor_id, actor, action, object, result, ip, user_agent, request_id, detail, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12) RETURNING id`,
				e.At, e.ActorID, e.Actor, e.Action, e.Object, e.Result, e.IP, e.UserAgent, e.RequestID, string(details[i]), e.PrevHash, e.Hash)
		}
		br := tx.SendBatch(ctx, b)
		for i := range entries {
			if err := br.QueryRow().Scan(&entries[i].ID); err != nil {
				br.Close()
				return err
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		last := entries[len(entries)-1]
		_, err := tx.Exec(ctx, `UPDATE audit_chain_head SET last_id = $1, last_hash = $2`, last.ID, last.Hash)
		return err
	})
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("audit: append batch: %w", err)
		}
	}
	return entries, errs
}

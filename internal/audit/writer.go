package audit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Writer appends entries with group commit: concurrent Appends are written
// together in one transaction (one head lock, one commit, one fsync) by a
// single goroutine, and each caller returns once its entry is durable. A
// lone Append costs what Log.Append costs; under load the commit is shared,
// so the audit log stops serializing requests behind one fsync each.
type Writer struct {
	log       *Log
	reqs      chan writeReq
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type writeReq struct {
	e   Entry
	out chan writeResult
}

type writeResult struct {
	e   Entry
	err error
}

// maxBatch bounds one transaction.
const maxBatch = 256

// NewWriter starts the writer goroutine; Close stops it.
func (l *Log) NewWriter() *Writer {
	w := &Writer{log: l, reqs: make(chan writeReq, maxBatch), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Append records e (as Log.Append does) and waits until it is committed.
func (w *Writer) Append(ctx context.Context, e Entry) (Entry, error) {
	r := writeReq{e: e, out: make(chan writeResult, 1)}
	select {
	case <-w.quit:
		return Entry{}, errWriterClosed
	default:
	}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return Entry{}, ctx.Err()
	case <-w.quit:
		return Entry{}, errWriterClosed
	}
	select {
	case res := <-r.out:
		return res.e, res.err
	case <-ctx.Done():
		return Entry{}, ctx.Err()
	case <-w.done:
		// The writer drains its queue before it is done, so an answer may
		// be waiting.
		select {
		case res := <-r.out:
			return res.e, res.err
		default:
			return Entry{}, errWriterClosed
		}
	}
}

var errWriterClosed = errors.New("audit: writer closed")

// Close stops accepting entries, writes those already queued, and returns
// when they are durable. Calling it again is harmless.
func (w *Writer) Close() {
	w.closeOnce.Do(func() { close(w.quit) })
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		var first writeReq
		select {
		case first = <-w.reqs:
		case <-w.quit:
			// Write what is queued, then stop.
			for {
				select {
				case r := <-w.reqs:
					w.write([]writeReq{r})
				default:
					return
				}
			}
		}
		batch := []writeReq{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		w.write(batch)
	}
}

func (w *Writer) write(batch []writeReq) {
	entries, errs := w.log.appendBatch(batch)
	for i, r := range batch {
		r.out <- writeResult{e: entries[i], err: errs[i]}
	}
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

package audit

import (
	"context"
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

// appendBatch writes a batch in one transaction (appendInTx). It answers
// each entry on its own: an invalid one fails alone.
func (l *Log) appendBatch(batch []writeReq) ([]Entry, []error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries := make([]Entry, len(batch))
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
		return l.appendInTx(ctx, tx, entries)
	})
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("audit: append batch: %w", err)
		}
	}
	return entries, errs
}

package audit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Anonymous denials (no credentials, invalid ones, failed sign-ins) are not
// appended one row each: anyone can make them, as fast as they like, and
// the log is append-only. Denials counts them instead, durably and
// exactly, in the audit_denials table: one row per minute, client address
// and action. Once a minute is over, FlushDenials moves each of its rows
// into the hash-chained log as one entry whose detail carries the count,
// deleting the row in the same transaction, so every attempt is counted in
// the chain exactly once.
//
// A flushed entry is the minute's first attempt (its object, user agent,
// request id and detail, as a single attempt's entry would be) with
// detail.aggregate added:
//
//	{"count": 10000, "minute": "2026-12-06T10:31:00Z",
//	 "first_at": "…", "last_at": "…",
//	 "by": [{"object": "ticket", "detail": {…}, "count": 9990}, …],
//	 "other": 3}
//
// "by" counts up to maxBreakdown distinct (object, detail) pairs in the
// order they were first seen; "other" (present when not 0) counts the
// attempts that were none of them. Storage therefore grows with the number
// of distinct (address, action) pairs per minute, never with the number of
// attempts, and each row is bounded (every string is capped to
// MaxStringBytes).
type Denials struct {
	log    *Log
	logger *slog.Logger

	mu      sync.Mutex
	open    *denialBatch // collecting; the writer takes it next
	writing bool         // a writer goroutine is running
	closed  bool
	writers sync.WaitGroup

	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// maxBreakdown bounds the distinct (object, detail) pairs an aggregate
// counts one by one.
const maxBreakdown = 8

// Flushing: every flushEvery, minutes that ended at least flushGrace ago
// are moved into the log, at most flushBatch rows per transaction (the
// chain head stays locked for one transaction only).
const (
	flushEvery = 10 * time.Second
	flushGrace = 5 * time.Second
	flushBatch = 500
)

var errDenialsClosed = errors.New("audit: denial counter closed")

// NewDenials starts counting anonymous denials and flushing finished
// minutes into the log; Close stops it. Every API process runs one:
// counts from several processes add up in the same rows, and concurrent
// flushes never move a row twice.
func (l *Log) NewDenials(logger *slog.Logger) *Denials {
	if logger == nil {
		logger = slog.Default()
	}
	d := &Denials{log: l, logger: logger, quit: make(chan struct{}), done: make(chan struct{})}
	go d.flushLoop()
	return d
}

// Record counts one anonymous denied attempt and returns once the count is
// committed (concurrent Records share one transaction). e must have no
// ActorID and the result ResultDenied; its actor is stored as "anonymous",
// its strings capped. If ctx ends first, Record returns ctx.Err() but the
// attempt is still counted.
func (d *Denials) Record(ctx context.Context, e Entry) error {
	if e.ActorID != nil || e.Result != ResultDenied || e.Action == "" {
		return fmt.Errorf("%w: only anonymous denials with an action are counted", ErrInvalid)
	}
	e.Actor = "anonymous"
	if _, err := normalize(&e); err != nil {
		return err
	}
	at := d.log.now().UTC().Truncate(time.Microsecond)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errDenialsClosed
	}
	if d.open == nil {
		d.open = &denialBatch{aggs: map[denialKey]*denialAgg{}, done: make(chan struct{})}
	}
	b := d.open
	b.add(e, at)
	if !d.writing {
		d.writing = true
		d.writers.Add(1)
		go d.write()
	}
	d.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write commits open batches one after another until none is left: while
// one commits, the next collects.
func (d *Denials) write() {
	defer d.writers.Done()
	for {
		d.mu.Lock()
		b := d.open
		d.open = nil
		if b == nil {
			d.writing = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		b.err = d.log.writeDenials(b)
		close(b.done)
	}
}

// Close stops taking attempts, waits until those taken are committed,
// flushes the minutes already over, and returns. Calling it again is
// harmless.
func (d *Denials) Close() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.quit)
	})
	<-d.done
}

func (d *Denials) flushLoop() {
	defer close(d.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := d.log.FlushDenials(ctx, closedBefore(d.log.now())); err != nil {
			d.logger.Error("audit: flushing anonymous denial counts failed", "err", err)
		}
	}
	for {
		select {
		case <-t.C:
			flush()
		case <-d.quit:
			d.writers.Wait()
			flush()
			return
		}
	}
}

// closedBefore is the start of the earliest minute that may still get
// counts at now: every minute before it ended at least flushGrace ago.
func closedBefore(now time.Time) time.Time {
	return now.Add(-flushGrace).UTC().Truncate(time.Minute)
}

// FlushDenials moves the counts of every minute that started before
// `before` into the log: one chained entry per (minute, address, action),
// written in the transaction that deletes the counted row, so a count is
// never lost or written twice, whoever flushes at the same time. It
// returns how many entries it wrote.
//
// The API's Denials flushes each minute a few seconds after it ends. A
// count committed later than that for a minute already flushed (a
// transaction that took longer than flushGrace) becomes a second entry for
// that minute at the next flush: the counts still add up exactly.
func (l *Log) FlushDenials(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n, err := l.flushDenialsOnce(ctx, before)
		total += n
		if err != nil {
			return total, fmt.Errorf("audit: flush denials: %w", err)
		}
		if n < flushBatch {
			return total, nil
		}
	}
}

// takeDenialsSQL deletes up to $2 finished rows and returns them. Rows a
// Record transaction holds are skipped; the next flush takes them.
const takeDenialsSQL = `
DELETE FROM audit_denials WHERE (minute, ip, action) IN (
    SELECT minute, ip, action FROM audit_denials WHERE minute < $1
    ORDER BY minute, ip, action LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING minute, ip, action, count, first_at, last_at, first::text, breakdown::text, other`

func (l *Log) flushDenialsOnce(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, takeDenialsSQL, before, flushBatch)
		if err != nil {
			return err
		}
		type taken struct {
			key denialKey
			agg *denialAgg
		}
		var all []taken
		for rows.Next() {
			var k denialKey
			a, err := scanDenialAgg(rows, &k.minute, &k.ip, &k.action)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, taken{k, a})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.SortFunc(all, func(a, b taken) int { return a.key.compare(b.key) })
		entries := make([]Entry, len(all))
		for i, t := range all {
			entries[i] = t.agg.entry(t.key)
		}
		n = len(entries)
		return l.appendInTx(ctx, tx, entries)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// upsertDenialSQL makes sure the row exists, locks it and returns it as it
// is (count 0 when just made).
const upsertDenialSQL = `
INSERT INTO audit_denials (minute, ip, action, first_at, last_at, first)
VALUES ($1, $2, $3, $4, $4, $5::jsonb)
ON CONFLICT (minute, ip, action) DO UPDATE SET count = audit_denials.count
RETURNING count, first_at, last_at, first::text, breakdown::text, other`

const updateDenialSQL = `
UPDATE audit_denials SET count = $4, first_at = $5, last_at = $6, first = $7::jsonb, breakdown = $8::jsonb, other = $9
WHERE minute = $1 AND ip = $2 AND action = $3`

// writeDenials adds a batch's counts to their rows in one transaction,
// locking the rows in key order so concurrent writers never deadlock.
func (l *Log) writeDenials(b *denialBatch) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := slices.SortedFunc(maps.Keys(b.aggs), denialKey.compare)
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		q := &pgx.Batch{}
		for _, k := range keys {
			a := b.aggs[k]
			first, err := json.Marshal(a.First)
			if err != nil {
				return err
			}
			q.Queue(upsertDenialSQL, k.minute, k.ip, k.action, a.FirstAt, string(first))
		}
		br := tx.SendBatch(ctx, q)
		merged := make([]*denialAgg, len(keys))
		for i, k := range keys {
			stored, err := scanDenialAgg(br.QueryRow())
			if err != nil {
				br.Close()
				return err
			}
			stored.merge(b.aggs[k])
			merged[i] = stored
		}
		if err := br.Close(); err != nil {
			return err
		}
		q = &pgx.Batch{}
		for i, k := range keys {
			a := merged[i]
			first, err := json.Marshal(a.First)
			if err != nil {
				return err
			}
			by, err := json.Marshal(a.By)
			if err != nil {
				return err
			}
			q.Queue(updateDenialSQL, k.minute, k.ip, k.action, a.Count, a.FirstAt, a.LastAt, string(first), string(by), a.Other)
		}
		return tx.SendBatch(ctx, q).Close()
	})
	if err != nil {
		return fmt.Errorf("audit: count denials: %w", err)
	}
	return nil
}

// denialBatch is the counts collected while the previous batch commits.
type denialBatch struct {
	aggs map[denialKey]*denialAgg
	done chan struct{}
	err  error
}

func (b *denialBatch) add(e Entry, at time.Time) {
	k := denialKey{minute: at.Truncate(time.Minute), ip: e.IP, action: e.Action}
	one := &denialAgg{Count: 1, FirstAt: at, LastAt: at,
		First: denialFirst{Object: e.Object, UserAgent: e.UserAgent, RequestID: e.RequestID, Detail: e.Detail},
		By:    []denialCount{newDenialCount(e.Object, e.Detail, 1)}}
	if a, ok := b.aggs[k]; ok {
		a.merge(one)
		return
	}
	b.aggs[k] = one
}

type denialKey struct {
	minute     time.Time
	ip, action string
}

func (k denialKey) compare(o denialKey) int {
	if c := k.minute.Compare(o.minute); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(k.ip, o.ip), cmp.Compare(k.action, o.action))
}

// denialAgg is one row of audit_denials.
type denialAgg struct {
	Count           int64
	FirstAt, LastAt time.Time
	First           denialFirst
	By              []denialCount
	Other           int64
}

// denialFirst is the first attempt of an aggregate.
type denialFirst struct {
	Object    string         `json:"object"`
	UserAgent string         `json:"user_agent"`
	RequestID string         `json:"request_id"`
	Detail    map[string]any `json:"detail"`
}

// denialCount counts the attempts with one (object, detail).
type denialCount struct {
	Object string         `json:"object"`
	Detail map[string]any `json:"detail"`
	Count  int64          `json:"count"`
	sig    string         // object and canonical detail: what "distinct" compares
}

func newDenialCount(object string, detail map[string]any, n int64) denialCount {
	sig, err := appendValue([]byte(object+"\x00"), detail)
	if err != nil {
		// Details are normalized before they get here; keep the pair
		// distinct by its object alone rather than fail the count.
		sig = []byte(object)
	}
	return denialCount{Object: object, Detail: detail, Count: n, sig: string(sig)}
}

// merge adds b's counts to a.
func (a *denialAgg) merge(b *denialAgg) {
	if a.Count == 0 || b.FirstAt.Before(a.FirstAt) {
		a.FirstAt, a.First = b.FirstAt, b.First
	}
	if b.LastAt.After(a.LastAt) {
		a.LastAt = b.LastAt
	}
	a.Count += b.Count
	a.Other += b.Other
next:
	for _, c := range b.By {
		for i := range a.By {
			if a.By[i].sig == c.sig {
				a.By[i].Count += c.Count
				continue next
			}
		}
		if len(a.By) < maxBreakdown {
			a.By = append(a.By, c)
		} else {
			a.Other += c.Count
		}
	}
}

// entry is the log entry an aggregate becomes.
func (a *denialAgg) entry(k denialKey) Entry {
	detail := maps.Clone(a.First.Detail)
	if detail == nil {
		detail = map[string]any{}
	}
	agg := map[string]any{
		"count":    a.Count,
		"minute":   k.minute.UTC().Format(time.RFC3339),
		"first_at": a.FirstAt.UTC().Format(time.RFC3339Nano),
		"last_at":  a.LastAt.UTC().Format(time.RFC3339Nano),
		"by":       a.By,
	}
	if a.Other > 0 {
		agg["other"] = a.Other
	}
	detail["aggregate"] = agg
	return Entry{Actor: "anonymous", Action: k.action, Object: a.First.Object, Result: ResultDenied,
		IP: k.ip, UserAgent: a.First.UserAgent, RequestID: a.First.RequestID, Detail: detail}
}

// scanDenialAgg reads count, first_at, last_at, first, breakdown and other,
// after any leading columns given in lead.
func scanDenialAgg(r rowScanner, lead ...any) (*denialAgg, error) {
	var a denialAgg
	var first, by []byte
	if err := r.Scan(append(lead, &a.Count, &a.FirstAt, &a.LastAt, &first, &by, &a.Other)...); err != nil {
		return nil, err
	}
	if err := decodeExact(first, &a.First); err != nil {
		return nil, fmt.Errorf("first: %w", err)
	}
	if err := decodeExact(by, &a.By); err != nil {
		return nil, fmt.Errorf("breakdown: %w", err)
	}
	for i, c := range a.By {
		a.By[i] = newDenialCount(c.Object, c.Detail, c.Count)
	}
	return &a, nil
}

// decodeExact decodes JSON keeping numbers as json.Number, as details are.
func decodeExact(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

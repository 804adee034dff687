// Package pgbus carries small messages between helpdesk processes over
// PostgreSQL LISTEN/NOTIFY. Each process runs one Bus: one dedicated
// connection that LISTENs on every channel some subscriber wants and hands
// each notification to that channel's subscribers. A message is published
// with Publish inside the writer's own transaction (or by a trigger), so it
// is delivered exactly when, and only if, the change it announces commits.
//
// NOTIFY is not a queue: what is published while a process is not
// listening (before it connects, while it reconnects) is lost to it. A
// subscriber therefore keeps nothing it cannot rebuild, and the bus tells it
// when to: Lost when the connection breaks (from then on it may miss
// messages) and Resync once it is listening again (drop everything that
// might have changed meanwhile). Caches built on the bus stay correct
// across restarts and network failures at the price of refilling.
package pgbus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MaxPayload is the longest payload PostgreSQL accepts in its default
// configuration (it must be shorter than 8000 bytes). Publish refuses
// longer ones with ErrPayloadTooLarge; send an id and let the receiver read
// the rest from the database.
const MaxPayload = 7999

// maxChannel is PostgreSQL's identifier length (NAMEDATALEN - 1); LISTEN
// would silently truncate a longer name and never match.
const maxChannel = 63

// Errors a caller may want to tell apart.
var (
	ErrPayloadTooLarge = errors.New("pgbus: payload too large")
	ErrBadChannel      = errors.New("pgbus: channel name must be 1 to 63 bytes")
	ErrClosed          = errors.New("pgbus: bus closed")
)

// Execer runs a statement: a pgx.Tx, *pgx.Conn or *pgxpool.Pool.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Publish sends payload on channel through db. In a transaction it is
// delivered when the transaction commits, and not at all if it rolls back;
// PostgreSQL folds identical (channel, payload) pairs of one transaction
// into one delivery.
func Publish(ctx context.Context, db Execer, channel, payload string) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes on %q (at most %d)", ErrPayloadTooLarge, len(payload), channel, MaxPayload)
	}
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("pgbus: publish on %q: %w", channel, err)
	}
	return nil
}

func checkChannel(channel string) error {
	if channel == "" || len(channel) > maxChannel {
		return fmt.Errorf("%w: %q", ErrBadChannel, channel)
	}
	return nil
}

// Subscriber receives one channel's messages. Its functions run on the
// bus's goroutine, one at a time and in order, so they must return quickly
// (hand longer work to a goroutine of your own). Nil functions are skipped.
type Subscriber struct {
	// Notify receives each payload published on the channel.
	Notify func(payload string)
	// Resync is called whenever the subscription starts listening: after
	// Subscribe once the bus is connected, and after every reconnect.
	// Messages published before it may have been missed; state derived
	// from them must be dropped or reloaded.
	Resync func()
	// Lost is called when the connection breaks: until the next Resync,
	// messages may be missed.
	Lost func()
}

// Options tune a Bus; the zero value is fine.
type Options struct {
	// ApplicationName is the connection's application_name (default
	// "helpdesk-pgbus"), to find it in pg_stat_activity.
	ApplicationName string
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles from the first to the second (defaults
	// 100 ms and 5 s), with jitter so many processes do not reconnect in
	// step after a database restart.
	MinBackoff, MaxBackoff time.Duration
	// Ping is how long the connection may be quiet before the bus checks
	// it is still alive (default 30 s): a dead peer behind a silent network
	// would otherwise go unnoticed.
	Ping time.Duration
	// Logger receives connection errors (default slog.Default()).
	Logger *slog.Logger
}

// Bus is one process's listening connection. Create it with New; it
// connects in the background and reconnects until Close.
type Bus struct {
	cfg  *pgx.ConnConfig
	opts Options

	mu        sync.Mutex
	subs      map[string]map[*subscription]struct{}
	listening map[string]bool // channels LISTENed on the current connection
	live      bool            // connected, and listening on every channel
	wake      context.CancelFunc
	changed   bool                     // subscriptions changed since the last sync
	waiters   map[string]chan struct{} // Sync markers in flight

	cancel context.CancelFunc
	done   chan struct{}
}

type subscription struct {
	channel string
	s       Subscriber
	synced  bool // Resync called on the current connection
}

// New starts a Bus connecting to url (a PostgreSQL connection string).
func New(url string, opts Options) (*Bus, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgbus: parse database url: %w", err)
	}
	if opts.ApplicationName == "" {
		opts.ApplicationName = "helpdesk-pgbus"
	}
	cfg.RuntimeParams["application_name"] = opts.ApplicationName
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.Ping <= 0 {
		opts.Ping = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{cfg: cfg, opts: opts, subs: map[string]map[*subscription]struct{}{},
		listening: map[string]bool{}, waiters: map[string]chan struct{}{}, cancel: cancel, done: make(chan struct{})}
	b.subs[syncChannel] = map[*subscription]struct{}{{channel: syncChannel, s: Subscriber{Notify: b.marker}}: {}}
	go b.run(ctx)
	return b, nil
}

// syncChannel carries Sync's markers. Every bus listens on it; a marker
// another process sent is ignored.
const syncChannel = "pgbus_sync"

// Sync returns once every message committed before it was called has been
// handed to this bus's subscribers, so a process that just changed
// something and announced it is sure its own subscribers acted on it
// before it answers (read your own writes). It publishes a marker through
// db and waits for it: PostgreSQL delivers a connection's notifications in
// commit order. If the bus is not listening it returns at once: its
// subscribers have been told (Lost) to trust nothing they hold; likewise
// if the connection is lost while waiting.
func (b *Bus) Sync(ctx context.Context, db Execer) error {
	token := rand.Text()
	arrived := make(chan struct{})
	b.mu.Lock()
	if !b.live {
		b.mu.Unlock()
		return nil
	}
	b.waiters[token] = arrived
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, token)
		b.mu.Unlock()
	}()
	if err := Publish(ctx, db, syncChannel, token); err != nil {
		return err
	}
	select {
	case <-arrived:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pgbus: sync: %w", ctx.Err())
	}
}

func (b *Bus) marker(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.waiters[token]; ok {
		close(ch)
		delete(b.waiters, token)
	}
}

// Close stops listening and closes the connection. Subscribers get no
// further calls once it returns.
func (b *Bus) Close() {
	b.cancel()
	<-b.done
}

// Live reports whether the bus is connected and listening. A channel
// subscribed to a moment ago may still be joining; its subscriber's Resync
// says when it has.
func (b *Bus) Live() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.live
}

// Subscribe adds s to channel's subscribers and returns the function that
// removes it. s.Resync is called once the bus listens on channel (at once
// if it already does); until then s may miss messages.
func (b *Bus) Subscribe(channel string, s Subscriber) (unsubscribe func(), err error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	select {
	case <-b.done:
		return nil, ErrClosed
	default:
	}
	sub := &subscription{channel: channel, s: s}
	b.mu.Lock()
	if b.subs[channel] == nil {
		b.subs[channel] = map[*subscription]struct{}{}
	}
	b.subs[channel][sub] = struct{}{}
	b.interrupt()
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs[channel], sub)
		if len(b.subs[channel]) == 0 {
			delete(b.subs, channel)
		}
		b.interrupt()
		b.mu.Unlock()
	}, nil
}

// interrupt wakes the connection goroutine from its wait so it LISTENs or
// UNLISTENs; b.mu is held.
func (b *Bus) interrupt() {
	b.changed = true
	if b.wake != nil {
		b.wake()
	}
}

func (b *Bus) run(ctx context.Context) {
	defer close(b.done)
	backoff := b.opts.MinBackoff
	for {
		connected, err := b.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = b.opts.MinBackoff
		}
		wait := backoff/2 + mathrand.N(backoff/2+1)
		b.opts.Logger.Warn("pgbus: connection lost; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, b.opts.MaxBackoff)
	}
}

// session connects, listens and dispatches until the connection fails or
// ctx ends. connected reports whether it got as far as listening.
func (b *Bus) session(ctx context.Context) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, b.cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		b.lost()
	}()
	for {
		if err := b.sync(ctx, conn); err != nil {
			return connected, err
		}
		connected = true
		wctx, cancel := context.WithTimeout(ctx, b.opts.Ping)
		b.mu.Lock()
		if b.changed {
			b.mu.Unlock()
			cancel()
			continue
		}
		b.wake = cancel
		b.mu.Unlock()
		n, err := conn.WaitForNotification(wctx)
		b.mu.Lock()
		b.wake = nil
		b.mu.Unlock()
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			b.deliver(n)
			continue
		case ctx.Err() != nil:
			return connected, ctx.Err()
		case !timedOut || conn.IsClosed():
			return connected, err
		}
		// Woken for a subscription change, or quiet for a while: make sure
		// the connection is still alive before waiting again.
		pctx, pcancel := context.WithTimeout(ctx, b.opts.Ping)
		err = conn.Ping(pctx)
		pcancel()
		if err != nil {
			return connected, err
		}
	}
}

// sync brings the connection's LISTENs in line with the subscriptions and
// calls Resync on every subscription not yet synced on this connection.
func (b *Bus) sync(ctx context.Context, conn *pgx.Conn) error {
	for {
		b.mu.Lock()
		b.changed = false
		var listen, unlisten []string
		for ch := range b.subs {
			if !b.listening[ch] {
				listen = append(listen, ch)
			}
		}
		for ch := range b.listening {
			if b.subs[ch] == nil {
				unlisten = append(unlisten, ch)
			}
		}
		b.mu.Unlock()
		for _, ch := range listen {
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return fmt.Errorf("pgbus: listen %q: %w", ch, err)
			}
		}
		for _, ch := range unlisten {
			if _, err := conn.Exec(ctx, "UNLISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return fmt.Errorf("pgbus: unlisten %q: %w", ch, err)
			}
		}
		b.mu.Lock()
		for _, ch := range listen {
			b.listening[ch] = true
		}
		for _, ch := range unlisten {
			delete(b.listening, ch)
		}
		if b.changed {
			// Subscribed again while we were talking to the server.
			b.mu.Unlock()
			continue
		}
		b.live = true
		resync := b.markSynced(true)
		b.mu.Unlock()
		for _, sub := range resync {
			if sub.s.Resync != nil {
				sub.s.Resync()
			}
		}
		return nil
	}
}

// markSynced sets the synced flag of every subscription (for true: on a
// channel being listened on) and returns those whose flag changed; b.mu
// is held.
func (b *Bus) markSynced(synced bool) []*subscription {
	var changed []*subscription
	for ch, subs := range b.subs {
		if synced && !b.listening[ch] {
			continue
		}
		for sub := range subs {
			if sub.synced != synced {
				sub.synced = synced
				changed = append(changed, sub)
			}
		}
	}
	return changed
}

func (b *Bus) deliver(n *pgconn.Notification) {
	b.mu.Lock()
	var fs []func(string)
	for sub := range b.subs[n.Channel] {
		if sub.s.Notify != nil {
			fs = append(fs, sub.s.Notify)
		}
	}
	b.mu.Unlock()
	for _, f := range fs {
		f(n.Payload)
	}
}

// lost marks every subscription as needing a Resync and tells it.
func (b *Bus) lost() {
	b.mu.Lock()
	clear(b.listening)
	lost := b.markSynced(false)
	b.mu.Unlock()
	for _, sub := range lost {
		if sub.s.Lost != nil {
			sub.s.Lost()
		}
	}
	// Only now, with every subscriber told to distrust what it holds, is
	// there nothing left for a Sync to wait for.
	b.mu.Lock()
	b.live = false
	for token, ch := range b.waiters {
		close(ch)
		delete(b.waiters, token)
	}
	b.mu.Unlock()
}

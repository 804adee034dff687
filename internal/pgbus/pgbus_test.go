package pgbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc/pgtest"
)

var (
	pg   *localsvc.Postgres
	pool *pgxpool.Pool
)

func TestMain(m *testing.M) {
	pgtest.Main(m, "pgbus", func(ctx context.Context, p *localsvc.Postgres) (func(), error) {
		pg = p
		var err error
		pool, err = pgxpool.New(ctx, pg.URL())
		if err != nil {
			return nil, err
		}
		return pool.Close, nil
	})
}

// recorder is a subscriber that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	payloads []string
	resyncs  atomic.Int64
	losts    atomic.Int64
}

func (r *recorder) subscriber() Subscriber {
	return Subscriber{
		Notify: func(p string) { r.mu.Lock(); r.payloads = append(r.payloads, p); r.mu.Unlock() },
		Resync: func() { r.resyncs.Add(1) },
		Lost:   func() { r.losts.Add(1) },
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.payloads...)
}

func (r *recorder) has(p string) bool {
	for _, g := range r.got() {
		if g == p {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or a generous deadline passes (the
// deadline only bounds a failing test; nothing asserts how fast).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var busSeq atomic.Int64

func newBus(t *testing.T) (*Bus, string) {
	t.Helper()
	app := fmt.Sprintf("pgbus-test-%d", busSeq.Add(1)) // application_name is cut at 63 bytes
	b, err := New(pg.URL(), Options{ApplicationName: app, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, app
}

func TestDeliversCommittedMessagesToTheirChannelOnly(t *testing.T) {
	ctx := context.Background()
	b, _ := newBus(t)
	var a, other recorder
	if _, err := b.Subscribe("bus_a", a.subscriber()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("bus_other", other.subscriber()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both subscriptions listening", func() bool { return a.resyncs.Load() == 1 && other.resyncs.Load() == 1 })

	// A rolled-back transaction publishes nothing; a committed one does,
	// at commit.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := Publish(ctx, tx, "bus_a", "rolled back"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := Publish(ctx, tx, "bus_a", "committed"); err != nil {
			return err
		}
		return Publish(ctx, tx, "bus_a", "second")
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the committed messages", func() bool { return len(a.got()) >= 2 })
	if got := a.got(); len(got) != 2 || got[0] != "committed" || got[1] != "second" {
		t.Fatalf("bus_a got %q, want [committed second] in order and nothing rolled back", got)
	}
	if got := other.got(); len(got) != 0 {
		t.Fatalf("bus_other got %q from another channel", got)
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	ctx := context.Background()
	b, _ := newBus(t)
	var gone, stays recorder
	unsub, err := b.Subscribe("bus_unsub", gone.subscriber())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("bus_unsub", stays.subscriber()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listening", func() bool { return gone.resyncs.Load() == 1 && stays.resyncs.Load() == 1 })
	unsub()
	if err := Publish(ctx, pool, "bus_unsub", "after"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the remaining subscriber's message", func() bool { return stays.has("after") })
	if got := gone.got(); len(got) != 0 {
		t.Fatalf("unsubscribed subscriber still got %q", got)
	}
}

// The server ends the bus's connection (an administrator, a failover, a
// restart): every subscriber hears it was lost, the bus reconnects on its
// own and resyncs them, and messages flow again.
func TestReconnectsAfterTheServerKillsTheConnectionAndResyncs(t *testing.T) {
	ctx := context.Background()
	b, app := newBus(t)
	var r recorder
	if _, err := b.Subscribe("bus_reconnect", r.subscriber()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listening", func() bool { return r.resyncs.Load() == 1 })
	if err := Publish(ctx, pool, "bus_reconnect", "before"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first message", func() bool { return r.has("before") })

	var killed int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d backends named %q, want the bus's one", killed, app)
	}
	eventually(t, "the loss to be reported", func() bool { return r.losts.Load() >= 1 })
	eventually(t, "a resync after reconnecting", func() bool { return r.resyncs.Load() >= 2 })
	if !b.Live() {
		// Live may flip back if the reconnect raced another failure; it
		// must come back.
		eventually(t, "live again", b.Live)
	}
	if err := Publish(ctx, pool, "bus_reconnect", "after"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a message after reconnecting", func() bool { return r.has("after") })
}

// A subscriber that joins while the database is unreachable is resynced
// once the bus gets through, not before.
func TestResyncWaitsForTheConnection(t *testing.T) {
	port, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(fmt.Sprintf("postgres://nobody@127.0.0.1:%d/none?sslmode=disable&connect_timeout=1", port),
		Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var r recorder
	if _, err := b.Subscribe("bus_nowhere", r.subscriber()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // several failed attempts
	if r.resyncs.Load() != 0 || b.Live() {
		t.Fatalf("resynced %d times / live %v without a connection", r.resyncs.Load(), b.Live())
	}
}

func TestPayloadLimits(t *testing.T) {
	ctx := context.Background()
	b, _ := newBus(t)
	var r recorder
	if _, err := b.Subscribe("bus_limits", r.subscriber()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listening", func() bool { return r.resyncs.Load() == 1 })

	largest := strings.Repeat("x", MaxPayload)
	if err := Publish(ctx, pool, "bus_limits", largest); err != nil {
		t.Fatalf("publish %d bytes: %v", len(largest), err)
	}
	eventually(t, "the largest payload", func() bool { return r.has(largest) })

	err := Publish(ctx, pool, "bus_limits", largest+"x")
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("publish %d bytes: err = %v, want ErrPayloadTooLarge", len(largest)+1, err)
	}
	// The limit is PostgreSQL's: the same payload sent directly fails there.
	if _, err := pool.Exec(ctx, `SELECT pg_notify('bus_limits', $1)`, largest+"x"); err == nil {
		t.Fatal("PostgreSQL accepted a payload over MaxPayload; the limit is wrong")
	}
	for _, ch := range []string{"", strings.Repeat("c", 64)} {
		if err := Publish(ctx, pool, ch, "p"); !errors.Is(err, ErrBadChannel) {
			t.Fatalf("publish on %q: err = %v, want ErrBadChannel", ch, err)
		}
		if _, err := b.Subscribe(ch, Subscriber{}); !errors.Is(err, ErrBadChannel) {
			t.Fatalf("subscribe to %q: err = %v, want ErrBadChannel", ch, err)
		}
	}
	// Channel names are quoted identifiers: case and odd characters survive.
	var odd recorder
	if _, err := b.Subscribe(`Bus "Odd"`, odd.subscriber()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listening on the odd channel", func() bool { return odd.resyncs.Load() == 1 })
	if err := Publish(ctx, pool, `Bus "Odd"`, "odd"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the odd channel's message", func() bool { return odd.has("odd") })
}

// After Sync, every message committed before it has been handled: a
// process reads its own writes.
func TestSyncWaitsForEverythingCommittedBefore(t *testing.T) {
	ctx := context.Background()
	b, _ := newBus(t)
	var handled atomic.Int64
	if _, err := b.Subscribe("bus_sync", Subscriber{
		Notify: func(string) { time.Sleep(time.Millisecond); handled.Add(1) }, // a subscriber slower than the wire
		Resync: func() {},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "listening", b.Live)
	const n = 50
	for i := 0; i < n; i++ {
		if err := Publish(ctx, pool, "bus_sync", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Sync(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != n {
		t.Fatalf("Sync returned with %d of %d earlier messages handled", got, n)
	}
	// Another process's markers are not ours to wait for, nor anyone's
	// subscription's business.
	other, _ := newBus(t)
	eventually(t, "the other bus listening", other.Live)
	if err := other.Sync(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != n {
		t.Fatalf("a Sync marker reached a subscriber: %d messages handled", got)
	}
}

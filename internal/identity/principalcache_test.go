package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/pgbus"
)

// process is one API process's worth of identity: its own pool, its own
// bus connection and its own cache.
type process struct {
	pool  *pgxpool.Pool
	svc   *Service
	bus   *pgbus.Bus
	cache *PrincipalCache
	app   string // the bus connection's application_name
}

var processSeq atomic.Int64

// newProcess starts a cache whose TTL (an hour) never runs out during a
// test: only the bus can make it forget.
func newProcess(t *testing.T, opts PrincipalCacheOptions, busOpts pgbus.Options) *process {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	busOpts.ApplicationName = fmt.Sprintf("identity-test-%d", processSeq.Add(1))
	bus, err := pgbus.New(testURL, busOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if opts.TTL == 0 {
		opts.TTL = time.Hour
	}
	p := &process{pool: pool, svc: New(pool), bus: bus, app: busOpts.ApplicationName}
	p.cache, err = NewPrincipalCache(p.svc, bus, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.cache.Close)
	waitFor(t, "the bus to listen", bus.Live)
	return p
}

// waitFor polls cond; the deadline only bounds a failing test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func refused(err error) bool { return errors.Is(err, ErrUnauthenticated) }

func mustToken(t *testing.T, userID int64) (string, TokenInfo) {
	t.Helper()
	tok, info, err := svc.CreateToken(context.Background(), userID, "cache test", []string{ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok, info
}

func mustSession(t *testing.T, userID int64) string {
	t.Helper()
	secret, _, err := svc.CreateSession(context.Background(), userID, "127.0.0.1", "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// The cache answers from memory: once primed it needs no database.
func TestPrincipalCacheAnswersFromMemory(t *testing.T) {
	ctx := context.Background()
	p := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	tok, _ := mustToken(t, u.ID)
	other, _ := mustToken(t, u.ID)
	if _, err := p.cache.TokenPrincipal(ctx, tok); err != nil {
		t.Fatal(err)
	}
	p.pool.Close() // the process's database connections are gone
	got, err := p.cache.TokenPrincipal(ctx, tok)
	if err != nil || got.User.ID != u.ID || got.Via != ViaToken {
		t.Fatalf("cached token: %+v, %v", got, err)
	}
	if _, err := p.cache.TokenPrincipal(ctx, other); err == nil {
		t.Fatal("an uncached token was answered without the database")
	}
}

// An admin revokes a token through one API process; every other process
// refuses it too, long before its cache entry would have aged out.
func TestRevokedTokenIsRefusedByEveryProcess(t *testing.T) {
	ctx := context.Background()
	a := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	b := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	tok, info := mustToken(t, u.ID)
	for _, p := range []*process{a, b} {
		if _, err := p.cache.TokenPrincipal(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.svc.RevokeToken(ctx, u.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*process{"a": a, "b": b} {
		waitFor(t, "process "+name+" to refuse the revoked token", func() bool {
			_, err := p.cache.TokenPrincipal(ctx, tok)
			return refused(err)
		})
	}
}

// The process that revokes a token refuses it on the very next request
// once it has synced, without waiting for anything else.
func TestRevokingProcessReadsItsOwnRevocation(t *testing.T) {
	ctx := context.Background()
	a := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	for i := 0; i < 20; i++ {
		tok, info := mustToken(t, u.ID)
		if _, err := a.cache.TokenPrincipal(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := a.svc.RevokeToken(ctx, u.ID, info.ID); err != nil {
			t.Fatal(err)
		}
		if err := a.cache.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := a.cache.TokenPrincipal(ctx, tok); !refused(err) {
			t.Fatalf("round %d: revoked token right after Sync: err = %v, want refused", i, err)
		}
	}
}

// Signing out, an admin ending every session, and pruning a session row
// outright all reach the other process.
func TestEndedSessionsAreRefusedByEveryProcess(t *testing.T) {
	ctx := context.Background()
	a := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	b := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleRequester, nil)
	signedOut, everywhere, deleted := mustSession(t, u.ID), mustSession(t, u.ID), mustSession(t, u.ID)
	other := newUser(t, RoleRequester, nil)
	keeps := mustSession(t, other.ID)
	for _, s := range []string{signedOut, everywhere, deleted, keeps} {
		if _, err := b.cache.SessionPrincipal(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.svc.RevokeSession(ctx, signedOut); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the signed-out session to be refused", func() bool {
		_, err := b.cache.SessionPrincipal(ctx, signedOut)
		return refused(err)
	})
	if _, err := a.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, mustHash(t, deleted)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted session to be refused", func() bool {
		_, err := b.cache.SessionPrincipal(ctx, deleted)
		return refused(err)
	})
	if err := a.svc.RevokeUserSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every session of the user to be refused", func() bool {
		_, err := b.cache.SessionPrincipal(ctx, everywhere)
		return refused(err)
	})
	if _, err := b.cache.SessionPrincipal(ctx, keeps); err != nil {
		t.Fatalf("another user's session: %v", err)
	}
}

func mustHash(t *testing.T, secret string) []byte {
	t.Helper()
	h, ok := sessionHash(secret)
	if !ok {
		t.Fatal("malformed session secret")
	}
	return h
}

// A lead is demoted, loses a team, and is then disabled through one
// process; the other sees each change on the credentials it had cached.
func TestUserChangesReachEveryProcess(t *testing.T) {
	ctx := context.Background()
	a := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	b := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleLead, nil)
	team, err := a.svc.CreateTeam(ctx, "cache team "+newEmail(), nil, []int64{u.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := mustToken(t, u.ID)
	session := mustSession(t, u.ID)
	p, err := b.cache.TokenPrincipal(ctx, tok)
	if err != nil || p.User.Role != RoleLead || len(p.TeamIDs) != 1 {
		t.Fatalf("before: %+v, %v", p, err)
	}
	if _, err := b.cache.SessionPrincipal(ctx, session); err != nil {
		t.Fatal(err)
	}

	if err := a.svc.SetRole(ctx, u.ID, RoleAgent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the demotion on the cached token", func() bool {
		p, err := b.cache.TokenPrincipal(ctx, tok)
		return err == nil && p.User.Role == RoleAgent
	})
	waitFor(t, "the demotion on the cached session", func() bool {
		p, err := b.cache.SessionPrincipal(ctx, session)
		return err == nil && p.User.Role == RoleAgent
	})
	if err := a.svc.RemoveMember(ctx, team.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lost team", func() bool {
		p, err := b.cache.TokenPrincipal(ctx, tok)
		return err == nil && len(p.TeamIDs) == 0
	})
	if err := a.svc.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the disabled user's token to be refused", func() bool {
		_, err := b.cache.TokenPrincipal(ctx, tok)
		return refused(err)
	})
	waitFor(t, "the disabled user's session to be refused", func() bool {
		_, err := b.cache.SessionPrincipal(ctx, session)
		return refused(err)
	})
}

// A process whose bus connection is cut misses the revocation's message;
// it must still refuse the token, and cache again once reconnected.
func TestCacheThatMissedMessagesIsResynced(t *testing.T) {
	ctx := context.Background()
	// Reconnecting takes 1–2 s, so the revocation lands while b is not
	// listening.
	b := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{MinBackoff: 2 * time.Second, MaxBackoff: 2 * time.Second})
	u := newUser(t, RoleAgent, nil)
	revoked, info := mustToken(t, u.ID)
	kept, _ := mustToken(t, u.ID)
	for _, tok := range []string{revoked, kept} {
		if _, err := b.cache.TokenPrincipal(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testPool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, b.app); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bus to notice", func() bool { return !b.bus.Live() })
	if err := svc.RevokeToken(ctx, u.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.cache.TokenPrincipal(ctx, revoked); !refused(err) {
		t.Fatalf("revoked while the bus was down: err = %v, want refused", err)
	}
	waitFor(t, "the bus to reconnect", b.bus.Live)
	if _, err := b.cache.TokenPrincipal(ctx, revoked); !refused(err) {
		t.Fatalf("revoked token after the resync: err = %v, want refused", err)
	}
	if _, err := b.cache.TokenPrincipal(ctx, kept); err != nil {
		t.Fatal(err)
	}
	b.pool.Close() // cached again: answered without the database
	if _, err := b.cache.TokenPrincipal(ctx, kept); err != nil {
		t.Fatalf("the kept token is not cached after the resync: %v", err)
	}
}

// A change that commits while a lookup is reading the database must not
// be papered over by the lookup's (older) result.
func TestChangeDuringLookupIsNotCached(t *testing.T) {
	ctx := context.Background()
	p := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	tok, _ := mustToken(t, u.ID)
	key := credKey{kindToken, sha256Sum(tok)}
	loads := 0
	load := func() (Principal, error) {
		loads++
		pr, err := p.svc.TokenPrincipal(ctx, tok)
		if loads == 1 {
			p.cache.invalidate(fmt.Sprintf("user:%d", u.ID)) // arrives mid-read
		}
		return pr, err
	}
	for range 2 {
		if _, err := p.cache.lookup(key, load); err != nil {
			t.Fatal(err)
		}
	}
	if loads != 2 {
		t.Fatalf("database read %d times, want 2: the read overtaken by a change was cached", loads)
	}
	if _, err := p.cache.lookup(key, load); err != nil || loads != 2 {
		t.Fatalf("third lookup: loads %d, err %v: the clean read was not cached", loads, err)
	}
}

// Expiry is checked on every request from the cached value: a token that
// expires while cached is refused without any message.
func TestCachedTokenExpires(t *testing.T) {
	ctx := context.Background()
	p := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	expires := time.Now().Add(1500 * time.Millisecond)
	tok, _, err := svc.CreateToken(ctx, u.ID, "short", []string{ScopeTicketsRead}, &expires)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.cache.TokenPrincipal(ctx, tok); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	if _, err := p.cache.TokenPrincipal(ctx, tok); !refused(err) {
		t.Fatalf("expired token: err = %v, want refused", err)
	}
}

// Requests served from the cache still record the credential's last use.
func TestCacheWritesBackLastUse(t *testing.T) {
	ctx := context.Background()
	p := newProcess(t, PrincipalCacheOptions{TouchEvery: 50 * time.Millisecond}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	tok, info := mustToken(t, u.ID)
	session := mustSession(t, u.ID)
	if _, err := p.cache.TokenPrincipal(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := p.cache.SessionPrincipal(ctx, session); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	mustExec(t, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, info.ID, old)
	mustExec(t, `UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1`, mustHash(t, session), old)
	if _, err := p.cache.TokenPrincipal(ctx, tok); err != nil { // from memory
		t.Fatal(err)
	}
	if _, err := p.cache.SessionPrincipal(ctx, session); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last use written back", func() bool {
		var tokenUsed, sessionSeen time.Time
		if err := testPool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, info.ID).Scan(&tokenUsed); err != nil {
			t.Fatal(err)
		}
		if err := testPool.QueryRow(ctx, `SELECT last_seen_at FROM sessions WHERE token_hash = $1`, mustHash(t, session)).Scan(&sessionSeen); err != nil {
			t.Fatal(err)
		}
		return tokenUsed.After(old.Add(time.Hour)) && sessionSeen.After(old.Add(time.Hour))
	})
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

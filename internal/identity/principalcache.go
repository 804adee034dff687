package identity

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/helpdesk/helpdesk/internal/pgbus"
)

// ChangedChannel is the pgbus channel on which the database announces
// (migration 013's triggers) every change that alters or ends a principal:
// "token:<id>", "session:<id>", "user:<id>" or "org:<id>".
const ChangedChannel = "identity_changed"

// PrincipalCacheOptions tune a PrincipalCache; zero values take defaults.
type PrincipalCacheOptions struct {
	// TTL bounds how long a principal is served from memory (default 30 s):
	// a backstop only, since changes arrive over the bus within moments.
	TTL time.Duration
	// MaxEntries bounds the cache (default 100,000 credentials).
	MaxEntries int
	// TouchEvery is how often the last use of cached credentials is
	// written back to last_used_at / last_seen_at (default 30 s).
	TouchEvery time.Duration
	Logger     *slog.Logger
}

// PrincipalCache answers TokenPrincipal and SessionPrincipal from memory,
// so an authenticated request costs no database round trip. It is correct
// because it is told: it subscribes to ChangedChannel and drops the
// entries a change names (a revoked token or session, a disabled or
// demoted user, a team membership), and it trusts nothing it holds while
// the bus is not listening: when the bus connection is lost it empties
// itself and serves every request from the database until the bus has
// reconnected (Resync). Expiry is checked on every hit from the cached
// expiry; uses are written back in batches every TouchEvery.
type PrincipalCache struct {
	svc  *Service
	bus  *pgbus.Bus
	opts PrincipalCacheOptions
	now  func() time.Time

	mu      sync.Mutex
	entries map[credKey]*cachedPrincipal
	byUser  map[int64]map[credKey]struct{}
	byCred  map[credID]credKey
	// epoch moves on every invalidation. A lookup remembers it before
	// reading the database and stores its result only if it has not
	// moved, so a change that commits while the read is in flight is
	// never papered over by the stale result.
	epoch uint64
	// live: the bus listens, so changes will reach us.
	live bool
	// used credentials since the last write-back.
	usedTokens, usedSessions map[int64]struct{}

	unsubscribe func()
	stop, done  chan struct{}
	closeOnce   sync.Once
}

type credKind uint8

const (
	kindToken credKind = iota + 1
	kindSession
)

// credKey is a credential as the cache knows it: its kind and the SHA-256
// of its secret (never the secret itself).
type credKey struct {
	kind credKind
	hash [sha256.Size]byte
}

// credID is a credential's row id, as the triggers name it.
type credID struct {
	kind credKind
	id   int64
}

type cachedPrincipal struct {
	p       Principal
	fetched time.Time
}

// NewPrincipalCache starts a cache in front of svc, invalidated over bus.
// Close it to write back the last uses.
func NewPrincipalCache(svc *Service, bus *pgbus.Bus, opts PrincipalCacheOptions) (*PrincipalCache, error) {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100_000
	}
	if opts.TouchEvery <= 0 {
		opts.TouchEvery = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &PrincipalCache{svc: svc, bus: bus, opts: opts, now: time.Now,
		entries: map[credKey]*cachedPrincipal{}, byUser: map[int64]map[credKey]struct{}{}, byCred: map[credID]credKey{},
		usedTokens: map[int64]struct{}{}, usedSessions: map[int64]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	unsub, err := bus.Subscribe(ChangedChannel, pgbus.Subscriber{
		Notify: c.invalidate,
		Resync: func() { c.reset(true) },
		Lost:   func() { c.reset(false) },
	})
	if err != nil {
		return nil, fmt.Errorf("identity: principal cache: %w", err)
	}
	c.unsubscribe = unsub
	go c.touchLoop()
	return c, nil
}

// Close stops listening and writes back the last uses.
func (c *PrincipalCache) Close() {
	c.closeOnce.Do(func() {
		c.unsubscribe()
		close(c.stop)
		<-c.done
		c.reset(false)
	})
}

// Sync returns once the cache has applied every change committed before
// the call: a process that has just revoked a token or ended a session
// calls it before answering, so its next request cannot be served from a
// stale entry (other processes catch up within moments).
func (c *PrincipalCache) Sync(ctx context.Context) error {
	if err := c.bus.Sync(ctx, c.svc.pool); err != nil {
		return fmt.Errorf("identity: principal cache: %w", err)
	}
	return nil
}

// TokenPrincipal is Service.TokenPrincipal, from memory when it can be.
func (c *PrincipalCache) TokenPrincipal(ctx context.Context, token string) (Principal, error) {
	key := credKey{kindToken, sha256.Sum256([]byte(token))}
	return c.lookup(key, func() (Principal, error) { return c.svc.TokenPrincipal(ctx, token) })
}

// SessionPrincipal is Service.SessionPrincipal, from memory when it can be.
func (c *PrincipalCache) SessionPrincipal(ctx context.Context, secret string) (Principal, error) {
	key := credKey{kindSession, sha256.Sum256([]byte(secret))}
	return c.lookup(key, func() (Principal, error) { return c.svc.SessionPrincipal(ctx, secret) })
}

func (c *PrincipalCache) lookup(key credKey, load func() (Principal, error)) (Principal, error) {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		if c.live && now.Sub(e.fetched) < c.opts.TTL && (e.p.ExpiresAt == nil || now.Before(*e.p.ExpiresAt)) {
			if e.p.Via == ViaToken {
				c.usedTokens[e.p.TokenID] = struct{}{}
			} else {
				c.usedSessions[e.p.SessionID] = struct{}{}
			}
			p := clonePrincipal(e.p)
			c.mu.Unlock()
			return p, nil
		}
		c.removeLocked(key)
	}
	epoch, live := c.epoch, c.live
	c.mu.Unlock()

	// The database decides (and refuses expired, revoked or disabled).
	p, err := load()
	if err != nil || !live {
		return p, err
	}
	c.mu.Lock()
	if c.live && c.epoch == epoch {
		c.storeLocked(key, p, now)
	}
	c.mu.Unlock()
	return clonePrincipal(p), nil
}

func (c *PrincipalCache) storeLocked(key credKey, p Principal, now time.Time) {
	if len(c.entries) >= c.opts.MaxEntries {
		for k := range c.entries { // an arbitrary victim
			c.removeLocked(k)
			break
		}
	}
	c.entries[key] = &cachedPrincipal{p: p, fetched: now}
	if c.byUser[p.User.ID] == nil {
		c.byUser[p.User.ID] = map[credKey]struct{}{}
	}
	c.byUser[p.User.ID][key] = struct{}{}
	c.byCred[credIDOf(p)] = key
}

func (c *PrincipalCache) removeLocked(key credKey) {
	e, ok := c.entries[key]
	if !ok {
		return
	}
	delete(c.entries, key)
	if keys := c.byUser[e.p.User.ID]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(c.byUser, e.p.User.ID)
		}
	}
	delete(c.byCred, credIDOf(e.p))
}

func credIDOf(p Principal) credID {
	if p.Via == ViaToken {
		return credID{kindToken, p.TokenID}
	}
	return credID{kindSession, p.SessionID}
}

// invalidate drops what a ChangedChannel message names. A message it does
// not understand empties the cache: wrong is worse than slow.
func (c *PrincipalCache) invalidate(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	kind, idText, _ := strings.Cut(payload, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		kind = ""
	}
	switch kind {
	case "token":
		if key, ok := c.byCred[credID{kindToken, id}]; ok {
			c.removeLocked(key)
		}
	case "session":
		if key, ok := c.byCred[credID{kindSession, id}]; ok {
			c.removeLocked(key)
		}
	case "user":
		for key := range c.byUser[id] {
			c.removeLocked(key)
		}
	case "org":
		for key, e := range c.entries {
			if e.p.User.OrganizationID != nil && *e.p.User.OrganizationID == id {
				c.removeLocked(key)
			}
		}
	default:
		c.opts.Logger.Warn("identity: principal cache: unknown change message; dropping every entry", "payload", payload)
		c.clearLocked()
	}
}

// reset empties the cache; live says whether changes reach it from now on.
func (c *PrincipalCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.live = live
	c.clearLocked()
}

func (c *PrincipalCache) clearLocked() {
	clear(c.entries)
	clear(c.byUser)
	clear(c.byCred)
}

func clonePrincipal(p Principal) Principal {
	p.TeamIDs = slices.Clone(p.TeamIDs)
	p.LeadOf = slices.Clone(p.LeadOf)
	p.Scopes = slices.Clone(p.Scopes)
	if p.User.TimeZone != nil {
		tz := *p.User.TimeZone
		p.User.TimeZone = &tz
	}
	if p.ExpiresAt != nil {
		t := *p.ExpiresAt
		p.ExpiresAt = &t
	}
	return p
}

// touchLoop writes back, every TouchEvery and on Close, which cached
// credentials were used, as the lookups the cache saved would have.
func (c *PrincipalCache) touchLoop() {
	defer close(c.done)
	t := time.NewTicker(c.opts.TouchEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.touch()
		case <-c.stop:
			c.touch()
			return
		}
	}
}

func (c *PrincipalCache) touch() {
	c.mu.Lock()
	tokens, sessions := c.usedTokens, c.usedSessions
	c.usedTokens, c.usedSessions = map[int64]struct{}{}, map[int64]struct{}{}
	c.mu.Unlock()
	if len(tokens)+len(sessions) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.svc.touchCredentials(ctx, keys(tokens), keys(sessions)); err != nil {
		c.opts.Logger.Warn("identity: principal cache: write back last use", "err", err)
	}
}

func keys(m map[int64]struct{}) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// touchCredentials records that the tokens and sessions were used now,
// where their last use is older than touchInterval (the triggers of
// migration 013 ignore these columns, so this invalidates nothing).
func (s *Service) touchCredentials(ctx context.Context, tokenIDs, sessionIDs []int64) error {
	if len(tokenIDs) > 0 {
		if _, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now()
			WHERE id = ANY($1) AND (last_used_at IS NULL OR last_used_at < now() - interval '`+touchInterval+`')`, tokenIDs); err != nil {
			return fmt.Errorf("identity: touch tokens: %w", err)
		}
	}
	if len(sessionIDs) > 0 {
		if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now()
			WHERE id = ANY($1) AND last_seen_at < now() - interval '`+touchInterval+`'`, sessionIDs); err != nil {
			return fmt.Errorf("identity: touch sessions: %w", err)
		}
	}
	return nil
}

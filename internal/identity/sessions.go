package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A session secret is 32 random bytes, base64url without padding. Only its
// SHA-256 is stored, so a database leak does not hand out sessions.
const (
	sessionSecretBytes = 32
	sessionSecretLen   = 43 // base64url of 32 bytes, unpadded
)

// touchInterval is how stale last_seen_at / last_used_at may get before a
// request refreshes it: one write a minute per credential instead of one per
// request.
const touchInterval = "1 minute"

func newSessionSecret() (string, error) {
	b := make([]byte, sessionSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionHash returns the stored form of secret, or ok false when secret is
// not shaped like one CreateSession hands out.
func sessionHash(secret string) (hash []byte, ok bool) {
	if len(secret) != sessionSecretLen {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(secret))
	return h[:], true
}

// CreateSession starts a browser session for an enabled user, lasting ttl,
// recording the client's address and user agent. It returns the secret for
// the cookie (shown only now) and when the session expires. A missing or
// disabled user is ErrNotFound.
func (s *Service) CreateSession(ctx context.Context, userID int64, ip, userAgent string, ttl time.Duration) (secret string, expires time.Time, err error) {
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("identity: create session: %w", invalid("ttl", "must be positive"))
	}
	secret, err = newSessionSecret()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("identity: create session: %w", err)
	}
	hash, _ := sessionHash(secret)
	err = s.pool.QueryRow(ctx, `
		INSERT INTO sessions (token_hash, user_id, expires_at, ip, user_agent)
		SELECT $1, id, now() + $3 * interval '1 microsecond', $4, $5 FROM users WHERE id = $2 AND NOT disabled
		RETURNING expires_at`,
		hash, userID, ttl.Microseconds(), ip, userAgent).Scan(&expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("identity: create session: no enabled user %d: %w", userID, ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("identity: create session: %w", err)
	}
	return secret, expires, nil
}

// SessionPrincipal returns who holds the session secret. It is
// ErrUnauthenticated when the secret is malformed or unknown, the session
// expired or was revoked, or the user is disabled.
func (s *Service) SessionPrincipal(ctx context.Context, secret string) (Principal, error) {
	hash, ok := sessionHash(secret)
	if !ok {
		return Principal{}, fmt.Errorf("identity: session: malformed secret: %w", ErrUnauthenticated)
	}
	var id int64
	var stale bool
	var expires time.Time
	p, err := scanPrincipal(s.pool.QueryRow(ctx, `
		SELECT s.id, s.expires_at, s.last_seen_at < now() - interval '`+touchInterval+`', `+principalColumns+`
		FROM sessions s `+fmt.Sprintf(principalJoins, "s.user_id")+`
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled`,
		hash), &id, &expires, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, fmt.Errorf("identity: session: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("identity: session: %w", err)
	}
	if stale {
		if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() WHERE id = $1`, id); err != nil {
			return Principal{}, fmt.Errorf("identity: session: touch: %w", err)
		}
	}
	p.Via, p.SessionID, p.ExpiresAt = ViaSession, id, &expires
	return p, nil
}

// RevokeSession ends the session (sign-out). Revoking an unknown, malformed
// or already revoked secret is not an error: the outcome is the same.
func (s *Service) RevokeSession(ctx context.Context, secret string) error {
	hash, ok := sessionHash(secret)
	if !ok {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, hash); err != nil {
		return fmt.Errorf("identity: revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions ends every session of a user (sign out everywhere,
// after a password change or when access is withdrawn).
func (s *Service) RevokeUserSessions(ctx context.Context, userID int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID); err != nil {
		return fmt.Errorf("identity: revoke sessions of user %d: %w", userID, err)
	}
	return nil
}

// PruneSessions deletes sessions that expired or were revoked more than
// keep ago; run it periodically. It returns how many it deleted.
func (s *Service) PruneSessions(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM sessions
		WHERE expires_at < now() - $1 * interval '1 microsecond' OR revoked_at < now() - $1 * interval '1 microsecond'`,
		keep.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("identity: prune sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

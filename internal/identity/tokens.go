package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Token scopes: what an API token may be used for. The list is closed;
// CreateToken rejects anything else.
const (
	// ScopeTicketsRead: list, search and read tickets and their comments.
	ScopeTicketsRead = "tickets:read"
	// ScopeTicketsWrite: create tickets, comment, and change them.
	ScopeTicketsWrite = "tickets:write"
	// ScopeAdmin: everything, including managing users and teams; implies
	// the other scopes. Only admins' tokens may have it.
	ScopeAdmin = "admin"
)

// TokenScopes lists the valid scopes.
func TokenScopes() []string { return []string{ScopeTicketsRead, ScopeTicketsWrite, ScopeAdmin} }

// A generated token is "hd_" + 8 hex prefix + "_" + 32 random bytes in
// base64url: the prefix names the token in lists and logs, and "hd_" lets
// secret scanners spot leaked ones. Tokens from CreateTokenWithSecret can
// have any shape within the length limits.
const (
	tokenMarker      = "hd_"
	tokenPrefixLen   = 8
	tokenSecretBytes = 32
	minTokenLen      = 24
	maxTokenLen      = 512
)

// TokenInfo describes an API token without its secret.
type TokenInfo struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

const tokenColumns = `id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at`

func scanToken(row pgx.Row) (TokenInfo, error) {
	var t TokenInfo
	err := row.Scan(&t.ID, &t.Name, &t.Prefix, &t.Scopes, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt)
	return t, err
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// tokenPrefix is the part of token shown in lists. For a token not made by
// CreateToken no part of the secret is shown; a prefix of its hash stands in.
func tokenPrefix(token string) string {
	if len(token) > len(tokenMarker)+tokenPrefixLen+1 && strings.HasPrefix(token, tokenMarker) &&
		token[len(tokenMarker)+tokenPrefixLen] == '_' {
		return token[len(tokenMarker) : len(tokenMarker)+tokenPrefixLen]
	}
	return hex.EncodeToString(tokenHash(token))[:tokenPrefixLen]
}

// checkTokenRequest validates a token's name and scopes for the user, whose
// role it reads. It returns the scopes sorted and without duplicates.
func (s *Service) checkTokenRequest(ctx context.Context, userID int64, name string, scopes []string) ([]string, error) {
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return nil, invalid("name", "must be 1 to %d characters", maxNameLen)
	}
	if len(scopes) == 0 {
		return nil, invalid("scopes", "at least one of %s is required", strings.Join(TokenScopes(), ", "))
	}
	var role string
	err := s.pool.QueryRow(ctx, `SELECT role FROM users WHERE id = $1`, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	out := slices.Clone(scopes)
	for _, sc := range out {
		if !slices.Contains(TokenScopes(), sc) {
			return nil, invalid("scopes", "unknown scope %q (valid: %s)", sc, strings.Join(TokenScopes(), ", "))
		}
		if sc == ScopeAdmin && Role(role) != RoleAdmin {
			return nil, invalid("scopes", "only admins' tokens may have scope %q", ScopeAdmin)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CreateToken issues a personal API token for a user, optionally expiring
// at expiresAt. The token is returned only now; helpdesk keeps its hash.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string, scopes []string, expiresAt *time.Time) (token string, info TokenInfo, err error) {
	name = strings.TrimSpace(name)
	scopes, err = s.checkTokenRequest(ctx, userID, name, scopes)
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", invalid("expires_at", "must be in the future"))
	}
	b := make([]byte, tokenPrefixLen/2+tokenSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	prefix := hex.EncodeToString(b[:tokenPrefixLen/2])
	token = tokenMarker + prefix + "_" + base64.RawURLEncoding.EncodeToString(b[tokenPrefixLen/2:])
	info, err = scanToken(s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, prefix, token_hash, scopes, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+tokenColumns,
		userID, name, prefix, tokenHash(token), scopes, expiresAt))
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	return token, info, nil
}

// CreateTokenWithSecret registers a token chosen by the operator (the
// HELPDESK_BOOTSTRAP_TOKEN), at least 24 characters, that never expires. It
// is idempotent: registering the same token again returns the existing row
// unchanged — still revoked if an admin revoked it. The same token for
// another user is ErrConflict.
func (s *Service) CreateTokenWithSecret(ctx context.Context, userID int64, name string, scopes []string, token string) (TokenInfo, error) {
	name = strings.TrimSpace(name)
	if len(token) < minTokenLen || len(token) > maxTokenLen {
		return TokenInfo{}, fmt.Errorf("identity: create token: %w", invalid("token", "must be %d to %d characters", minTokenLen, maxTokenLen))
	}
	scopes, err := s.checkTokenRequest(ctx, userID, name, scopes)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	hash := tokenHash(token)
	info, err := scanToken(s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, prefix, token_hash, scopes)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (token_hash) DO NOTHING
		RETURNING `+tokenColumns,
		userID, name, tokenPrefix(token), hash, scopes))
	if err == nil {
		return info, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	// The token is registered already; it is this user's or a conflict.
	info, err = scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = $1 AND user_id = $2`, hash, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("identity: create token: registered for another user: %w", ErrConflict)
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("identity: create token: existing: %w", err)
	}
	return info, nil
}

// TokenPrincipal returns who holds an API token. It is ErrUnauthenticated
// when the token is malformed or unknown, expired or revoked, or its user
// is disabled.
func (s *Service) TokenPrincipal(ctx context.Context, token string) (Principal, error) {
	if len(token) < minTokenLen || len(token) > maxTokenLen {
		return Principal{}, fmt.Errorf("identity: token: malformed: %w", ErrUnauthenticated)
	}
	var id int64
	var scopes []string
	var expires *time.Time
	var stale bool
	p, err := scanPrincipal(s.pool.QueryRow(ctx, `
		SELECT k.id, k.scopes, k.expires_at, k.last_used_at IS NULL OR k.last_used_at < now() - interval '`+touchInterval+`', `+principalColumns+`
		FROM api_tokens k `+fmt.Sprintf(principalJoins, "k.user_id")+`
		WHERE k.token_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT u.disabled`,
		tokenHash(token)), &id, &scopes, &expires, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, fmt.Errorf("identity: token: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("identity: token: %w", err)
	}
	if stale {
		if _, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, id); err != nil {
			return Principal{}, fmt.Errorf("identity: token: touch: %w", err)
		}
	}
	p.Via, p.TokenID, p.Scopes, p.ExpiresAt = ViaToken, id, scopes, expires
	return p, nil
}

// ListTokens returns a user's tokens, revoked and expired ones included,
// newest first.
func (s *Service) ListTokens(ctx context.Context, userID int64) ([]TokenInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("identity: list tokens: %w", err)
	}
	tokens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TokenInfo, error) { return scanToken(row) })
	if err != nil {
		return nil, fmt.Errorf("identity: list tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken revokes one of a user's tokens; ErrNotFound when the user has
// no such token. Revoking twice keeps the first revocation time.
func (s *Service) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND user_id = $2`, tokenID, userID)
	if err != nil {
		return fmt.Errorf("identity: revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("identity: revoke token %d: %w", tokenID, ErrNotFound)
	}
	return nil
}

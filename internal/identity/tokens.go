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

// checkTokenRequest validates a token's name and scopes for the user and
// returns the scopes sorted and without duplicates, and the user's role.
func (s *Service) checkTokenRequest(ctx context.Context, userID int64, name string, scopes []string) ([]string, Role, error) {
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return nil, "", invalid("name", "must be 1 to %d characters", maxNameLen)
	}
	if len(scopes) == 0 {
		return nil, "", invalid("scopes", "at least one of %s is required", strings.Join(TokenScopes(), ", "))
	}
	var role string
	err := s.pool.QueryRow(ctx, `SELECT role FROM users WHERE id = $1`, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	if err != nil {
		return nil, "", err
	}
	out := slices.Clone(scopes)
	for _, sc := range out {
		if !slices.Contains(TokenScopes(), sc) {
			return nil, "", invalid("scopes", "unknown scope %q (valid: %s)", sc, strings.Join(TokenScopes(), ", "))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), Role(role), nil
}

// roleAllowsScope reports whether a user with role may hold a token with
// scope: the admin scope is for admins only; the ticket scopes are for
// everyone, since the role still limits what a token can do with them.
func roleAllowsScope(role Role, scope string) bool {
	return scope != ScopeAdmin || role == RoleAdmin
}

// CreateToken issues a personal API token for a user, optionally expiring
// at expiresAt, on the word of a trusted caller (the CLI, tests, benchmarks):
// only the user's role limits the scopes. The API uses IssueToken, which
// also holds the caller's own credential to its limits. The token is
// returned only now; helpdesk keeps its hash.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string, scopes []string, expiresAt *time.Time) (token string, info TokenInfo, err error) {
	name = strings.TrimSpace(name)
	scopes, role, err := s.checkTokenRequest(ctx, userID, name, scopes)
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	for _, sc := range scopes {
		if !roleAllowsScope(role, sc) {
			return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", invalid("scopes", "only admins' tokens may have scope %q", ScopeAdmin))
		}
	}
	return s.insertToken(ctx, userID, name, scopes, expiresAt, nil)
}

// IssueToken makes a token for the caller p, who may pass on no more than
// they hold:
//
//   - through a browser session, the scopes the user's role allows (the
//     admin scope only for admins; requesters, agents and leads get the
//     ticket scopes, which their role still limits);
//   - through an API token, only scopes that token holds itself (a token
//     with the admin scope holds them all), never the admin scope unless
//     it has it; the new token expires no later than the one that made it
//     (by default at the same time), and revoking that one revokes it too.
//
// Asking for more is ErrForbidden, and nothing is created.
func (s *Service) IssueToken(ctx context.Context, p Principal, name string, scopes []string, expiresAt *time.Time) (token string, info TokenInfo, err error) {
	name = strings.TrimSpace(name)
	scopes, role, err := s.checkTokenRequest(ctx, p.User.ID, name, scopes)
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: issue token: %w", err)
	}
	for _, sc := range scopes {
		if !roleAllowsScope(role, sc) {
			return "", TokenInfo{}, fmt.Errorf("identity: issue token: %w", forbidden("the %s role may not have a token with scope %q", role, sc))
		}
	}
	var parent *int64
	switch p.Via {
	case ViaSession:
	case ViaToken:
		for _, sc := range scopes {
			if !p.HasScope(sc) {
				return "", TokenInfo{}, fmt.Errorf("identity: issue token: %w", forbidden("this API token lacks the %s scope, so it cannot make a token with it", sc))
			}
		}
		var parentExpires *time.Time
		err := s.pool.QueryRow(ctx, `SELECT expires_at FROM api_tokens WHERE id = $1 AND user_id = $2`, p.TokenID, p.User.ID).Scan(&parentExpires)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", TokenInfo{}, fmt.Errorf("identity: issue token: token %d: %w", p.TokenID, ErrUnauthenticated)
		}
		if err != nil {
			return "", TokenInfo{}, fmt.Errorf("identity: issue token: %w", err)
		}
		switch {
		case parentExpires == nil:
		case expiresAt == nil:
			expiresAt = parentExpires
		case expiresAt.After(*parentExpires):
			return "", TokenInfo{}, fmt.Errorf("identity: issue token: %w", invalid("expires_at",
				"must not be later than the expiry of the API token making it (%s)", parentExpires.UTC().Format(time.RFC3339)))
		}
		parent = &p.TokenID
	default:
		return "", TokenInfo{}, fmt.Errorf("identity: issue token: %w", ErrUnauthenticated)
	}
	return s.insertToken(ctx, p.User.ID, name, scopes, expiresAt, parent)
}

// insertToken generates and stores a token whose request was checked.
func (s *Service) insertToken(ctx context.Context, userID int64, name string, scopes []string, expiresAt *time.Time, parent *int64) (string, TokenInfo, error) {
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", invalid("expires_at", "must be in the future"))
	}
	b := make([]byte, tokenPrefixLen/2+tokenSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	prefix := hex.EncodeToString(b[:tokenPrefixLen/2])
	token := tokenMarker + prefix + "_" + base64.RawURLEncoding.EncodeToString(b[tokenPrefixLen/2:])
	info, err := scanToken(s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, prefix, token_hash, scopes, expires_at, parent_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING `+tokenColumns,
		userID, name, prefix, tokenHash(token), scopes, expiresAt, parent))
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	return token, info, nil
}

// CreateTokenWithSecret registers a token chosen by the operator, at least
// 24 characters, that never expires. It is idempotent: registering the same
// token again returns the existing row unchanged — still revoked if an
// admin revoked it. The same token for another user is ErrConflict.
func (s *Service) CreateTokenWithSecret(ctx context.Context, userID int64, name string, scopes []string, token string) (TokenInfo, error) {
	return s.registerSecret(ctx, s.pool, userID, name, scopes, token, false)
}

// registerSecret is CreateTokenWithSecret, on q, marking the row as the
// bootstrap token when bootstrap is set.
func (s *Service) registerSecret(ctx context.Context, q pgxQuerier, userID int64, name string, scopes []string, token string, bootstrap bool) (TokenInfo, error) {
	name = strings.TrimSpace(name)
	if len(token) < minTokenLen || len(token) > maxTokenLen {
		return TokenInfo{}, fmt.Errorf("identity: create token: %w", invalid("token", "must be %d to %d characters", minTokenLen, maxTokenLen))
	}
	scopes, role, err := s.checkTokenRequest(ctx, userID, name, scopes)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	for _, sc := range scopes {
		if !roleAllowsScope(role, sc) {
			return TokenInfo{}, fmt.Errorf("identity: create token: %w", invalid("scopes", "only admins' tokens may have scope %q", ScopeAdmin))
		}
	}
	hash := tokenHash(token)
	info, err := scanToken(q.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, prefix, token_hash, scopes, bootstrap)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (token_hash) DO NOTHING
		RETURNING `+tokenColumns,
		userID, name, tokenPrefix(token), hash, scopes, bootstrap))
	if err == nil {
		return info, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("identity: create token: %w", err)
	}
	// The token is registered already; it is this user's or a conflict.
	info, err = scanToken(q.QueryRow(ctx, `
		UPDATE api_tokens SET bootstrap = bootstrap OR $3 WHERE token_hash = $1 AND user_id = $2
		RETURNING `+tokenColumns, hash, userID, bootstrap))
	if errors.Is(err, pgx.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("identity: create token: registered for another user: %w", ErrConflict)
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("identity: create token: existing: %w", err)
	}
	return info, nil
}

// MinBootstrapTokenLen is the shortest bootstrap token SetBootstrapToken
// accepts: 32 characters (the bootstrap_token option's rule).
const MinBootstrapTokenLen = 32

// SetBootstrapToken makes token the deployment's one bootstrap token (the
// bootstrap_token option): it registers token for userID with the admin
// scope, as CreateTokenWithSecret does but marked as the bootstrap token,
// and revokes every other bootstrap token, with the tokens they made. So
// changing the option retires the old value at the next start, and an
// empty token — the option removed — revokes them all. A bootstrap token
// an admin revoked stays revoked. It returns the registered token (zero
// when token is empty) and how many tokens it revoked.
func (s *Service) SetBootstrapToken(ctx context.Context, userID int64, token string) (TokenInfo, int64, error) {
	if token != "" && len(token) < MinBootstrapTokenLen {
		return TokenInfo{}, 0, fmt.Errorf("identity: bootstrap token: %w", invalid("token", "must be at least %d characters", MinBootstrapTokenLen))
	}
	var info TokenInfo
	var revoked int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if token != "" {
			var err error
			if info, err = s.registerSecret(ctx, tx, userID, "bootstrap", []string{ScopeAdmin}, token, true); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, revokeTreeSQL(`SELECT id FROM api_tokens WHERE bootstrap AND token_hash <> $1`), tokenHash(token))
		revoked = tag.RowsAffected()
		return err
	})
	if err != nil {
		return TokenInfo{}, 0, fmt.Errorf("identity: bootstrap token: %w", err)
	}
	return info, revoked, nil
}

// pgxQuerier is a pool or a transaction.
type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// revokeTreeSQL revokes the tokens roots selects (program text, never
// input) and every token made with them, down the parent_id chain; tokens
// already revoked keep their revocation time and are not counted.
func revokeTreeSQL(roots string) string {
	return `WITH RECURSIVE tree AS (
			` + roots + `
			UNION
			SELECT k.id FROM api_tokens k JOIN tree ON k.parent_id = tree.id
		)
		UPDATE api_tokens SET revoked_at = now() WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL`
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

// RevokeToken revokes one of a user's tokens and every token made with it
// (IssueToken through an API token); ErrNotFound when the user has no such
// token. Revoking twice keeps the first revocation time.
func (s *Service) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = $1 AND user_id = $2)`, tokenID, userID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("token %d: %w", tokenID, ErrNotFound)
		}
		_, err := tx.Exec(ctx, revokeTreeSQL(`SELECT id FROM api_tokens WHERE id = $1`), tokenID)
		return err
	})
	if err != nil {
		return fmt.Errorf("identity: revoke token: %w", err)
	}
	return nil
}

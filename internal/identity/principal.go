package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Principal is who is calling: the signed-in user, what they belong to, and
// how they proved it. The API builds one per request (SessionPrincipal or
// TokenPrincipal) and decides everything from it; TicketScope turns it into
// the tickets they may see.
type Principal struct {
	User User
	// TeamIDs are the teams whose tickets the user works: those they are a
	// member of and those they lead, ascending.
	TeamIDs []int64
	// LeadOf are the teams the user leads, ascending.
	LeadOf []int64
	// OrganizationShared is true when the user's organization lets its
	// requesters see each other's tickets.
	OrganizationShared bool
	// Via is how the caller authenticated: "session" or "token".
	Via string
	// TokenID and Scopes describe the API token when Via is "token".
	TokenID int64
	Scopes  []string
	// SessionID is the browser session when Via is "session".
	SessionID int64
	// ExpiresAt is when the session or token stops working; nil when it
	// never expires. A cached Principal is checked against it on every use.
	ExpiresAt *time.Time
}

// How a Principal authenticated.
const (
	ViaSession = "session"
	ViaToken   = "token"
)

// HasScope reports whether the credential allows the kind of action scope
// names (see the Scope* constants). A browser session may do everything the
// user's role allows; a token only what its scopes name, where ScopeAdmin
// implies every scope. Scopes narrow a role, never widen it: the API still
// checks the role.
func (p Principal) HasScope(scope string) bool {
	switch p.Via {
	case ViaSession:
		return true
	case ViaToken:
		return slices.Contains(p.Scopes, scope) || slices.Contains(p.Scopes, ScopeAdmin)
	}
	return false
}

// principalColumns loads a Principal's user, teams and organization
// setting; the query names the user u and left-joins their organization as
// o (see principalJoins).
var principalColumns = `u.id, u.email, u.name, u.role, u.organization_id, u.disabled, u.created_at, u.role_source, u.time_zone,
	COALESCE(o.shared_tickets, false),
	` + fmt.Sprintf(teamsOfSQL, "u.id") + `,
	ARRAY(SELECT t.id FROM teams t WHERE t.lead_id = u.id ORDER BY t.id)`

const principalJoins = `JOIN users u ON u.id = %s LEFT JOIN organizations o ON o.id = u.organization_id`

// scanPrincipal scans a row whose first columns are extra and whose
// remaining ones are principalColumns.
func scanPrincipal(row pgx.Row, extra ...any) (Principal, error) {
	var p Principal
	var role string
	dest := append(extra, &p.User.ID, &p.User.Email, &p.User.Name, &role, &p.User.OrganizationID,
		&p.User.Disabled, &p.User.CreatedAt, &p.User.RoleSource, &p.User.TimeZone, &p.OrganizationShared, &p.TeamIDs, &p.LeadOf)
	err := row.Scan(dest...)
	p.User.Role = Role(role)
	return p, err
}

// UserPrincipal returns the principal of user id acting without a
// credential of their own: work they started that runs on later (a bulk
// action) and must still obey what they may do and see now. It is
// ErrUnauthenticated when the user does not exist or is disabled. Via,
// the token and the session are empty.
func (s *Service) UserPrincipal(ctx context.Context, id int64) (Principal, error) {
	p, err := scanPrincipal(s.pool.QueryRow(ctx, `SELECT `+principalColumns+`
		FROM users u LEFT JOIN organizations o ON o.id = u.organization_id
		WHERE u.id = $1 AND NOT u.disabled`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, fmt.Errorf("identity: user %d: %w", id, ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("identity: user %d: %w", id, err)
	}
	return p, nil
}

package identity

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Role is what a user does in helpdesk; it decides which tickets they see
// (TicketScope) and which actions the API allows them.
type Role string

// The roles, from least to most trusted.
const (
	// RoleRequester asks for help: sees their own tickets (and their
	// organization's when it shares tickets).
	RoleRequester Role = ticket.RoleRequester
	// RoleAgent works tickets of their teams and untriaged ones.
	RoleAgent Role = ticket.RoleAgent
	// RoleLead is an agent who also runs one or more teams.
	RoleLead Role = ticket.RoleLead
	// RoleAdmin configures helpdesk and sees everything.
	RoleAdmin Role = ticket.RoleAdmin
)

// ParseRole turns user or configuration input into a Role.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleRequester, RoleAgent, RoleLead, RoleAdmin:
		return r, nil
	}
	return "", invalid("role", "must be one of requester, agent, lead, admin")
}

// Staff reports whether the role works tickets rather than files them.
func (r Role) Staff() bool { return r == RoleAgent || r == RoleLead || r == RoleAdmin }

// User is a person who can sign in. The password hash never leaves the
// package.
type User struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	Role           Role      `json:"role"`
	OrganizationID *int64    `json:"organization_id"`
	Disabled       bool      `json:"disabled"`
	CreatedAt      time.Time `json:"created_at"`
	// RoleSource says what decided Role: RoleSourceManual (an admin, the
	// CLI or the system set it by hand) or RoleSourceSSO (single sign-on
	// mapped the person's groups to it). See UpsertOIDCUser.
	RoleSource string `json:"role_source"`
	// TimeZone is the IANA zone the user chose for reading dates (their
	// searches' days and ages); nil follows the deployment's default,
	// the business calendar's zone. See SetTimeZone.
	TimeZone *string `json:"time_zone"`
}

// Where a user's role comes from (User.RoleSource).
const (
	RoleSourceManual = "manual"
	RoleSourceSSO    = "sso"
)

// NewUser is the input of CreateUser.
type NewUser struct {
	Email string
	Name  string
	Role  Role
	// Password may be empty for users who only sign in through SSO; such
	// users cannot use Authenticate.
	Password       string
	OrganizationID *int64
}

// Input limits.
const (
	maxEmailLen    = 254 // RFC 5321 path limit
	maxNameLen     = 200
	minPasswordLen = 8    // characters
	maxPasswordLen = 1024 // bytes; argon2 copes, but nobody needs more
)

const userColumns = `id, email, name, role, organization_id, disabled, created_at, role_source, time_zone`

// scanUser scans a row of userColumns followed by extra columns.
func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	var role string
	dest := append([]any{&u.ID, &u.Email, &u.Name, &role, &u.OrganizationID, &u.Disabled, &u.CreatedAt, &u.RoleSource, &u.TimeZone}, extra...)
	err := row.Scan(dest...)
	u.Role = Role(role)
	return u, err
}

// rank orders roles by privilege; 0 for an unknown role.
func (r Role) rank() int {
	switch r {
	case RoleRequester:
		return 1
	case RoleAgent:
		return 2
	case RoleLead:
		return 3
	case RoleAdmin:
		return 4
	}
	return 0
}

// normalizeEmail lower-cases and trims an address so that one mailbox is one
// account whatever the case it is typed in.
func normalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// validateEmail accepts a bare address (no display name or comments).
func validateEmail(email string) error {
	if email == "" {
		return invalid("email", "is required")
	}
	if len(email) > maxEmailLen {
		return invalid("email", "is longer than %d characters", maxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return invalid("email", "is not a valid address")
	}
	return nil
}

func validateName(name string) error {
	if utf8.RuneCountInString(name) > maxNameLen {
		return invalid("name", "is longer than %d characters", maxNameLen)
	}
	return nil
}

func validatePassword(password string) error {
	if utf8.RuneCountInString(password) < minPasswordLen {
		return invalid("password", "must be at least %d characters", minPasswordLen)
	}
	if len(password) > maxPasswordLen {
		return invalid("password", "must be at most %d bytes", maxPasswordLen)
	}
	return nil
}

// CreateUser adds a user. The email is stored trimmed and lower-case; an
// email already taken (in any case) is ErrConflict. The role counts as set
// by hand: single sign-on never lowers it (see UpsertOIDCUser).
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	email := normalizeEmail(nu.Email)
	name := strings.TrimSpace(nu.Name)
	if err := validateEmail(email); err != nil {
		return User{}, fmt.Errorf("identity: create user: %w", err)
	}
	if err := validateName(name); err != nil {
		return User{}, fmt.Errorf("identity: create user: %w", err)
	}
	role, err := ParseRole(string(nu.Role))
	if err != nil {
		return User{}, fmt.Errorf("identity: create user: %w", err)
	}
	var hash *string
	if nu.Password != "" {
		if err := validatePassword(nu.Password); err != nil {
			return User{}, fmt.Errorf("identity: create user: %w", err)
		}
		h, err := HashPassword(nu.Password)
		if err != nil {
			return User{}, fmt.Errorf("identity: create user: %w", err)
		}
		hash = &h
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `
		INSERT INTO users (email, name, role, manual_role, role_source, password_hash, organization_id)
		VALUES ($1, $2, $3, $3, 'manual', $4, $5)
		RETURNING `+userColumns,
		email, name, string(role), hash, nu.OrganizationID))
	switch {
	case pgCode(err) == pgUniqueViolation:
		return User{}, fmt.Errorf("identity: create user %s: %w", email, ErrConflict)
	case pgCode(err) == pgForeignKeyViolation:
		return User{}, fmt.Errorf("identity: create user: %w", invalid("organization_id", "no such organization"))
	case err != nil:
		return User{}, fmt.Errorf("identity: create user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with id, or ErrNotFound.
func (s *Service) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("identity: user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("identity: user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user with email in any case, or ErrNotFound.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	email = normalizeEmail(email)
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = $1`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("identity: user by email: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("identity: user by email: %w", err)
	}
	return u, nil
}

// ListUsers pages through users in id order: up to limit (1..1000, default
// 100) users with ids greater than afterID. Pass the last id seen to get the
// next page.
func (s *Service) ListUsers(ctx context.Context, limit int, afterID int64) ([]User, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("identity: list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("identity: list users: %w", err)
	}
	return users, nil
}

// SetPassword replaces a user's password. It does not end their sessions;
// call RevokeUserSessions as well when the password was changed because it
// may have leaked.
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := validatePassword(password); err != nil {
		return fmt.Errorf("identity: set password: %w", err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("identity: set password: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, userID, hash)
	if err != nil {
		return fmt.Errorf("identity: set password: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("identity: set password: user %d: %w", userID, ErrNotFound)
	}
	return nil
}

// SetDisabled disables or re-enables a user. A disabled user cannot sign
// in, and their sessions and tokens stop working at once (they are checked
// on every request), without being revoked: re-enabling brings them back
// unless they expired meanwhile.
func (s *Service) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET disabled = $2, updated_at = now() WHERE id = $1`, userID, disabled)
	if err != nil {
		return fmt.Errorf("identity: set disabled: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("identity: set disabled: user %d: %w", userID, ErrNotFound)
	}
	return nil
}

// SetRole changes what a user may do by hand (an admin's decision); it
// takes effect on their next request. Single sign-on never lowers a role
// set this way, but may raise it (see UpsertOIDCUser).
func (s *Service) SetRole(ctx context.Context, userID int64, role Role) error {
	role, err := ParseRole(string(role))
	if err != nil {
		return fmt.Errorf("identity: set role: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET role = $2, manual_role = $2, role_source = 'manual', updated_at = now() WHERE id = $1`, userID, string(role))
	if err != nil {
		return fmt.Errorf("identity: set role: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("identity: set role: user %d: %w", userID, ErrNotFound)
	}
	return nil
}

// OIDCLogin is who an OpenID provider vouched for at a sign-in, and the
// role the deployment maps their groups to.
type OIDCLogin struct {
	Issuer, Subject string
	Email           string
	// EmailVerified is the ID token's email_verified claim.
	EmailVerified bool
	Name          string
	// Role is the caller's mapping of the provider's groups.
	Role Role
}

// UpsertOIDCUser provisions the account of someone signing in through an
// OpenID provider, and is called on every such sign-in:
//
//   - a user already linked to (issuer, subject) gets their role updated
//     (below) and their name, when the provider sends one; their email is
//     left as it is;
//   - otherwise a user with the same email is linked to (issuer, subject)
//     only when the provider has verified the email (ErrEmailNotVerified
//     otherwise, nothing changed); one already linked to another subject is
//     ErrConflict;
//   - otherwise a user without a password is created with the mapped role.
//
// The role rule: single sign-on never lowers a role set by hand (CreateUser,
// SetRole). The new role is the mapped role when no role was set by hand
// or when the mapping ranks higher (admin > lead > agent > requester), and
// the hand-set role otherwise; so SSO may raise a role, and may take back
// what it raised, but never below what an admin chose. A disabled user is
// returned as such; CreateSession refuses them.
func (s *Service) UpsertOIDCUser(ctx context.Context, in OIDCLogin) (User, error) {
	in.Email = normalizeEmail(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	if in.Issuer == "" || in.Subject == "" {
		return User{}, fmt.Errorf("identity: oidc user: %w", invalid("subject", "issuer and subject are required"))
	}
	if err := validateEmail(in.Email); err != nil {
		return User{}, fmt.Errorf("identity: oidc user: %w", err)
	}
	if err := validateName(in.Name); err != nil {
		return User{}, fmt.Errorf("identity: oidc user: %w", err)
	}
	role, err := ParseRole(string(in.Role))
	if err != nil {
		return User{}, fmt.Errorf("identity: oidc user: %w", err)
	}
	in.Role = role
	// Two first sign-ins of one person can race to create the account; the
	// loser's insert hits the unique index and the retry finds the winner's.
	for attempt := 0; ; attempt++ {
		u, err := s.upsertOIDCUser(ctx, in)
		if pgCode(err) == pgUniqueViolation && attempt == 0 {
			continue
		}
		if err != nil {
			return User{}, fmt.Errorf("identity: oidc user: %w", err)
		}
		return u, nil
	}
}

// ssoRole decides a role at an SSO sign-in from the role an admin set by
// hand (nil: none) and the role the groups map to.
func ssoRole(manual *Role, mapped Role) (Role, string) {
	if manual == nil || mapped.rank() > manual.rank() {
		return mapped, RoleSourceSSO
	}
	return *manual, RoleSourceManual
}

func (s *Service) upsertOIDCUser(ctx context.Context, in OIDCLogin) (User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return User{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	var id int64
	var manual *string
	err = tx.QueryRow(ctx, `SELECT id, manual_role FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2 FOR UPDATE`,
		in.Issuer, in.Subject).Scan(&id, &manual)
	if errors.Is(err, pgx.ErrNoRows) {
		var linked bool
		err = tx.QueryRow(ctx, `SELECT id, manual_role, oidc_subject IS NOT NULL FROM users WHERE lower(email) = $1 FOR UPDATE`,
			in.Email).Scan(&id, &manual, &linked)
		switch {
		case err == nil && linked:
			return User{}, fmt.Errorf("%s is linked to another single sign-on account: %w", in.Email, ErrConflict)
		case err == nil && !in.EmailVerified:
			return User{}, fmt.Errorf("%s belongs to an existing account: %w", in.Email, ErrEmailNotVerified)
		case errors.Is(err, pgx.ErrNoRows):
			u, err := scanUser(tx.QueryRow(ctx, `
				INSERT INTO users (email, name, role, role_source, oidc_issuer, oidc_subject)
				VALUES ($1, $2, $3, 'sso', $4, $5)
				RETURNING `+userColumns, in.Email, in.Name, string(in.Role), in.Issuer, in.Subject))
			if err != nil {
				return User{}, err
			}
			return u, tx.Commit(ctx)
		}
	}
	if err != nil {
		return User{}, err
	}
	role, source := ssoRole((*Role)(manual), in.Role)
	u, err := scanUser(tx.QueryRow(ctx, `
		UPDATE users SET oidc_issuer = $2, oidc_subject = $3, role = $4, role_source = $5,
		       name = CASE WHEN $6 = '' THEN name ELSE $6 END, updated_at = now()
		WHERE id = $1
		RETURNING `+userColumns, id, in.Issuer, in.Subject, string(role), source, in.Name))
	if err != nil {
		return User{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return User{}, err
	}
	return u, nil
}

// maxTimeZoneLen bounds a time zone name (the longest IANA name has 32
// characters); the column allows no more.
const maxTimeZoneLen = 64

// SetTimeZone sets the zone the user reads dates in: an IANA name such as
// Europe/Berlin, checked against the zone database ("", "Local" and
// unknown names are a FieldError on time_zone), or nil to follow the
// default again. It takes effect on the user's next request (migration
// 017 announces it to the principal caches).
func (s *Service) SetTimeZone(ctx context.Context, userID int64, zone *string) error {
	if zone != nil {
		if len(*zone) > maxTimeZoneLen {
			return fmt.Errorf("identity: set time zone: %w", invalid("time_zone", "is longer than %d bytes; name an IANA zone such as Europe/Berlin", maxTimeZoneLen))
		}
		if _, err := sla.LoadZone(*zone); err != nil {
			return fmt.Errorf("identity: set time zone: %w", invalid("time_zone", "%v", err))
		}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET time_zone = $2, updated_at = now() WHERE id = $1`, userID, zone)
	if err != nil {
		return fmt.Errorf("identity: set time zone: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("identity: set time zone: user %d: %w", userID, ErrNotFound)
	}
	return nil
}

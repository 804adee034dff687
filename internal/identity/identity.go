// Package identity knows who is calling helpdesk and what they may see:
// people and their roles, teams and organizations, password and single
// sign-on accounts, browser sessions, personal API tokens, brute-force
// throttling, and the ticket visibility rule (TicketScope) that the API and
// search both apply.
//
// Everything is plain SQL over the PostgreSQL pool that store.Store owns;
// the schema is internal/store/migrations/002_identity.sql.
package identity

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors callers branch on. Returned errors wrap them, so use errors.Is.
var (
	// ErrNotFound: the user, team, organization or token does not exist
	// (or, for tokens, is not the caller's).
	ErrNotFound = errors.New("identity: not found")
	// ErrConflict: a unique name or email is already taken.
	ErrConflict = errors.New("identity: conflict")
	// ErrInvalid: the input failed validation; a *FieldError in the chain
	// names the field.
	ErrInvalid = errors.New("identity: invalid input")
	// ErrInvalidCredentials: sign-in failed. Deliberately says nothing
	// about whether the email exists, the password was wrong, the account
	// is disabled or has no password.
	ErrInvalidCredentials = errors.New("identity: invalid credentials")
	// ErrThrottled: too many recent failed sign-ins for this email or
	// address; try again later.
	ErrThrottled = errors.New("identity: too many failed sign-ins")
	// ErrUnauthenticated: the session secret or API token is malformed,
	// unknown, expired or revoked, or its user is disabled.
	ErrUnauthenticated = errors.New("identity: unauthenticated")
	// ErrForbidden: the caller is who they say but may not do this, e.g.
	// mint a token with a scope their own credential or role lacks. The
	// wrapping error says why in words fit for the caller.
	ErrForbidden = errors.New("identity: forbidden")
	// ErrEmailNotVerified: single sign-on offered an identity whose email
	// belongs to an existing account, but the provider has not verified
	// the email, so the identity is not linked to that account.
	ErrEmailNotVerified = errors.New("identity: email not verified by the identity provider")
)

// FieldError says which input field failed validation and why. It matches
// ErrInvalid under errors.Is, and its fields are safe to show to the user.
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

// Is makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// ForbiddenError says why the caller may not do something, in words fit
// for them. It matches ErrForbidden under errors.Is.
type ForbiddenError struct{ Detail string }

func (e *ForbiddenError) Error() string { return "forbidden: " + e.Detail }

// Is makes errors.Is(err, ErrForbidden) true for every ForbiddenError.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

func forbidden(format string, args ...any) error {
	return &ForbiddenError{Detail: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Service is the identity store. It is safe for concurrent use; set
// Throttle before the first Authenticate and leave it alone afterwards.
type Service struct {
	pool *pgxpool.Pool
	// Throttle limits failed sign-ins; New sets DefaultThrottle.
	Throttle Throttle
	// passwordChecks counts argon2 verifications in Authenticate.
	passwordChecks atomic.Int64
}

// New returns a Service over pool (store.Store.Pool()). The schema must
// already be migrated.
func New(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, Throttle: DefaultThrottle()}
}

// PostgreSQL error codes this package maps to its own errors.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// pgCode returns the SQLSTATE of err, or "" when it is not a server error.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

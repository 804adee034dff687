package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Throttle limits password guessing. Every sign-in attempt is counted
// before its password is looked at: it is written to login_failures as a
// failure, and only a successful check takes its own row out again. An
// attempt is refused with ErrThrottled, without hashing anything and
// without being recorded, while its account already has PerEmail or more
// attempts, or its address PerIP or more, within the last Window.
//
// Attempts for one account, and for one address, are admitted one at a
// time (advisory locks held while counting and recording), so N parallel
// guesses are N attempts and at most PerEmail of them are checked.
//
// The account limit is per account only: locking one account does not
// affect others from the same address. The address limit is higher, so
// that one locked account never locks out everyone behind a shared proxy
// or NAT; it bounds guessing spread over many accounts. A success takes
// back only its own attempt and does not reset the count, so guesses made
// around a successful sign-in still count, and refused attempts are not
// recorded, so a lock lifts Window after the failures that set it.
type Throttle struct {
	Window   time.Duration
	PerEmail int
	PerIP    int
}

// DefaultThrottle allows 5 failures per account and 50 per address in 15
// minutes.
func DefaultThrottle() Throttle {
	return Throttle{Window: 15 * time.Minute, PerEmail: 5, PerIP: 50}
}

// Advisory lock classes (the first key of the two-int form, a key space of
// its own) that serialize admission per account and per address.
const (
	lockClassLoginAccount = 0x5f1d_0001
	lockClassLoginAddress = 0x5f1d_0002
)

// admit counts a sign-in attempt for email (normalized) from ip before its
// password is checked: it returns the id of the attempt's row, or
// ErrThrottled when the account or the address is over its limit (nothing
// recorded then). An empty ip is not counted per address, since it would
// lump unrelated callers together.
//
// Locks are always taken account first, then address, so two admissions
// never wait on each other in a cycle.
func (s *Service) admit(ctx context.Context, email, ip string) (int64, error) {
	th := s.Throttle
	var attempt int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockClassLoginAccount, email); err != nil {
			return err
		}
		if ip != "" {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockClassLoginAddress, ip); err != nil {
				return err
			}
		}
		// Under the locks, this statement's snapshot holds every attempt
		// admitted before this one for the account and the address.
		return tx.QueryRow(ctx, `
			INSERT INTO login_failures (email, ip)
			SELECT $1, $2
			WHERE (SELECT count(*) FROM login_failures
			       WHERE lower(email) = $1 AND at > clock_timestamp() - $3 * interval '1 microsecond') < $4
			  AND ($2 = '' OR (SELECT count(*) FROM login_failures
			       WHERE ip = $2 AND at > clock_timestamp() - $3 * interval '1 microsecond') < $5)
			RETURNING id`,
			email, ip, th.Window.Microseconds(), th.PerEmail, th.PerIP).Scan(&attempt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrThrottled
	}
	if err != nil {
		return 0, fmt.Errorf("identity: throttle: %w", err)
	}
	return attempt, nil
}

// forgive takes back the attempt of a successful sign-in, so successes
// never count towards a limit.
func (s *Service) forgive(ctx context.Context, attempt int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE id = $1`, attempt); err != nil {
		return fmt.Errorf("identity: throttle: forgive attempt: %w", err)
	}
	return nil
}

// PruneLoginFailures deletes failures older than the throttle window, which
// no longer count; run it periodically. It returns how many it deleted.
func (s *Service) PruneLoginFailures(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE at < now() - $1 * interval '1 microsecond'`, s.Throttle.Window.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("identity: prune login failures: %w", err)
	}
	return tag.RowsAffected(), nil
}

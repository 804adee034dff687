package identity

import (
	"context"
	"fmt"
	"time"
)

// Throttle limits password guessing. Every failed sign-in is recorded in
// login_failures; an attempt is refused with ErrThrottled, before the
// password is looked at, while its email has PerEmail or more failures, or
// its address PerIP or more, within the last Window. Refused attempts are
// not recorded, so the lock lifts Window after the failures that set it,
// and a success does not reset the count.
type Throttle struct {
	Window   time.Duration
	PerEmail int
	PerIP    int
}

// DefaultThrottle allows 5 failures per email and 20 per address in 15
// minutes.
func DefaultThrottle() Throttle {
	return Throttle{Window: 15 * time.Minute, PerEmail: 5, PerIP: 20}
}

// throttled reports whether sign-ins for email (normalized) from ip are
// currently refused. An empty ip is not counted per address, since it would
// lump unrelated callers together.
func (s *Service) throttled(ctx context.Context, email, ip string) (bool, error) {
	th := s.Throttle
	var byEmail, byIP int
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM login_failures WHERE lower(email) = $1 AND at > now() - $3 * interval '1 microsecond'),
		       (SELECT count(*) FROM login_failures WHERE $2 <> '' AND ip = $2 AND at > now() - $3 * interval '1 microsecond')`,
		email, ip, th.Window.Microseconds()).Scan(&byEmail, &byIP)
	if err != nil {
		return false, fmt.Errorf("identity: throttle: %w", err)
	}
	return byEmail >= th.PerEmail || (ip != "" && byIP >= th.PerIP), nil
}

// recordFailure notes a failed sign-in for throttling.
func (s *Service) recordFailure(ctx context.Context, email, ip string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO login_failures (email, ip) VALUES ($1, $2)`, email, ip); err != nil {
		return fmt.Errorf("identity: record login failure: %w", err)
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

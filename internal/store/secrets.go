package store

import (
	"context"
	"crypto/rand"
	"fmt"
)

// SharedSecret returns the random 32-byte secret kept under name, created
// by the first process that asks, so every worker, intake and API process
// uses the same one without configuration.
func (s *Store) SharedSecret(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("store: secret %q: %w", name, err)
	}
	// Two statements: when another process inserts at the same moment,
	// this one's INSERT waits for it and does nothing, and the SELECT (a
	// new snapshot) reads the winner's secret.
	if _, err := s.pool.Exec(ctx, `INSERT INTO shared_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, fresh); err != nil {
		return nil, fmt.Errorf("store: secret %q: %w", name, err)
	}
	var secret []byte
	if err := s.pool.QueryRow(ctx, `SELECT secret FROM shared_secrets WHERE name = $1`, name).Scan(&secret); err != nil {
		return nil, fmt.Errorf("store: secret %q: %w", name, err)
	}
	return secret, nil
}

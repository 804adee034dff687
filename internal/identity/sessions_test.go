package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	before := time.Now()
	secret, expires, err := svc.CreateSession(ctx, u.ID, "192.0.2.5", "test-agent/1.0", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 {
		t.Errorf("secret %q is not 32 bytes in base64url", secret)
	}
	if d := expires.Sub(before); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Errorf("expires in %v, want about 2h", d)
	}
	var stored []byte
	if err := testPool.QueryRow(ctx, `SELECT token_hash FROM sessions WHERE user_id = $1`, u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256([]byte(secret)); !bytes.Equal(stored, h[:]) {
		t.Error("the database does not hold SHA-256 of the secret")
	}

	p, err := svc.SessionPrincipal(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != u || p.Via != ViaSession || !p.HasScope(ScopeAdmin) {
		t.Fatalf("principal %+v", p)
	}

	tampered := []byte(secret)
	tampered[10] ^= 1
	_, err = svc.SessionPrincipal(ctx, string(tampered))
	wantErr(t, err, ErrUnauthenticated)
	for _, bad := range []string{"", "short", secret + "x", secret[:42] + "="} {
		_, err = svc.SessionPrincipal(ctx, bad)
		wantErr(t, err, ErrUnauthenticated)
	}

	// A disabled user's session stops working, and works again on re-enabling.
	if err := svc.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = svc.SessionPrincipal(ctx, secret)
	wantErr(t, err, ErrUnauthenticated)
	_, _, err = svc.CreateSession(ctx, u.ID, "", "", time.Hour)
	wantErr(t, err, ErrNotFound)
	if err := svc.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SessionPrincipal(ctx, secret); err != nil {
		t.Fatalf("re-enabled: %v", err)
	}

	// Sign-out.
	if err := svc.RevokeSession(ctx, secret); err != nil {
		t.Fatal(err)
	}
	_, err = svc.SessionPrincipal(ctx, secret)
	wantErr(t, err, ErrUnauthenticated)
	if err := svc.RevokeSession(ctx, secret); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := svc.RevokeSession(ctx, "garbage"); err != nil {
		t.Errorf("revoking garbage: %v", err)
	}

	_, _, err = svc.CreateSession(ctx, u.ID, "", "", 0)
	wantField(t, err, "ttl")
	_, _, err = svc.CreateSession(ctx, -1, "", "", time.Hour)
	wantErr(t, err, ErrNotFound)
}

func TestSessionExpires(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleRequester, nil)
	secret, _, err := svc.CreateSession(ctx, u.ID, "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, u.ID)
	_, err = svc.SessionPrincipal(ctx, secret)
	wantErr(t, err, ErrUnauthenticated)
	if n, err := svc.PruneSessions(ctx, 0); err != nil || n < 1 {
		t.Fatalf("PruneSessions = %d, %v", n, err)
	}
}

func TestRevokeUserSessions(t *testing.T) {
	ctx := context.Background()
	u, other := newUser(t, RoleAgent, nil), newUser(t, RoleAgent, nil)
	var mine []string
	for range 2 {
		s, _, err := svc.CreateSession(ctx, u.ID, "", "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, s)
	}
	theirs, _, err := svc.CreateSession(ctx, other.ID, "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeUserSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range mine {
		_, err := svc.SessionPrincipal(ctx, s)
		wantErr(t, err, ErrUnauthenticated)
	}
	if _, err := svc.SessionPrincipal(ctx, theirs); err != nil {
		t.Fatalf("another user's session: %v", err)
	}
}

func TestSessionLastSeen(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	secret, _, err := svc.CreateSession(ctx, u.ID, "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Duration {
		t.Helper()
		var ago time.Duration
		if err := testPool.QueryRow(ctx, `SELECT (extract(epoch FROM now() - last_seen_at) * 1e9)::bigint FROM sessions WHERE user_id = $1`, u.ID).Scan(&ago); err != nil {
			t.Fatal(err)
		}
		return ago
	}
	// Seen 30 s ago: not rewritten on every request.
	mustExec(t, `UPDATE sessions SET last_seen_at = now() - interval '30 seconds' WHERE user_id = $1`, u.ID)
	if _, err := svc.SessionPrincipal(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if ago := lastSeen(); ago < 29*time.Second {
		t.Errorf("last seen %v ago, want it left at 30s", ago)
	}
	// Seen 2 min ago: refreshed.
	mustExec(t, `UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE user_id = $1`, u.ID)
	if _, err := svc.SessionPrincipal(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if ago := lastSeen(); ago > 10*time.Second {
		t.Errorf("last seen %v ago, want just now", ago)
	}
}

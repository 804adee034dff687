package identity

import (
	"context"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/pgbus"
)

// A user picks a zone, it is kept as named, and null goes back to the
// default; names that are not zones, or that depend on the machine, are
// refused naming time_zone and change nothing.
func TestSetTimeZone(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	if u.TimeZone != nil {
		t.Fatalf("a new user has time zone %q, want the default (nil)", *u.TimeZone)
	}
	berlin := "Europe/Berlin"
	if err := svc.SetTimeZone(ctx, u.ID, &berlin); err != nil {
		t.Fatal(err)
	}
	got, err := svc.UserByID(ctx, u.ID)
	if err != nil || got.TimeZone == nil || *got.TimeZone != berlin {
		t.Fatalf("after setting %s: %+v, %v", berlin, got.TimeZone, err)
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus_Mons", "europe/berlin ", strings.Repeat("A", 65), "../../etc/passwd"} {
		err := svc.SetTimeZone(ctx, u.ID, &bad)
		wantField(t, err, "time_zone")
	}
	if got, _ := svc.UserByID(ctx, u.ID); got.TimeZone == nil || *got.TimeZone != berlin {
		t.Fatalf("a refused zone changed the user's: %v", got.TimeZone)
	}
	if err := svc.SetTimeZone(ctx, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.UserByID(ctx, u.ID); got.TimeZone != nil {
		t.Fatalf("after the reset: %q, want the default (nil)", *got.TimeZone)
	}
	wantErr(t, svc.SetTimeZone(ctx, 1<<60, &berlin), ErrNotFound)
}

// The zone travels with the principal, and a change made through one
// process reaches the credentials another process has cached.
func TestTimeZoneChangeReachesEveryProcess(t *testing.T) {
	ctx := context.Background()
	b := newProcess(t, PrincipalCacheOptions{}, pgbus.Options{})
	u := newUser(t, RoleAgent, nil)
	tok, _ := mustToken(t, u.ID)
	session := mustSession(t, u.ID)
	if p, err := b.cache.TokenPrincipal(ctx, tok); err != nil || p.User.TimeZone != nil {
		t.Fatalf("before: %+v, %v", p.User, err)
	}
	if _, err := b.cache.SessionPrincipal(ctx, session); err != nil {
		t.Fatal(err)
	}
	tokyo := "Asia/Tokyo"
	if err := svc.SetTimeZone(ctx, u.ID, &tokyo); err != nil {
		t.Fatal(err)
	}
	hasZone := func(p Principal, err error) bool {
		return err == nil && p.User.TimeZone != nil && *p.User.TimeZone == tokyo
	}
	waitFor(t, "the new zone on the cached token", func() bool { return hasZone(b.cache.TokenPrincipal(ctx, tok)) })
	waitFor(t, "the new zone on the cached session", func() bool { return hasZone(b.cache.SessionPrincipal(ctx, session)) })
	if err := svc.SetTimeZone(ctx, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reset on the cached token", func() bool {
		p, err := b.cache.TokenPrincipal(ctx, tok)
		return err == nil && p.User.TimeZone == nil
	})
}

package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestHashPassword(t *testing.T) {
	h1, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=32768,t=2,p=2$") {
		t.Errorf("hash %q is not the documented PHC format", h1)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: no random salt")
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{testPassword, true}, {"correct horse batterY", false}, {"", false}} {
		if ok, err := VerifyPassword(h1, tc.password); err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.password, ok, err, tc.want)
		}
	}
}

// Hashes made with other parameters (older or newer settings) still verify.
func TestVerifyPasswordOtherParameters(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("hunter22"), salt, 1, 8*1024, 1, 24)
	hash := fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if ok, err := VerifyPassword(hash, "hunter22"); err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(hash, "hunter23"); err != nil || ok {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for name, hash := range map[string]string{
		"empty":           "",
		"bcrypt":          "$2a$10$abcdefghijklmnopqrstuuN6nH0vW4x9f2l0sQ7E1sYJ5zq5n6YqK",
		"argon2i":         with(1, "argon2i"),
		"version 16":      with(2, "v=16"),
		"huge memory":     with(3, "m=4194304,t=2,p=2"),
		"many passes":     with(3, "m=32768,t=1000,p=2"),
		"zero lanes":      with(3, "m=32768,t=2,p=0"),
		"salt not base64": with(4, "!!!"),
		"short hash":      with(5, "AAAA"),
	} {
		if ok, err := VerifyPassword(hash, testPassword); err == nil || ok {
			t.Errorf("%s: VerifyPassword = %v, %v; want an error", name, ok, err)
		}
	}
}

// Failed sign-ins for unknown emails verify against dummyHash; it must cost
// what a real user's hash costs, or timing reveals which emails exist.
func TestDummyHashUsesCurrentParameters(t *testing.T) {
	dummy, err := dummyHash()
	if err != nil {
		t.Fatal(err)
	}
	real, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	params := func(h string) string { return strings.Join(strings.Split(h, "$")[:4], "$") }
	if params(dummy) != params(real) {
		t.Fatalf("dummy hash parameters %q, real %q", params(dummy), params(real))
	}
}

func countFailures(t *testing.T, email string) int {
	t.Helper()
	var n int
	if err := testPool.QueryRow(context.Background(), `SELECT count(*) FROM login_failures WHERE lower(email) = $1`, email).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	const ip = "192.0.2.1"
	u := newUser(t, RoleAgent, nil)

	got, err := svc.Authenticate(ctx, " "+strings.ToUpper(u.Email), testPassword, ip)
	if err != nil || got != u {
		t.Fatalf("Authenticate = %+v, %v; want %+v", got, err, u)
	}
	_, err = svc.Authenticate(ctx, u.Email, testPassword+"!", ip)
	wantErr(t, err, ErrInvalidCredentials)
	unknown := newEmail()
	_, err = svc.Authenticate(ctx, unknown, testPassword, ip)
	wantErr(t, err, ErrInvalidCredentials)
	if n := countFailures(t, u.Email); n != 1 {
		t.Errorf("%d failures recorded for the wrong password, want 1", n)
	}
	if n := countFailures(t, unknown); n != 1 {
		t.Errorf("%d failures recorded for the unknown email, want 1", n)
	}

	if err := svc.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Authenticate(ctx, u.Email, testPassword, ip)
	wantErr(t, err, ErrInvalidCredentials)
	if err := svc.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}

	if err := svc.SetPassword(ctx, u.ID, "a new passphrase"); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Authenticate(ctx, u.Email, testPassword, ip)
	wantErr(t, err, ErrInvalidCredentials)
	if _, err := svc.Authenticate(ctx, u.Email, "a new passphrase", ip); err != nil {
		t.Fatalf("after SetPassword: %v", err)
	}
	wantField(t, svc.SetPassword(ctx, u.ID, "short"), "password")
	wantErr(t, svc.SetPassword(ctx, -1, "long enough"), ErrNotFound)
}

func TestAuthenticateThrottledByEmail(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleRequester, nil)
	// Four failures from different addresses: the right password still works.
	for i := range 4 {
		_, err := svc.Authenticate(ctx, u.Email, "wrong password", fmt.Sprintf("198.51.100.%d", i))
		wantErr(t, err, ErrInvalidCredentials)
	}
	if _, err := svc.Authenticate(ctx, u.Email, testPassword, "198.51.100.9"); err != nil {
		t.Fatalf("after 4 failures: %v", err)
	}
	// The fifth locks the account, even for the right password from a new
	// address; the success in between did not reset the count.
	_, err := svc.Authenticate(ctx, u.Email, "wrong password", "198.51.100.5")
	wantErr(t, err, ErrInvalidCredentials)
	_, err = svc.Authenticate(ctx, strings.ToUpper(u.Email), testPassword, "198.51.100.10")
	wantErr(t, err, ErrThrottled)
	if n := countFailures(t, u.Email); n != 5 {
		t.Errorf("%d failures recorded, want 5 (throttled attempts are not recorded)", n)
	}
	// Other accounts from the same address are unaffected.
	other := newUser(t, RoleRequester, nil)
	if _, err := svc.Authenticate(ctx, other.Email, testPassword, "198.51.100.5"); err != nil {
		t.Fatalf("other account: %v", err)
	}
	// Once the failures are older than the window, sign-in works again.
	mustExec(t, `UPDATE login_failures SET at = now() - interval '16 minutes' WHERE lower(email) = $1`, u.Email)
	if _, err := svc.Authenticate(ctx, u.Email, testPassword, "198.51.100.10"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Pruning removes exactly those old failures.
	if n, err := svc.PruneLoginFailures(ctx); err != nil || n < 5 {
		t.Fatalf("PruneLoginFailures = %d, %v", n, err)
	}
	if n := countFailures(t, u.Email); n != 0 {
		t.Errorf("%d failures left after pruning", n)
	}
}

func TestAuthenticateThrottledByIP(t *testing.T) {
	ctx := context.Background()
	const ip = "203.0.113.7"
	u := newUser(t, RoleRequester, nil)
	// PerIP-1 failures for as many different emails from one address.
	for range svc.Throttle.PerIP - 1 {
		mustExec(t, `INSERT INTO login_failures (email, ip) VALUES ($1, $2)`, newEmail(), ip)
	}
	if _, err := svc.Authenticate(ctx, u.Email, testPassword, ip); err != nil {
		t.Fatalf("after PerIP-1 failures: %v", err)
	}
	_, err := svc.Authenticate(ctx, newEmail(), testPassword, ip)
	wantErr(t, err, ErrInvalidCredentials)
	_, err = svc.Authenticate(ctx, u.Email, testPassword, ip)
	wantErr(t, err, ErrThrottled)
	if _, err := svc.Authenticate(ctx, u.Email, testPassword, "203.0.113.8"); err != nil {
		t.Fatalf("from another address: %v", err)
	}

	// Limits are configurable.
	lenient := New(testPool)
	lenient.Throttle.PerIP = svc.Throttle.PerIP + 1
	if _, err := lenient.Authenticate(ctx, u.Email, testPassword, ip); err != nil {
		t.Fatalf("with a higher PerIP: %v", err)
	}
}

// The attack: 30 parallel wrong passwords for one account were all checked
// because each was counted only after its hash. Counted first, at most
// PerEmail are checked, the rest are refused unhashed, and the lockout is
// the account's alone. The guesses come from different addresses, as from
// a botnet, so only the per-account count stands between them.
func TestParallelGuessesAreCountedBeforeChecking(t *testing.T) {
	ctx := context.Background()
	s := New(testPool)
	victim, bystander := newUser(t, RoleAgent, nil), newUser(t, RoleAgent, nil)
	const guesses = 30
	errs := make(chan error, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			_, err := s.Authenticate(ctx, victim.Email, fmt.Sprintf("guess %d", i), fmt.Sprintf("198.51.100.%d", 100+i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	invalid, throttled := 0, 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			invalid++
		case errors.Is(err, ErrThrottled):
			throttled++
		default:
			t.Errorf("guess answered %v", err)
		}
	}
	if checks := s.PasswordChecks(); checks > int64(s.Throttle.PerEmail) || invalid != int(checks) || invalid+throttled != guesses {
		t.Errorf("%d guesses: %d passwords checked, %d refused as wrong, %d throttled; want at most %d checked",
			guesses, checks, invalid, throttled, s.Throttle.PerEmail)
	}
	if n := countFailures(t, victim.Email); n > s.Throttle.PerEmail {
		t.Errorf("%d failures recorded, want at most %d", n, s.Throttle.PerEmail)
	}
	// The right password is refused too now, unhashed.
	before := s.PasswordChecks()
	_, err := s.Authenticate(ctx, victim.Email, testPassword, "198.51.100.78")
	wantErr(t, err, ErrThrottled)
	if s.PasswordChecks() != before {
		t.Error("a throttled attempt was hashed")
	}
	// Someone else behind an attacking address still signs in.
	if _, err := s.Authenticate(ctx, bystander.Email, testPassword, "198.51.100.100"); err != nil {
		t.Fatalf("another account from the same address: %v", err)
	}
}

// A successful sign-in takes back only its own attempt: it leaves no row
// and does not forgive the failures before it.
func TestSuccessForgivesOnlyItself(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	_, err := svc.Authenticate(ctx, u.Email, "wrong password", "192.0.2.50")
	wantErr(t, err, ErrInvalidCredentials)
	for range 3 {
		if _, err := svc.Authenticate(ctx, u.Email, testPassword, "192.0.2.50"); err != nil {
			t.Fatal(err)
		}
	}
	if n := countFailures(t, u.Email); n != 1 {
		t.Errorf("%d attempts on record after 1 failure and 3 successes, want 1", n)
	}
	// Oversized input is refused without a hash or a row.
	before := svc.PasswordChecks()
	_, err = svc.Authenticate(ctx, u.Email, strings.Repeat("p", maxPasswordLen+1), "192.0.2.50")
	wantErr(t, err, ErrInvalidCredentials)
	_, err = svc.Authenticate(ctx, strings.Repeat("e", maxEmailLen)+"@example.test", testPassword, "192.0.2.50")
	wantErr(t, err, ErrInvalidCredentials)
	if svc.PasswordChecks() != before || countFailures(t, u.Email) != 1 {
		t.Error("oversized input was hashed or recorded")
	}
}

package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes. Existing hashes keep the parameters
// recorded in them, so these can be raised without invalidating passwords.
//
// 32 MiB, 2 passes, 2 lanes hash in 30-40 ms on the 2-core reference
// machine (BenchmarkVerifyPassword), above OWASP's minimum (19 MiB, t=2,
// p=1). 64 MiB with t=2 took about 80 ms there, too slow for a sign-in path
// that also has to absorb guessing; t=1 resists time-memory trade-offs less
// for the same time.
const (
	argonMemoryKiB = 32 * 1024
	argonTime      = 2
	argonThreads   = 2
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on parameters read back from stored hashes, so that a corrupt or
// planted hash cannot make one verification take gigabytes or minutes.
const (
	maxArgonMemoryKiB = 1024 * 1024
	maxArgonTime      = 16
)

// hashSlots bounds concurrent hashing. Each hash holds argonMemoryKiB of
// memory and keeps a core busy, so more hashes at once than cores only add
// memory; a burst of sign-ins queues here instead.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func argonKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// HashPassword hashes password with argon2id and a random salt into a PHC
// string: $argon2id$v=19$m=32768,t=2,p=2$<salt>$<hash> (unpadded standard
// base64). Callers validate the password's length first.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("identity: hash password: %w", err)
	}
	key := argonKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, a PHC string made by
// HashPassword (with these or other argon2id parameters). A malformed hash
// is an error, not a mismatch.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errors.New("identity: verify password: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("identity: verify password: unsupported argon2 version %q", parts[2])
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return false, fmt.Errorf("identity: verify password: parameters %q: %w", parts[3], err)
	}
	if memory == 0 || memory > maxArgonMemoryKiB || time == 0 || time > maxArgonTime || threads == 0 || memory < 8*uint32(threads) {
		return false, fmt.Errorf("identity: verify password: parameters %q out of range", parts[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errors.New("identity: verify password: bad salt")
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errors.New("identity: verify password: bad hash")
	}
	got := argonKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when there is no real hash to check (unknown
// email, SSO-only or disabled account), so that a failed sign-in costs the
// same whichever way it failed and its timing does not reveal which emails
// have accounts.
var dummyHash = sync.OnceValues(func() (string, error) {
	return HashPassword("not anyone's password")
})

// Authenticate signs in with email and password from address ip. Every kind
// of failure — unknown email, wrong password, disabled account, account
// without a password (SSO only) — is ErrInvalidCredentials and costs one
// argon2 verification. Each attempt is counted before the password is
// checked (see Throttle); while the email or ip is over its limit it
// returns ErrThrottled without checking the password. An email or password
// longer than any account can have is refused at once, unhashed and
// uncounted.
func (s *Service) Authenticate(ctx context.Context, email, password, ip string) (User, error) {
	email = normalizeEmail(email)
	if len(email) > maxEmailLen || len(password) > maxPasswordLen {
		return User{}, fmt.Errorf("identity: authenticate: oversized input: %w", ErrInvalidCredentials)
	}
	attempt, err := s.admit(ctx, email, ip)
	if err != nil {
		return User{}, fmt.Errorf("identity: authenticate: %w", err)
	}

	var hash *string
	row := s.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = $1`, email)
	u, err := scanUser(row, &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("identity: authenticate: %w", err)
	}
	known := err == nil && hash != nil
	check := ""
	if known {
		check = *hash
	} else if check, err = dummyHash(); err != nil {
		return User{}, fmt.Errorf("identity: authenticate: %w", err)
	}
	s.passwordChecks.Add(1)
	ok, err := VerifyPassword(check, password)
	if err != nil {
		return User{}, fmt.Errorf("identity: authenticate user %d: %w", u.ID, err)
	}
	if !known || !ok || u.Disabled {
		// The attempt's row stays: it is the recorded failure.
		return User{}, fmt.Errorf("identity: authenticate: %w", ErrInvalidCredentials)
	}
	if err := s.forgive(ctx, attempt); err != nil {
		return User{}, fmt.Errorf("identity: authenticate: %w", err)
	}
	return u, nil
}

// PasswordChecks is how many passwords this Service has verified in
// Authenticate (argon2 verifications, the cost of a sign-in attempt).
func (s *Service) PasswordChecks() int64 { return s.passwordChecks.Load() }

package identity

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc/pgtest"
	"github.com/helpdesk/helpdesk/internal/store"
)

// The tests share one private PostgreSQL with the migrated schema; each test
// makes its own users (unique emails) so they do not see each other's rows.
var (
	testPool *pgxpool.Pool
	svc      *Service
	testURL  string // the database, for tests that need a second process's worth of connections
)

func TestMain(m *testing.M) {
	pgtest.Main(m, "identity", func(ctx context.Context, pg *localsvc.Postgres) (func(), error) {
		if _, _, err := store.Migrate(ctx, pg.URL()); err != nil {
			return nil, err
		}
		testURL = pg.URL()
		var err error
		testPool, err = pgxpool.New(ctx, testURL)
		if err != nil {
			return nil, err
		}
		svc = New(testPool)
		return testPool.Close, nil
	})
}

const testPassword = "correct horse battery"

var userSeq atomic.Int64

// newEmail returns an address no other test uses.
func newEmail() string {
	return fmt.Sprintf("user%d@example.test", userSeq.Add(1))
}

// newUser creates a user with role and testPassword.
func newUser(t testing.TB, role Role, org *int64) User {
	t.Helper()
	u, err := svc.CreateUser(context.Background(), NewUser{Email: newEmail(), Name: "Test " + string(role), Role: role, Password: testPassword, OrganizationID: org})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mustExec runs setup SQL.
func mustExec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := testPool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// wantField fails unless err is a FieldError about field.
func wantField(t testing.TB, err error, field string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error = %v, want invalid %s", err, field)
	}
}

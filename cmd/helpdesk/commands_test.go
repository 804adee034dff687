package main

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/store"
)

// runHelpdesk runs `helpdesk args…` as its own process and returns its
// exit code and output.
func runHelpdesk(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{"HELPDESK_CONFIG="}, append(env, "HELPDESK_TEST_AS_MAIN=1")...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("helpdesk %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// `helpdesk audit verify` exits 0 on an intact log, and 1 naming the first
// row someone edited as the database superuser (the app role cannot).
func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	port, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{DataDir: filepath.Join(t.TempDir(), "pg"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	if _, _, err := store.Migrate(ctx, pg.URL()); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	log := audit.New(pool)
	var rows []audit.Entry
	for _, object := range []string{"ticket:1", "ticket:2", "ticket:3"} {
		e, err := log.Append(ctx, audit.Entry{Actor: "ann@example.com", Action: "ticket.read", Object: object, Result: audit.ResultAllowed})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, e)
	}
	env := []string{"HELPDESK_DATABASE_URL=" + pg.URL()}
	if code, out := runHelpdesk(t, env, "audit", "verify"); code != 0 || !strings.Contains(out, "audit log intact: 3 rows") {
		t.Fatalf("intact log: exit %d\n%s", code, out)
	}

	u, err := url.Parse(pg.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = mustParse(t, pg.URL()).Path
	su, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	if _, err := su.Exec(ctx, `UPDATE audit_log SET object = 'ticket:99' WHERE id = $1`, rows[1].ID); err != nil {
		t.Fatal(err)
	}
	code, out := runHelpdesk(t, env, "audit", "verify")
	want := "first bad row " + strconv.FormatInt(rows[1].ID, 10) + " (" + rows[1].At.Format("2006-01-02T15:04:05")
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("after editing row %d: exit %d, want 1 and %q in\n%s", rows[1].ID, code, want, out)
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// `helpdesk config check` exits 0 printing the values in effect, and 1
// naming the option of a bad file, which no other command would start with.
func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("audit_log_interval: 1\nstatus_transitions: {}\nsmtp_password: hunter2-hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("update_timeout: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runHelpdesk(t, nil, "config", "check", "-config", good)
	if code != 0 || !strings.Contains(out, "audit_log_interval: 1d") || strings.Contains(out, "hunter2") {
		t.Errorf("good file: exit %d\n%s", code, out)
	}
	// The global -config flag works too, and the file is what is judged.
	code, out = runHelpdesk(t, nil, "-config", bad, "config", "check")
	if code != 1 || !strings.Contains(out, "option update_timeout") || !strings.Contains(out, "10s") {
		t.Errorf("bad file: exit %d, want 1 naming update_timeout\n%s", code, out)
	}
	if code, out := runHelpdesk(t, nil, "-config", bad, "version"); code != 0 {
		t.Errorf("version with a bad file: exit %d\n%s", code, out)
	}
	if code, out := runHelpdesk(t, nil, "-config", bad, "migrate"); code != 1 || !strings.Contains(out, "option update_timeout") {
		t.Errorf("migrate with a bad file: exit %d, want 1 naming the option\n%s", code, out)
	}
}

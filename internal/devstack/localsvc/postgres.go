package localsvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PostgresOptions describe a private PostgreSQL cluster.
//
// Authentication: connections over loopback TCP are trusted for every role
// except the superuser "postgres", whose random password localsvc keeps in
// the data directory (see AdminURL). Connections from other addresses are
// rejected, and there is no Unix socket. The application role DBUser is not a
// superuser: it can log in and create databases (tests create their own), and
// it owns Database.
type PostgresOptions struct {
	// DataDir holds the cluster; initdb creates it when it has no cluster yet.
	// Required.
	DataDir string
	// Host is the address to listen on; default 127.0.0.1.
	Host string
	// Port to listen on; default 5433 (5432 is left to a system cluster).
	Port int
	// OSUser runs the server; default "postgres".
	OSUser string
	// Database is created, owned by DBUser, if missing; default "helpdesk".
	Database string
	// DBUser is the application's login role; default "helpdesk".
	DBUser string
	// LogFile receives the server's output; default DataDir/../postgres.log.
	LogFile string
	// BinDir holds postgres, initdb and psql; default the newest
	// /usr/lib/postgresql/*/bin.
	BinDir string
	// StartTimeout bounds the wait for readiness when ctx has no earlier
	// deadline; default 60 s.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits before killing; default 20 s.
	StopTimeout time.Duration
}

// Postgres is a running private PostgreSQL server.
type Postgres struct {
	opts     PostgresOptions
	srv      *server
	password string // of the superuser "postgres"
}

// superuserPasswordFile is kept in the data directory, readable by root and
// the postgres OS user only.
const superuserPasswordFile = "localsvc-superuser-password"

// StartPostgres starts the postgres server directly (not daemonized by
// pg_ctl) as a child process running as o.OSUser, creating the cluster, the
// role and the database when missing, and returns once DBUser can run
// SELECT 1. ctx bounds the startup only; the server runs until Stop.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	if o.DataDir == "" {
		return nil, errors.New("localsvc: postgres: DataDir is required")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("localsvc: postgres: %w", err)
	}
	o.DataDir = dataDir
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 5433
	}
	if o.OSUser == "" {
		o.OSUser = "postgres"
	}
	if o.Database == "" {
		o.Database = "helpdesk"
	}
	if o.DBUser == "" {
		o.DBUser = "helpdesk"
	}
	if o.LogFile == "" {
		o.LogFile = filepath.Join(filepath.Dir(o.DataDir), "postgres.log")
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if !validName(o.Database) || !validName(o.DBUser) {
		return nil, fmt.Errorf("localsvc: postgres: Database %q and DBUser %q must be plain identifiers ([A-Za-z_][A-Za-z0-9_]*)", o.Database, o.DBUser)
	}
	if o.BinDir == "" {
		if o.BinDir, err = findPostgresBin(); err != nil {
			return nil, err
		}
	}
	u, err := lookupOSUser("postgres", o.OSUser)
	if err != nil {
		return nil, err
	}
	if err := checkPortFree("postgres", o.Host, o.Port); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(o.DataDir), 0o755); err != nil {
		return nil, fmt.Errorf("localsvc: postgres: %w", err)
	}
	if err := grantSearch("postgres", u, filepath.Dir(o.DataDir)); err != nil {
		return nil, err
	}
	if err := ownDir("postgres", u, o.DataDir, 0o700); err != nil {
		return nil, err
	}
	p := &Postgres{opts: o}
	if _, err := os.Stat(filepath.Join(o.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := p.initdb(ctx, u); err != nil {
			return nil, err
		}
	}
	pw, err := os.ReadFile(filepath.Join(o.DataDir, superuserPasswordFile))
	if err != nil {
		return nil, fmt.Errorf("localsvc: postgres: %s was not created by localsvc (no superuser password file): %w", o.DataDir, err)
	}
	p.password = strings.TrimSpace(string(pw))
	if err := checkPostmasterPid(o.DataDir); err != nil {
		return nil, err
	}

	cmd := exec.Command(filepath.Join(o.BinDir, "postgres"),
		"-D", o.DataDir,
		"-c", "listen_addresses="+o.Host,
		"-c", "port="+strconv.Itoa(o.Port),
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "logging_collector=off",
		"-c", "log_destination=stderr",
	)
	cmd.Dir = o.DataDir
	cmd.Env = u.env()
	cmd.SysProcAttr = u.sysProcAttr()
	p.srv, err = startServer("postgres", cmd, o.LogFile)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := p.waitReady(ctx); err != nil {
		_ = p.srv.stop(syscall.SIGINT, 5*time.Second)
		return nil, err
	}
	return p, nil
}

// findPostgresBin picks the newest Debian PostgreSQL server installation.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[i])), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[j])), 64)
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("localsvc: postgres: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (run deploy/local/install.sh)")
}

// initdb creates the cluster with a random superuser password and an
// authentication setup for a loopback-only development server.
func (p *Postgres) initdb(ctx context.Context, u *osUser) error {
	o := p.opts
	entries, err := os.ReadDir(o.DataDir)
	if err != nil {
		return fmt.Errorf("localsvc: postgres: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("localsvc: postgres: %s is neither empty nor a PostgreSQL cluster", o.DataDir)
	}
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("localsvc: postgres: %w", err)
	}
	password := hex.EncodeToString(raw)
	// initdb reads the password from a file the postgres user can read; it
	// lives beside the data directory only while initdb runs.
	pwFile := o.DataDir + ".initdb-password"
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("localsvc: postgres: %w", err)
	}
	defer os.Remove(pwFile)
	if err := os.Chown(pwFile, int(u.Uid), int(u.Gid)); err != nil {
		return fmt.Errorf("localsvc: postgres: %w", err)
	}
	run := func(locale string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(o.BinDir, "initdb"),
			"-D", o.DataDir, "-U", "postgres", "--pwfile="+pwFile,
			"--encoding=UTF8", "--locale="+locale,
			"--auth-local=peer", "--auth-host=scram-sha-256")
		cmd.Dir = "/"
		cmd.Env = u.env()
		cmd.SysProcAttr = u.sysProcAttr()
		return cmd.CombinedOutput()
	}
	out, err := run("C.UTF-8")
	if err != nil {
		// Systems without the C.UTF-8 locale: fall back to plain C.
		_ = clearDir(o.DataDir)
		out, err = run("C")
	}
	if err != nil {
		_ = clearDir(o.DataDir)
		return fmt.Errorf("localsvc: postgres: initdb %s failed: %v\n%s", o.DataDir, err, out)
	}
	hba := `# Written by internal/devstack/localsvc for a private development cluster.
# The superuser needs its password (kept in ` + superuserPasswordFile + `);
# every other role is trusted on loopback. Nothing else may connect.
host all postgres 127.0.0.1/32 scram-sha-256
host all postgres ::1/128      scram-sha-256
host all all      127.0.0.1/32 trust
host all all      ::1/128      trust
`
	files := map[string]string{
		"pg_hba.conf":         hba,
		superuserPasswordFile: password + "\n",
	}
	for name, content := range files {
		path := filepath.Join(o.DataDir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("localsvc: postgres: %w", err)
		}
		if err := os.Chown(path, int(u.Uid), int(u.Gid)); err != nil {
			return fmt.Errorf("localsvc: postgres: %w", err)
		}
	}
	return nil
}

// clearDir empties dir, keeping dir itself.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// checkPostmasterPid refuses to start on a data directory that a live
// postmaster uses, and removes a postmaster.pid whose PID now belongs to an
// unrelated process (after a crash and PID reuse) or to an unreaped zombie,
// which postgres itself would mistake for a running server. A file naming a dead PID is left to
// postgres, which removes it.
func checkPostmasterPid(dataDir string) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return nil
	}
	// A postmaster killed with its parent is a zombie until init reaps it;
	// postgres would take that for a live server.
	for i := 0; i < 50 && procState(pid) == "Z"; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return nil // dead: postgres cleans up
	}
	if st := procState(pid); st != "Z" && st != "X" && strings.TrimSpace(string(comm)) == "postgres" {
		return fmt.Errorf("localsvc: postgres: %s is in use by a running postgres (pid %d)", dataDir, pid)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("localsvc: postgres: remove stale %s: %w", path, err)
	}
	return nil
}

// waitReady polls until the server accepts connections, then creates the
// role and database when missing and checks that DBUser can run SELECT 1.
func (p *Postgres) waitReady(ctx context.Context) error {
	var lastErr error
	for {
		if p.srv.exited() {
			return p.srv.failure("server exited during startup")
		}
		_, lastErr = p.psql(ctx, p.AdminURL(), "SELECT 1")
		if lastErr == nil {
			break
		}
		select {
		case <-ctx.Done():
			return p.srv.failure("not ready on port %d: %v (last attempt: %v)", p.opts.Port, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	setup := fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN
    CREATE ROLE "%[1]s" LOGIN CREATEDB;
  END IF;
END $$;
SELECT 'CREATE DATABASE "%[2]s" OWNER "%[1]s"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '%[2]s')\gexec
`, p.opts.DBUser, p.opts.Database)
	if _, err := p.psql(ctx, p.AdminURL(), setup); err != nil {
		return p.srv.failure("create role %s and database %s: %v", p.opts.DBUser, p.opts.Database, err)
	}
	out, err := p.psql(ctx, p.URL(), "SELECT 1")
	if err != nil || strings.TrimSpace(out) != "1" {
		return p.srv.failure("SELECT 1 as %s: %v %s", p.opts.DBUser, err, out)
	}
	return nil
}

// psql runs SQL (which may hold psql meta-commands) against connURL and
// returns its unaligned output.
func (p *Postgres) psql(ctx context.Context, connURL, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.opts.BinDir, "psql"),
		"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", connURL, "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	cmd.Dir = "/"
	env := []string{"PATH=" + childPath, "PGCONNECT_TIMEOUT=5", "LANG=C.UTF-8"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// URL is the application's connection URL: DBUser on Database, no password
// (trusted on loopback), no TLS.
func (p *Postgres) URL() string {
	return p.url(url.User(p.opts.DBUser), p.opts.Database)
}

// AdminURL connects as the superuser "postgres" (with its password) to the
// "postgres" database, for setup that the application role may not do, such
// as creating further roles.
func (p *Postgres) AdminURL() string {
	return p.url(url.UserPassword("postgres", p.password), "postgres")
}

// URLFor is URL with another database, e.g. one a test created.
func (p *Postgres) URLFor(database string) string {
	return p.url(url.User(p.opts.DBUser), database)
}

func (p *Postgres) url(user *url.Userinfo, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     user,
		Host:     net.JoinHostPort(p.opts.Host, strconv.Itoa(p.opts.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the server listens on.
func (p *Postgres) Port() int { return p.opts.Port }

// LogFile is where the server's output goes.
func (p *Postgres) LogFile() string { return p.opts.LogFile }

// Stop shuts the server down with a fast shutdown (SIGINT: open sessions are
// ended, committed data is kept) and waits for it; after StopTimeout it kills
// the whole process group. Stop is idempotent.
func (p *Postgres) Stop() error {
	return p.srv.stop(syscall.SIGINT, p.opts.StopTimeout)
}

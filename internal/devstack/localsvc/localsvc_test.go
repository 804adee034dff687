package localsvc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ports and directories shared by the phases of TestServices and the helper
// process it kills.
type instance struct {
	pgData, esData          string
	pgPort, esPort, esTport int
}

func (in instance) pgOptions() PostgresOptions {
	return PostgresOptions{DataDir: in.pgData, Port: in.pgPort}
}

func (in instance) esOptions() ElasticsearchOptions {
	return ElasticsearchOptions{DataDir: in.esData, Port: in.esPort, TransportPort: in.esTport}
}

// startBoth starts PostgreSQL and Elasticsearch side by side.
func startBoth(ctx context.Context, in instance) (*Postgres, *Elasticsearch, error) {
	var (
		wg           sync.WaitGroup
		pg           *Postgres
		es           *Elasticsearch
		pgErr, esErr error
	)
	wg.Add(2)
	go func() { defer wg.Done(); pg, pgErr = StartPostgres(ctx, in.pgOptions()) }()
	go func() { defer wg.Done(); es, esErr = StartElasticsearch(ctx, in.esOptions()) }()
	wg.Wait()
	if pgErr != nil || esErr != nil {
		if pg != nil {
			pg.Stop()
		}
		if es != nil {
			es.Stop()
		}
		return nil, nil, fmt.Errorf("postgres: %v\nelasticsearch: %v", pgErr, esErr)
	}
	return pg, es, nil
}

// TestServices runs both servers for real, from a data directory inside a
// 0700 directory: start, write, stop; start in a helper process that is then
// SIGKILLed, which must leave no server process behind; start again and read
// the data back (which also covers the stale postmaster.pid of the crash).
func TestServices(t *testing.T) {
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	in := instance{pgData: filepath.Join(private, "data", "postgres"), esData: filepath.Join(private, "data", "elasticsearch")}
	for _, p := range []*int{&in.pgPort, &in.esPort, &in.esTport} {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		*p = port
	}
	ctx := context.Background()

	// Phase 1: fresh start, write data, graceful stop.
	t0 := time.Now()
	pg, es, err := startBoth(ctx, in)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("fresh start of both took %s", time.Since(t0).Round(time.Millisecond))
	// The 0700 directory got ACL entries for the two users, not wider modes
	// (with an ACL, the group bits show the ACL mask).
	if fi, err := os.Stat(private); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("private dir opened to others: %v %v", fi.Mode(), err)
	}
	if acl, err := exec.Command("getfacl", "-cp", private).CombinedOutput(); err != nil ||
		!strings.Contains(string(acl), "user:postgres:--x") || !strings.Contains(string(acl), "user:helpdesk-es:--x") ||
		!strings.Contains(string(acl), "group::---") || !strings.Contains(string(acl), "other::---") {
		t.Errorf("ACL of %s: %v\n%s", private, err, acl)
	}
	if got := psql(t, pg, pg.URL(), "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1 = %q", got)
	}
	if got := psql(t, pg, pg.URL(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"); got != "f" {
		t.Errorf("app role must not be superuser, rolsuper = %q", got)
	}
	psql(t, pg, pg.URL(), "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')")
	psql(t, pg, pg.URL(), "CREATE DATABASE scratch") // tests may create databases
	if got := psql(t, pg, pg.URLFor("scratch"), "SELECT current_database()"); got != "scratch" {
		t.Errorf("scratch database: %q", got)
	}
	if v := esVersion(t, es); v != ESVersion {
		t.Errorf("elasticsearch version %q, want %q", v, ESVersion)
	}
	esDo(t, es, http.MethodPut, "/notes/_doc/1?refresh=true", `{"body":"kept"}`, http.StatusCreated)
	stopBoth(t, pg, es)
	if err := pg.Stop(); err != nil { // idempotent
		t.Errorf("second Stop: %v", err)
	}

	// Phase 2: a helper process starts both and is SIGKILLed.
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	helper.Env = append(os.Environ(), "LOCALSVC_HELPER="+strings.Join([]string{in.pgData, in.esData,
		strconv.Itoa(in.pgPort), strconv.Itoa(in.esPort), strconv.Itoa(in.esTport)}, ","))
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pgids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "HELPER READY "); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				pgids = append(pgids, n)
			}
			break
		}
		t.Logf("helper: %s", line)
	}
	if len(pgids) != 2 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper did not report its servers (got %v)", pgids)
	}
	go io.Copy(io.Discard, out)
	// Every process below the helper: postmaster and its children (each in
	// a session of its own), the ES launcher and server JVMs.
	servers := descendants(helper.Process.Pid)
	if len(servers) < 4 {
		t.Errorf("expected postgres and two JVMs below the helper, found %v", servers)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	t0 = time.Now()
	expectOrphansGone(t, pgids, servers)
	t.Logf("%d server processes gone %s after SIGKILL of their parent", len(servers), time.Since(t0).Round(time.Millisecond))

	// Phase 3: restart after the crash; the data is still there. Fresh
	// ports: the crashed servers' ports were free for a while, and other
	// test packages running in parallel pick free ports too.
	for _, p := range []*int{&in.pgPort, &in.esPort, &in.esTport} {
		if *p, err = FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	t0 = time.Now()
	pg, es, err = startBoth(ctx, in)
	if err != nil {
		t.Fatalf("restart after crash: %v", err)
	}
	t.Logf("restart of both took %s", time.Since(t0).Round(time.Millisecond))
	if got := psql(t, pg, pg.URL(), "SELECT body FROM notes"); got != "kept" {
		t.Errorf("notes after restart = %q", got)
	}
	if body := esDo(t, es, http.MethodGet, "/notes/_doc/1", "", http.StatusOK); !strings.Contains(body, `"kept"`) {
		t.Errorf("document after restart: %s", body)
	}

	// A taken port is named in the error.
	_, err = StartPostgres(ctx, PostgresOptions{DataDir: filepath.Join(private, "data", "other"), Port: in.pgPort})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(in.pgPort)) || !strings.HasPrefix(err.Error(), "localsvc: ") {
		t.Errorf("start on a taken port: %v", err)
	}
	stopBoth(t, pg, es)
}

// TestHelperProcess is the process TestServices kills; it does nothing in a
// normal run.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv("LOCALSVC_HELPER")
	if spec == "" {
		return
	}
	f := strings.Split(spec, ",")
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	in := instance{pgData: f[0], esData: f[1], pgPort: atoi(f[2]), esPort: atoi(f[3]), esTport: atoi(f[4])}
	pg, es, err := startBoth(context.Background(), in)
	if err != nil {
		t.Fatalf("helper start: %v", err)
	}
	fmt.Printf("HELPER READY %d %d\n", pg.srv.pgid, es.srv.pgid)
	time.Sleep(10 * time.Minute) // until killed
}

// TestInstallScriptVersion keeps install.sh and ESVersion in step.
func TestInstallScriptVersion(t *testing.T) {
	b, err := os.ReadFile("../../../deploy/local/install.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`ES_VERSION="\$\{ES_VERSION:-([^}]+)\}"`).FindSubmatch(b)
	if m == nil || string(m[1]) != ESVersion {
		t.Fatalf("install.sh ES_VERSION default %q, localsvc.ESVersion %q", m, ESVersion)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d from FreePort not bindable: %v", port, err)
	}
	l.Close()
}

func stopBoth(t *testing.T, pg *Postgres, es *Elasticsearch) {
	t.Helper()
	t0 := time.Now()
	if err := pg.Stop(); err != nil {
		t.Errorf("postgres stop: %v", err)
	}
	t1 := time.Now()
	if err := es.Stop(); err != nil {
		t.Errorf("elasticsearch stop: %v", err)
	}
	t.Logf("stop: postgres %s, elasticsearch %s", t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	for _, pgid := range []int{pg.srv.pgid, es.srv.pgid} {
		if groupAlive(pgid) {
			t.Errorf("process group %d still alive after Stop:\n%s", pgid, psGroup(pgid))
		}
	}
}

func groupGone(pgid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func psGroup(pgid int) string {
	out, _ := exec.Command("ps", "-o", "pid,ppid,pgid,user,stat,args", "-g", strconv.Itoa(pgid)).CombinedOutput()
	return string(out)
}

// psql runs SQL through the Debian psql client and returns its trimmed output.
func psql(t *testing.T, pg *Postgres, url, sql string) string {
	t.Helper()
	out, err := pg.psql(context.Background(), url, sql)
	if err != nil {
		t.Fatalf("psql %q: %v", sql, err)
	}
	return strings.TrimSpace(out)
}

// esVersion asks the node for its version. The integ-test-zip lacks the
// rest-root module that serves `GET /`, so the nodes info API answers.
func esVersion(t *testing.T, es *Elasticsearch) string {
	t.Helper()
	body := esDo(t, es, http.MethodGet, "/_nodes/_local?filter_path=nodes.*.version", "", http.StatusOK)
	var info struct {
		Nodes map[string]struct{ Version string } `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || len(info.Nodes) != 1 {
		t.Fatalf("nodes info %s: %v", body, err)
	}
	for _, n := range info.Nodes {
		return n.Version
	}
	return ""
}

func esDo(t *testing.T, es *Elasticsearch, method, path, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, es.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return string(b)
}

// expectOrphansGone fails the test for every server process group or
// process still alive a while after its parent was SIGKILLed (and kills it).
func expectOrphansGone(t *testing.T, pgids []int, servers []proc) {
	t.Helper()
	for _, pgid := range pgids {
		if !groupGone(pgid, 20*time.Second) {
			t.Errorf("process group %d outlived its SIGKILLed parent:\n%s", pgid, psGroup(pgid))
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	for _, p := range servers {
		for i := 0; i < 100 && p.alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if p.alive() {
			t.Errorf("process %d outlived its SIGKILLed parent", p.pid)
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// Package localsvc starts and stops private PostgreSQL and Elasticsearch
// servers as child processes of the calling program. `helpdesk dev` uses it to
// bring up a complete local stack, and integration tests use it from TestMain,
// so that nobody needs a shared database or search cluster to work on the
// product.
//
// The binaries come from deploy/local/install.sh (PostgreSQL from Debian,
// Elasticsearch's integ-test-zip from Maven Central). Both servers refuse to
// run as root, so each one runs as its own unprivileged OS user ("postgres",
// "helpdesk-es"). Each server is a direct child in its own process group with
// a parent-death signal: if the calling program dies, even by SIGKILL, the
// servers die with it and leave no orphans behind. Data directories persist
// across restarts.
package localsvc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits for a server to shut down
// gracefully before it kills the server's whole process group.
const DefaultStopTimeout = 20 * time.Second

// childPath is the PATH servers and their helper tools run with; they get a
// small explicit environment rather than the caller's.
const childPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// tests that run their servers beside a developer's ones.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localsvc: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkPortFree fails with a message naming the port when something already
// listens on host:port, which otherwise only shows up deep in a server log.
func checkPortFree(service, host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localsvc: %s: port %d on %s is already in use (or not bindable): %w", service, port, host, err)
	}
	return l.Close()
}

// osUser is the unprivileged account a server runs as.
type osUser struct {
	Name   string
	Uid    uint32
	Gid    uint32
	Groups []uint32
	Home   string
}

func lookupOSUser(service, name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("localsvc: %s: OS user %q not found (run deploy/local/install.sh): %w", service, name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("localsvc: %s: uid of %q: %w", service, name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("localsvc: %s: gid of %q: %w", service, name, err)
	}
	ou := &osUser{Name: name, Uid: uint32(uid), Gid: uint32(gid), Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			ou.Groups = append(ou.Groups, uint32(n))
		}
	}
	if uid == 0 {
		return nil, fmt.Errorf("localsvc: %s: OS user %q is root; the server refuses to run as root", service, name)
	}
	return ou, nil
}

func (u *osUser) credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.Uid, Gid: u.Gid, Groups: u.Groups}
}

// env is the environment for a process running as u.
func (u *osUser) env(extra ...string) []string {
	home := u.Home
	if home == "" {
		home = "/"
	}
	return append([]string{"PATH=" + childPath, "HOME=" + home, "USER=" + u.Name, "LOGNAME=" + u.Name, "LANG=C.UTF-8"}, extra...)
}

// sysProcAttr runs a child as u in a new process group that receives SIGKILL
// when its parent thread goes away.
func (u *osUser) sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: u.credential(), Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// mayAccess reports whether mode bits let u reach (want=1), write (2) or read
// (4) the entry described by fi. ACL entries are not read: a directory that an
// ACL already opens may be reported closed, which only causes a redundant,
// harmless setfacl.
func (u *osUser) mayAccess(fi os.FileInfo, want os.FileMode) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == u.Uid:
		return perm&(want<<6) != 0
	case u.inGroup(st.Gid):
		return perm&(want<<3) != 0
	default:
		return perm&want != 0
	}
}

func (u *osUser) inGroup(gid uint32) bool {
	if gid == u.Gid {
		return true
	}
	for _, g := range u.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// grantSearch lets u reach dir: every directory from / down to dir whose mode
// bits deny u search (x) permission gets a POSIX ACL entry u:NAME:x. This is
// what lets the servers use a data directory inside a 0700 home directory
// without opening that home directory to everyone.
func grantSearch(service string, u *osUser, dir string) error {
	// setfacl reads, edits and writes a directory's ACL: two services
	// granting on the same ancestor at once would lose one entry.
	aclMu.Lock()
	defer aclMu.Unlock()
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("localsvc: %s: %w", service, err)
	}
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		d := chain[i]
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("localsvc: %s: %w", service, err)
		}
		if u.mayAccess(fi, 1) {
			continue
		}
		out, err := exec.Command("setfacl", "-m", "u:"+u.Name+":x", d).CombinedOutput()
		if err != nil {
			return fmt.Errorf("localsvc: %s: user %s cannot reach %s and granting it with setfacl failed (is the acl package installed? run deploy/local/install.sh): %v: %s",
				service, u.Name, d, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

var aclMu sync.Mutex

// ownDir creates dir if needed and makes u own it and everything in it, so a
// server can keep its data there. Ownership is only walked when the top
// directory is not u's yet.
func ownDir(service string, u *osUser, dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("localsvc: %s: create %s: %w", service, dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localsvc: %s: %w", service, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == u.Uid && st.Gid == u.Gid {
		return nil
	}
	return chownTree(service, u, dir)
}

// chownTree makes u own dir and everything in it.
func chownTree(service string, u *osUser, dir string) error {
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.Uid), int(u.Gid))
	})
	if err != nil {
		return fmt.Errorf("localsvc: %s: give %s to user %s: %w", service, dir, u.Name, err)
	}
	return nil
}

// logTail returns the last lines of a server's log for error messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 4096
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	off := fi.Size() - max
	if off < 0 {
		off = 0
	}
	buf, _ := io.ReadAll(io.NewSectionReader(f, off, max))
	if off > 0 {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}

// server is a running server process: a direct child, leader of its own
// process group, logging stdout and stderr to logPath.
type server struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	pgid    int
	done    chan struct{} // closed once the leader has exited and was reaped
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// startServer starts cmd with stdout and stderr appended to logPath.
//
// The parent-death signal fires when the OS thread that forked the child
// exits, not only when the process does (go.dev/issue/27505), so the fork
// happens on a goroutine locked to its thread that stays until the child is
// gone.
func startServer(name string, cmd *exec.Cmd, logPath string) (*server, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("localsvc: %s: log directory: %w", name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localsvc: %s: open log: %w", name, err)
	}
	fmt.Fprintf(logf, "\n--- localsvc: starting %s at %s: %s\n", name, time.Now().Format(time.RFC3339), strings.Join(cmd.Args, " "))
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	s := &server{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The goroutine returns still locked, which ends the thread; by then
		// the child is gone.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	err = <-started
	logf.Close()
	if err != nil {
		return nil, fmt.Errorf("localsvc: %s: start %s: %w", name, cmd.Path, err)
	}
	s.pgid = cmd.Process.Pid
	return s, nil
}

// exited reports whether the leader process is gone.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// failure builds a start error that carries the tail of the server's log.
func (s *server) failure(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if s.exited() {
		msg += fmt.Sprintf(" (server exited: %v)", s.waitErr)
	}
	return fmt.Errorf("localsvc: %s: %s; log %s ends with:\n%s", s.name, msg, s.logPath, logTail(s.logPath))
}

// stop sends sig to the group leader, waits up to timeout for it and all its
// descendants to exit, and then kills them. Descendants are tracked by PID as
// well as by process group because postgres puts each of its child processes
// in a session of its own. stop is idempotent.
func (s *server) stop(sig syscall.Signal, timeout time.Duration) error {
	s.stopOnce.Do(func() {
		if timeout <= 0 {
			timeout = DefaultStopTimeout
		}
		crashed := s.exited()
		deadline := time.Now().Add(timeout)
		tracked := descendants(s.pgid)
		killAll := func() {
			tracked = append(tracked, descendants(s.pgid)...)
			_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
			for _, p := range tracked {
				if p.alive() {
					_ = syscall.Kill(p.pid, syscall.SIGKILL)
				}
			}
		}
		killed := false
		if !crashed {
			_ = syscall.Kill(s.pgid, sig)
			select {
			case <-s.done:
			case <-time.After(time.Until(deadline)):
				killed = true
				killAll()
				<-s.done
			}
		}
		// The leader may be gone while other processes (the server JVM,
		// postgres children) still shut down.
		for s.othersAlive(tracked) {
			if time.Now().After(deadline) {
				killed = true
				killAll()
				for i := 0; i < 50 && s.othersAlive(tracked); i++ {
					time.Sleep(100 * time.Millisecond)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		switch {
		case crashed:
			s.stopErr = fmt.Errorf("localsvc: %s had exited before Stop: %v; log %s ends with:\n%s", s.name, s.waitErr, s.logPath, logTail(s.logPath))
		case killed:
			s.stopErr = fmt.Errorf("localsvc: %s did not stop within %s and was killed", s.name, timeout)
		}
	})
	return s.stopErr
}

func (s *server) othersAlive(tracked []proc) bool {
	if groupAlive(s.pgid) {
		return true
	}
	for _, p := range tracked {
		if p.alive() {
			return true
		}
	}
	return false
}

// proc identifies a process across PID reuse by its start time.
type proc struct {
	pid   int
	start string
}

func (p proc) alive() bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat")
	if err != nil {
		return false
	}
	_, f := statFields(b)
	return len(f) > 19 && f[0] != "Z" && f[0] != "X" && f[19] == p.start
}

// descendants lists the live processes below pid (not pid itself).
func descendants(pid int) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]proc{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, f := statFields(b)
		if len(f) <= 19 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], proc{pid: n, start: f[19]})
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// procState is the state letter of process pid (R, S, Z, ...), or "" when
// there is no such process.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	_, f := statFields(b)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// statFields splits /proc/PID/stat after the command name, which may hold
// spaces and parentheses: state, ppid, pgrp, ...
func statFields(b []byte) (comm string, fields []string) {
	i := bytes.IndexByte(b, '(')
	j := bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return "", nil
	}
	return string(b[i+1 : j]), strings.Fields(string(b[j+1:]))
}

// groupAlive reports whether any non-zombie process is still in process
// group pgid. It reads /proc rather than kill(-pgid, 0), which also counts
// zombies that nobody has reaped yet.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, f := statFields(b)
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// validName reports whether s is a plain SQL identifier, which keeps the SQL
// localsvc generates free of quoting problems.
func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

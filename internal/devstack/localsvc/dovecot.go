package localsvc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// DovecotOSUser is the unprivileged account deploy/local/install.sh creates
// for Dovecot (its HELPDESK_MAIL_USER); keep the two in step.
const DovecotOSUser = "helpdesk-mail"

// DefaultDovecotPassword is the password of every mailbox unless
// DovecotOptions.Password says otherwise.
const DefaultDovecotPassword = "helpdesk"

// DovecotOptions describe a private Dovecot serving IMAP and LMTP on
// loopback, for development and tests.
//
// Every login name that looks like an email address (something@something) is
// a mailbox, and all of them share one password: the mailbox of
// alice@example.com exists as soon as mail is delivered to it or someone logs
// in as it. Names are case-insensitive (Dovecot lowercases them). LMTP
// recipients with a "+detail" land in the mailbox without the detail
// (support+42@helpdesk.local goes to support@helpdesk.local), as with most
// real providers.
type DovecotOptions struct {
	// DataDir holds this instance's configuration (dovecot.conf, rewritten
	// on every start), mail (mail/<address>/Maildir), state and, when the
	// path is short enough for Unix socket names, its runtime directory.
	// Mail survives restarts. Required.
	DataDir string
	// Host is the loopback address to listen on; default 127.0.0.1.
	// Addresses other than loopback ones are refused: the server accepts
	// plaintext logins with a well-known password.
	Host string
	// IMAPPort is the plaintext IMAP port; default 1143.
	IMAPPort int
	// LMTPPort is the LMTP port (TCP, on Host); 0 picks a free one.
	LMTPPort int
	// Password is the password of every mailbox; default "helpdesk". It may
	// hold printable ASCII except space, quotes, backslash, '%', '#' and ';'.
	Password string
	// OSUser runs Dovecot and owns the mail. Default: "helpdesk-mail" when
	// the caller is root, else the calling user.
	OSUser string
	// Binary is the dovecot master binary; default /usr/sbin/dovecot, else
	// dovecot on PATH.
	Binary string
	// LogFile receives the server's log; default DataDir/../dovecot.log.
	LogFile string
	// StartTimeout bounds the wait for readiness when ctx has no earlier
	// deadline; default 30 s.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits before killing; default 20 s.
	StopTimeout time.Duration
}

// Dovecot is a running private Dovecot.
type Dovecot struct {
	opts    DovecotOptions
	srv     *server
	baseDir string
}

// maxBaseDirLen keeps base_dir short enough that every socket Dovecot puts
// there (the longest is about 30 bytes below it) fits into a Unix socket
// address (108 bytes with the terminating NUL).
const maxBaseDirLen = 70

// StartDovecot starts the dovecot master in the foreground (dovecot -F) as a
// child process with a configuration of its own, and returns once IMAP and
// LMTP answer. ctx bounds the startup only; the server runs until Stop.
//
// Dovecot runs rootless: the whole process tree (master, auth, login, imap
// and lmtp processes) runs as o.OSUser, which also owns the mail, as with
// PostgreSQL and Elasticsearch. Dovecot's usual privilege separation
// (master as root, login processes as dovenull in a chroot, auth as dovecot,
// mail processes as each user's own uid) buys nothing here, since every
// mailbox belongs to the same OS user anyway, while rootless means no
// Dovecot process ever holds root and nothing depends on the users and
// directories of the system Dovecot (dovecot, dovenull, /run/dovecot,
// /etc/dovecot), which is neither used nor needed. Several instances can run
// at once (say `helpdesk dev` and a test run) on different ports and data
// directories.
func StartDovecot(ctx context.Context, o DovecotOptions) (*Dovecot, error) {
	if o.DataDir == "" {
		return nil, errors.New("localsvc: dovecot: DataDir is required")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("localsvc: dovecot: %w", err)
	}
	o.DataDir = dataDir
	if strings.ContainsFunc(dataDir, func(r rune) bool { return r <= ' ' || strings.ContainsRune(`"'\%#;{}`, r) }) {
		return nil, fmt.Errorf("localsvc: dovecot: DataDir %q must not hold spaces, quotes, backslashes or any of %%#;{} (it goes into Dovecot's configuration unquoted)", dataDir)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if ip := net.ParseIP(o.Host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("localsvc: dovecot: Host %q is not a loopback IP address; this server takes plaintext logins with a shared password and must not listen elsewhere", o.Host)
	}
	if o.IMAPPort == 0 {
		o.IMAPPort = 1143
	}
	if o.LMTPPort == 0 {
		if o.LMTPPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if o.IMAPPort == o.LMTPPort {
		return nil, fmt.Errorf("localsvc: dovecot: IMAPPort and LMTPPort are both %d", o.IMAPPort)
	}
	if o.Password == "" {
		o.Password = DefaultDovecotPassword
	}
	if !validDovecotPassword(o.Password) {
		return nil, errors.New("localsvc: dovecot: Password may only hold printable ASCII without space, quotes, backslash, '%', '#' or ';'")
	}
	if o.LogFile == "" {
		o.LogFile = filepath.Join(filepath.Dir(o.DataDir), "dovecot.log")
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Binary == "" {
		if o.Binary, err = findDovecot(); err != nil {
			return nil, err
		}
	}
	if err := checkDovecotInstall(o.Binary); err != nil {
		return nil, err
	}
	u, asRoot, err := dovecotUser(o.OSUser)
	if err != nil {
		return nil, err
	}
	o.OSUser = u.Name
	if err := checkPortFree("dovecot imap", o.Host, o.IMAPPort); err != nil {
		return nil, err
	}
	if err := checkPortFree("dovecot lmtp", o.Host, o.LMTPPort); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(o.DataDir), 0o755); err != nil {
		return nil, fmt.Errorf("localsvc: dovecot: %w", err)
	}
	if asRoot {
		if err := grantSearch("dovecot", u, filepath.Dir(o.DataDir)); err != nil {
			return nil, err
		}
	}
	if err := ownDir("dovecot", u, o.DataDir, 0o750); err != nil {
		return nil, err
	}
	d := &Dovecot{opts: o, baseDir: dovecotBaseDir(o.DataDir)}
	for _, dir := range []string{filepath.Join(o.DataDir, "mail"), filepath.Join(o.DataDir, "state")} {
		if err := ownDir("dovecot", u, dir, 0o750); err != nil {
			return nil, err
		}
	}
	if err := prepareBaseDir(u, d.baseDir); err != nil {
		return nil, err
	}
	if err := checkDovecotPid(d.baseDir, o.DataDir); err != nil {
		return nil, err
	}
	confPath := filepath.Join(o.DataDir, "dovecot.conf")
	if err := writeOwnedFile(u, confPath, []byte(dovecotConfig(o, u, d.baseDir)), 0o640); err != nil {
		return nil, err
	}

	cmd := exec.Command(o.Binary, "-F", "-c", confPath)
	cmd.Dir = o.DataDir
	cmd.Env = u.env()
	if asRoot {
		cmd.SysProcAttr = u.sysProcAttr()
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	d.srv, err = startServer("dovecot", cmd, o.LogFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := d.waitReady(ctx); err != nil {
		_ = d.srv.stop(syscall.SIGTERM, 5*time.Second)
		return nil, err
	}
	return d, nil
}

func validDovecotPassword(pw string) bool {
	for _, r := range pw {
		if r <= ' ' || r > '~' || strings.ContainsRune(`"'\%#;{}`, r) {
			return false
		}
	}
	return pw != ""
}

func findDovecot() (string, error) {
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot", nil
	}
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	return "", errors.New("localsvc: dovecot: /usr/sbin/dovecot not found; install the Debian packages dovecot-imapd and dovecot-lmtpd (run deploy/local/install.sh)")
}

// checkDovecotInstall makes sure the imap and lmtp services exist, which the
// master would otherwise only complain about in its log.
func checkDovecotInstall(binary string) error {
	out, err := exec.Command(binary, "--build-options").CombinedOutput()
	if err != nil {
		return fmt.Errorf("localsvc: dovecot: %s --build-options: %v: %s (run deploy/local/install.sh)", binary, err, bytes.TrimSpace(out))
	}
	libexec := "/usr/lib/dovecot"
	if _, err := os.Stat(libexec); err != nil {
		return fmt.Errorf("localsvc: dovecot: %s is missing (run deploy/local/install.sh): %w", libexec, err)
	}
	for bin, pkg := range map[string]string{"imap": "dovecot-imapd", "imap-login": "dovecot-imapd", "lmtp": "dovecot-lmtpd"} {
		if _, err := os.Stat(filepath.Join(libexec, bin)); err != nil {
			return fmt.Errorf("localsvc: dovecot: %s not found: install the Debian package %s (run deploy/local/install.sh)", filepath.Join(libexec, bin), pkg)
		}
	}
	return nil
}

// dovecotUser is the account Dovecot runs as, and whether the caller is root
// (and so switches to it).
func dovecotUser(name string) (*osUser, bool, error) {
	if os.Geteuid() == 0 {
		if name == "" {
			name = DovecotOSUser
		}
		u, err := lookupOSUser("dovecot", name)
		return u, true, err
	}
	cur, err := user.Current()
	if err != nil {
		return nil, false, fmt.Errorf("localsvc: dovecot: %w", err)
	}
	if name != "" && name != cur.Username {
		return nil, false, fmt.Errorf("localsvc: dovecot: OSUser %q needs root; running as %s, leave OSUser empty to run Dovecot as %s", name, cur.Username, cur.Username)
	}
	u, err := lookupOSUser("dovecot", cur.Username)
	return u, false, err
}

// dovecotBaseDir is the runtime directory (sockets, master.pid): DataDir/run
// when that is short enough for socket addresses, else a directory under
// /tmp named after a hash of DataDir (t.TempDir() paths can be long).
func dovecotBaseDir(dataDir string) string {
	if d := filepath.Join(dataDir, "run"); len(d) <= maxBaseDirLen {
		return d
	}
	sum := sha256.Sum256([]byte(dataDir))
	return "/tmp/helpdesk-dovecot-" + hex.EncodeToString(sum[:8])
}

// prepareBaseDir creates dir for u, refusing symlinks (it may be under
// /tmp). Dovecot wants it world-readable (0755) and fixes it otherwise; the
// sockets in it that matter (auth, lmtp, master) are 0600.
func prepareBaseDir(u *osUser, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("localsvc: dovecot: %w", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("localsvc: dovecot: create runtime directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("localsvc: dovecot: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("localsvc: dovecot: runtime directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && (st.Uid != u.Uid || st.Gid != u.Gid) {
		if err := chownTree("dovecot", u, dir); err != nil {
			return err
		}
	}
	if fi.Mode().Perm() != 0o755 {
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("localsvc: dovecot: %w", err)
		}
	}
	return nil
}

// checkDovecotPid refuses to start when a live dovecot master owns the
// runtime directory, and removes a master.pid left by a crash.
func checkDovecotPid(baseDir, dataDir string) error {
	path := filepath.Join(baseDir, "master.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		_ = os.Remove(path)
		return nil
	}
	// A master killed with its parent is a zombie until someone reaps it.
	for i := 0; i < 50 && procState(pid) == "Z"; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if st := procState(pid); err == nil && st != "Z" && st != "X" && strings.TrimSpace(string(comm)) == "dovecot" {
		return fmt.Errorf("localsvc: dovecot: %s is in use by a running dovecot (pid %d, runtime directory %s)", dataDir, pid, baseDir)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("localsvc: dovecot: remove stale %s: %w", path, err)
	}
	return nil
}

func writeOwnedFile(u *osUser, path string, content []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, content, perm); err != nil {
		return fmt.Errorf("localsvc: dovecot: %w", err)
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("localsvc: dovecot: %w", err)
	}
	if err := os.Lchown(path, int(u.Uid), int(u.Gid)); err != nil {
		return fmt.Errorf("localsvc: dovecot: %w", err)
	}
	return nil
}

// dovecotConfig is the complete configuration; nothing from /etc/dovecot is
// read.
func dovecotConfig(o DovecotOptions, u *osUser, baseDir string) string {
	// Logins that do not look like an address get a random password that
	// nobody knows, i.e. they are refused.
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	nobody := hex.EncodeToString(raw)
	group := strconv.Itoa(int(u.Gid))
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf(`# Written by internal/devstack/localsvc on every start; edits are lost.
# A private, rootless Dovecot for development and tests: IMAP and LMTP on
# loopback only, every address is a mailbox, one shared password.
instance_name = helpdesk-%[12]s
base_dir = %[1]s
state_dir = %[2]s/state
protocols = imap lmtp
listen = %[3]s
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@+
auth_cache_size = 0
# No slowdown after failed logins (see also anvil-auth-penalty below): a
# client with a wrong password, or a test of one, must not stall everyone
# else on loopback.
auth_failure_delay = 0
# The master and its log process write to the inherited stderr (LogFile).
log_path = /dev/stderr
log_timestamp = "%%Y-%%m-%%d %%H:%%M:%%S "

# Rootless: every process runs as %[4]s.
default_internal_user = %[4]s
default_internal_group = %[5]s
default_login_user = %[4]s
first_valid_uid = %[6]d
last_valid_uid = %[6]d
first_valid_gid = %[7]d
last_valid_gid = %[7]d

passdb {
  driver = static
  args = password={PLAIN}%%{if;%%{user};*;?*@?*;%[8]s;%[9]s}
}
userdb {
  driver = static
  args = uid=%[6]d gid=%[7]d home=%[2]s/mail/%%u allow_all_users=yes
}

mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
# New mail is noticed through inotify at once; this is the fallback poll.
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = 30 secs
# No quota plugin is loaded: message size is not limited.
mail_plugins =

namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \Drafts
  }
  mailbox Sent {
    special_use = \Sent
  }
  mailbox Trash {
    special_use = \Trash
  }
  mailbox Junk {
    special_use = \Junk
  }
}

# Keep delivered messages as sent, apart from the Return-Path that Dovecot
# always prepends.
lmtp_add_received_header = no
lmtp_hdr_delivery_address = none
recipient_delimiter = +

service imap-login {
  chroot =
  inet_listener imap {
    address = %[3]s
    port = %[10]d
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
  inet_listener lmtp {
    address = %[3]s
    port = %[11]d
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, baseDir, o.DataDir, o.Host, u.Name, group, u.Uid, u.Gid, o.Password, nobody,
		o.IMAPPort, o.LMTPPort, shortHash(o.DataDir))
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// waitReady waits for the IMAP and LMTP greetings.
func (d *Dovecot) waitReady(ctx context.Context) error {
	probes := []struct {
		name, addr, greeting string
	}{
		{"imap", d.IMAPAddr(), "* OK"},
		{"lmtp", d.LMTPAddr(), "220 "},
	}
	for _, p := range probes {
		var last error
		for {
			if d.srv.exited() {
				return d.srv.failure("server exited during startup")
			}
			last = probeGreeting(ctx, p.addr, p.greeting)
			if last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return d.srv.failure("%s not ready on %s: %v (last attempt: %v)", p.name, p.addr, ctx.Err(), last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func probeGreeting(ctx context.Context, addr, want string) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// IMAPAddr is the plaintext IMAP address, e.g. 127.0.0.1:1143. Log in with
// an email address and Password.
func (d *Dovecot) IMAPAddr() string {
	return net.JoinHostPort(d.opts.Host, strconv.Itoa(d.opts.IMAPPort))
}

// LMTPAddr is the LMTP address (TCP).
func (d *Dovecot) LMTPAddr() string {
	return net.JoinHostPort(d.opts.Host, strconv.Itoa(d.opts.LMTPPort))
}

// IMAPPort is the IMAP port.
func (d *Dovecot) IMAPPort() int { return d.opts.IMAPPort }

// Password is the password of every mailbox.
func (d *Dovecot) Password() string { return d.opts.Password }

// MailDir is where the mailbox of address lives (a Maildir, owned by
// OSUser).
func (d *Dovecot) MailDir(address string) string {
	return filepath.Join(d.opts.DataDir, "mail", strings.ToLower(address), "Maildir")
}

// LogFile is where the server's log goes.
func (d *Dovecot) LogFile() string { return d.opts.LogFile }

// Stop shuts Dovecot down (SIGTERM to the master, which ends its IMAP
// sessions and LMTP deliveries) and waits for every process; after
// StopTimeout it kills the whole process group. Stop is idempotent.
func (d *Dovecot) Stop() error {
	err := d.srv.stop(syscall.SIGTERM, d.opts.StopTimeout)
	if !strings.HasPrefix(d.baseDir, d.opts.DataDir+string(filepath.Separator)) && !groupAlive(d.srv.pgid) {
		// The runtime directory under /tmp holds nothing worth keeping.
		_ = os.RemoveAll(d.baseDir)
	}
	return err
}

// Deliver hands raw, a complete RFC 5322 message, to the mailboxes of to
// over LMTP, as an MTA would. Dovecot prepends "Return-Path: <from>" and
// otherwise stores raw as it is. Each
// recipient gets the message once; the error lists the recipients Dovecot
// refused, if any (the others have the message). ctx bounds the whole
// delivery.
func (d *Dovecot) Deliver(ctx context.Context, from string, to []string, raw []byte) error {
	if len(to) == 0 {
		return errors.New("localsvc: dovecot: deliver: no recipients")
	}
	var rcpts []string
	seen := map[string]bool{}
	for _, r := range to {
		if k := strings.ToLower(r); !seen[k] {
			seen[k] = true
			rcpts = append(rcpts, r)
		}
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", d.LMTPAddr())
	if err != nil {
		return fmt.Errorf("localsvc: dovecot: deliver: %w", err)
	}
	// The client sets its own deadlines per command; closing the connection
	// is what interrupts it.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fmt.Errorf("localsvc: dovecot: deliver over LMTP: %s: %w", step, err)
	}
	if err := c.Hello("localhost"); err != nil {
		return fail("LHLO", err)
	}
	opts := &smtp.MailOptions{}
	if ok, _ := c.Extension("8BITMIME"); ok && !isASCII(raw) {
		opts.Body = smtp.Body8BitMIME
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok && (!isASCII([]byte(from)) || !isASCII([]byte(strings.Join(rcpts, "")))) {
		opts.UTF8 = true
	}
	if err := c.Mail(from, opts); err != nil {
		return fail("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return fail("RCPT TO <"+r+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := io.Copy(w, bytes.NewReader(raw)); err != nil {
		return fail("DATA", err)
	}
	if err := w.Close(); err != nil {
		return fail("DATA", err)
	}
	_ = c.Quit()
	return nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

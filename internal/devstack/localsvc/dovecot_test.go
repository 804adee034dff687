package localsvc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestDovecot runs a real private Dovecot: LMTP delivery to several
// mailboxes read back over IMAP, a 40 MB message both ways, IDLE, wrong
// passwords, a second instance with a long data directory beside the first,
// and a restart that keeps the mail.
func TestDovecot(t *testing.T) {
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(private, "data", "dovecot")
	opts := DovecotOptions{DataDir: dataDir, IMAPPort: freePort(t), LMTPPort: freePort(t)}
	ctx := context.Background()

	t0 := time.Now()
	dc, err := StartDovecot(ctx, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("fresh start took %s (log %s)", time.Since(t0).Round(time.Millisecond), dc.LogFile())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			dc.Stop()
		}
	})
	if got, want := dc.IMAPAddr(), "127.0.0.1:"+strconv.Itoa(opts.IMAPPort); got != want {
		t.Errorf("IMAPAddr %q, want %q", got, want)
	}
	if got, want := dc.LMTPAddr(), "127.0.0.1:"+strconv.Itoa(opts.LMTPPort); got != want {
		t.Errorf("LMTPAddr %q, want %q", got, want)
	}
	if dc.Password() != "helpdesk" {
		t.Errorf("Password %q", dc.Password())
	}

	// LMTP delivery to two mailboxes, read back over IMAP from each.
	from := "customer@example.org"
	raw := []byte("From: Customer <customer@example.org>\r\nTo: support@helpdesk.local, alice@example.com\r\n" +
		"Subject: =?UTF-8?q?Drucker_kaputt?=\r\nMessage-ID: <t1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\nGrüße,\r\n.leading dot stays\r\n\r\n")
	rcpts := []string{"support@helpdesk.local", "Alice@Example.com"}
	if err := dc.Deliver(ctx, from, rcpts, raw); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	for _, rcpt := range rcpts {
		c := imapLogin(t, dc, rcpt, dc.Password(), nil)
		msgs := fetchAll(t, c, "INBOX")
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages, want 1", rcpt, len(msgs))
		}
		want := deliveredAs(from, rcpt, raw)
		if got := msgs[0].FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(got, want) {
			t.Errorf("%s: fetched\n%q\nwant\n%q", rcpt, got, want)
		}
		if msgs[0].RFC822Size != int64(len(want)) {
			t.Errorf("%s: RFC822.SIZE %d, want %d", rcpt, msgs[0].RFC822Size, len(want))
		}
		c.Close()
	}
	// The mail belongs to the unprivileged user, not root.
	if fi, err := os.Stat(dc.MailDir("support@helpdesk.local")); err != nil {
		t.Errorf("maildir: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 {
		t.Errorf("maildir %s owned by root", dc.MailDir("support@helpdesk.local"))
	}

	// Wrong password, and names that are not addresses, are refused.
	for _, login := range [][2]string{{"alice@example.com", "wrong"}, {"alice@example.com", ""}, {"support", dc.Password()}, {"@helpdesk.local", dc.Password()}} {
		c, err := imapclient.DialInsecure(dc.IMAPAddr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(login[0], login[1]).Wait(); err == nil {
			t.Errorf("login %q with password %q succeeded", login[0], login[1])
		}
		c.Close()
	}

	// A 40 MB message: APPEND and read back, and deliver over LMTP.
	big := bigMessage(40 << 20)
	c := imapLogin(t, dc, "bob@example.com", dc.Password(), nil)
	t1 := time.Now()
	app := c.Append("INBOX", int64(len(big)), nil)
	if _, err := app.Write(big); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := app.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	if _, err := app.Wait(); err != nil {
		t.Fatalf("append 40 MB: %v", err)
	}
	t.Logf("APPEND of %d bytes took %s", len(big), time.Since(t1).Round(time.Millisecond))
	t1 = time.Now()
	if err := dc.Deliver(ctx, from, []string{"bob@example.com"}, big); err != nil {
		t.Fatalf("deliver 40 MB: %v", err)
	}
	t.Logf("LMTP delivery of %d bytes took %s", len(big), time.Since(t1).Round(time.Millisecond))
	t1 = time.Now()
	msgs := fetchAll(t, c, "INBOX")
	t.Logf("FETCH of both took %s", time.Since(t1).Round(time.Millisecond))
	if len(msgs) != 2 {
		t.Fatalf("bob: %d messages, want 2", len(msgs))
	}
	for i, want := range [][]byte{big, deliveredAs(from, "bob@example.com", big)} {
		if msgs[i].RFC822Size != int64(len(want)) {
			t.Errorf("big message %d: RFC822.SIZE %d, want %d", i, msgs[i].RFC822Size, len(want))
		}
		if got := msgs[i].FindBodySection(&imap.FetchItemBodySection{}); sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("big message %d: %d bytes fetched differ from the %d sent", i, len(got), len(want))
		}
	}
	c.Close()

	// An IDLE client hears of new mail.
	counts := make(chan uint32, 16)
	idler := imapLogin(t, dc, "support@helpdesk.local", dc.Password(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					counts <- *m.NumMessages
				}
			},
		},
	})
	if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatalf("idle: %v", err)
	}
	t1 = time.Now()
	if err := dc.Deliver(ctx, from, []string{"support@helpdesk.local"}, raw); err != nil {
		t.Fatalf("deliver while idling: %v", err)
	}
	timeout := time.After(30 * time.Second) // failure bound only
wait:
	for {
		select {
		case n := <-counts:
			if n >= 2 {
				t.Logf("IDLE client saw EXISTS %d %s after delivery", n, time.Since(t1).Round(time.Millisecond))
				break wait
			}
		case <-timeout:
			t.Fatal("IDLE client was not told of the new message")
		}
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	idler.Close()

	// A second instance at once, with a data directory too long for socket
	// paths below it.
	long := filepath.Join(private, strings.Repeat("d", 80), "dovecot")
	dc2, err := StartDovecot(ctx, DovecotOptions{DataDir: long, IMAPPort: freePort(t), Password: "other-secret"})
	if err != nil {
		t.Fatalf("second instance: %v", err)
	}
	if err := dc2.Deliver(ctx, from, []string{"carol@example.com"}, raw); err != nil {
		t.Errorf("second instance deliver: %v", err)
	}
	c = imapLogin(t, dc2, "carol@example.com", "other-secret", nil)
	if msgs := fetchAll(t, c, "INBOX"); len(msgs) != 1 {
		t.Errorf("second instance: %d messages", len(msgs))
	}
	c.Close()
	if err := dc2.Stop(); err != nil {
		t.Errorf("second instance stop: %v", err)
	}
	if !strings.HasPrefix(dc2.baseDir, "/tmp/helpdesk-dovecot-") {
		t.Errorf("runtime directory of the long data directory: %s", dc2.baseDir)
	} else if _, err := os.Stat(dc2.baseDir); !os.IsNotExist(err) {
		t.Errorf("runtime directory %s left after Stop: %v", dc2.baseDir, err)
	}

	// A taken port is named in the error; non-loopback hosts are refused.
	_, err = StartDovecot(ctx, DovecotOptions{DataDir: filepath.Join(private, "data", "other"), IMAPPort: opts.IMAPPort})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(opts.IMAPPort)) || !strings.HasPrefix(err.Error(), "localsvc: ") {
		t.Errorf("start on a taken port: %v", err)
	}
	_, err = StartDovecot(ctx, DovecotOptions{DataDir: filepath.Join(private, "data", "other"), Host: "0.0.0.0", IMAPPort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("start on 0.0.0.0: %v", err)
	}
	_, err = StartDovecot(ctx, DovecotOptions{DataDir: filepath.Join(private, "data", "with space"), IMAPPort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Errorf("start in a directory with a space: %v", err)
	}
	// A missing OS user or binary names the install script.
	_, err = StartDovecot(ctx, DovecotOptions{DataDir: filepath.Join(private, "data", "other"), IMAPPort: freePort(t), OSUser: "helpdesk-no-such-user"})
	if err == nil || !strings.Contains(err.Error(), "deploy/local/install.sh") {
		t.Errorf("start as a missing user: %v", err)
	}
	_, err = StartDovecot(ctx, DovecotOptions{DataDir: filepath.Join(private, "data", "other"), IMAPPort: freePort(t), Binary: "/nonexistent/dovecot"})
	if err == nil || !strings.Contains(err.Error(), "deploy/local/install.sh") {
		t.Errorf("start with a missing binary: %v", err)
	}

	// Stop, then restart on the same data directory: the mail is kept.
	pgid := dc.srv.pgid
	t0 = time.Now()
	if err := dc.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stop took %s", time.Since(t0).Round(time.Millisecond))
	stopped = true
	if err := dc.Stop(); err != nil { // idempotent
		t.Errorf("second Stop: %v", err)
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d still alive after Stop:\n%s", pgid, psGroup(pgid))
	}
	t0 = time.Now()
	dc, err = StartDovecot(ctx, opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	stopped = false
	t.Logf("restart took %s", time.Since(t0).Round(time.Millisecond))
	c = imapLogin(t, dc, "support@helpdesk.local", dc.Password(), nil)
	msgs = fetchAll(t, c, "INBOX")
	if len(msgs) != 2 {
		t.Fatalf("after restart: %d messages, want 2", len(msgs))
	}
	if got, want := msgs[0].FindBodySection(&imap.FetchItemBodySection{}), deliveredAs(from, "support@helpdesk.local", raw); !bytes.Equal(got, want) {
		t.Errorf("after restart: fetched %q", got)
	}
	c.Close()
	if err := dc.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	stopped = true
}

// deliveredAs is raw as Dovecot stores it after LMTP delivery: as sent,
// after a Return-Path header.
func deliveredAs(from, _ string, raw []byte) []byte {
	return append([]byte(fmt.Sprintf("Return-Path: <%s>\r\n", from)), raw...)
}

// bigMessage is a plain-text message of about size bytes.
func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 200)
	b.WriteString("From: big@example.org\r\nTo: bob@example.com\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n")
	line := []byte(strings.Repeat("0123456789abcdef", 4) + "\r\n")
	for i := 0; b.Len() < size; i++ {
		copy(line, fmt.Sprintf("%08d", i))
		b.Write(line)
	}
	return b.Bytes()
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func imapLogin(t *testing.T, dc *Dovecot, user, password string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(dc.IMAPAddr(), opts)
	if err != nil {
		t.Fatalf("dial IMAP: %v", err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		t.Fatalf("login %s: %v\nlog:\n%s", user, err, logTail(dc.LogFile()))
	}
	return c
}

// fetchAll selects mailbox and fetches every message whole.
func fetchAll(t *testing.T, c *imapclient.Client, mailbox string) []*imapclient.FetchMessageBuffer {
	t.Helper()
	sel, err := c.Select(mailbox, nil).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(all, &imap.FetchOptions{
		UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", mailbox, err)
	}
	return msgs
}

// TestDovecotCrash starts Dovecot in a helper process that is then
// SIGKILLed: no Dovecot process may outlive it, and a restart on the same
// data directory (with the stale master.pid of the crash) keeps the mail.
func TestDovecotCrash(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "dovecot")
	opts := DovecotOptions{DataDir: dataDir, IMAPPort: freePort(t), LMTPPort: freePort(t)}
	helper := exec.Command(os.Args[0], "-test.run=^TestDovecotHelperProcess$", "-test.v")
	helper.Env = append(os.Environ(), fmt.Sprintf("LOCALSVC_DOVECOT_HELPER=%s,%d,%d", dataDir, opts.IMAPPort, opts.LMTPPort))
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "HELPER READY "); ok {
			pgid, _ = strconv.Atoi(rest)
			break
		}
		t.Logf("helper: %s", sc.Text())
	}
	if pgid == 0 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatal("helper did not report its server")
	}
	go io.Copy(io.Discard, out)
	servers := descendants(helper.Process.Pid)
	if len(servers) < 3 {
		t.Errorf("expected the dovecot master and its services below the helper, found %v", servers)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	expectOrphansGone(t, []int{pgid}, servers)

	dc, err := StartDovecot(context.Background(), opts)
	if err != nil {
		t.Fatalf("restart after crash: %v", err)
	}
	defer dc.Stop()
	c := imapLogin(t, dc, "support@helpdesk.local", dc.Password(), nil)
	defer c.Close()
	if msgs := fetchAll(t, c, "INBOX"); len(msgs) != 1 {
		t.Errorf("after crash: %d messages, want 1", len(msgs))
	}
	// A second instance on the same data directory is refused.
	_, err = StartDovecot(context.Background(), DovecotOptions{DataDir: dataDir, IMAPPort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "in use by a running dovecot") {
		t.Errorf("second start on a data directory in use: %v", err)
	}
}

// TestDovecotHelperProcess is the process TestDovecotCrash kills; it does
// nothing in a normal run.
func TestDovecotHelperProcess(t *testing.T) {
	spec := os.Getenv("LOCALSVC_DOVECOT_HELPER")
	if spec == "" {
		return
	}
	f := strings.Split(spec, ",")
	imapPort, _ := strconv.Atoi(f[1])
	lmtpPort, _ := strconv.Atoi(f[2])
	dc, err := StartDovecot(context.Background(), DovecotOptions{DataDir: f[0], IMAPPort: imapPort, LMTPPort: lmtpPort})
	if err != nil {
		t.Fatalf("helper start: %v", err)
	}
	if err := dc.Deliver(context.Background(), "a@example.org", []string{"support@helpdesk.local"}, []byte("Subject: before the crash\r\n\r\nkept\r\n")); err != nil {
		t.Fatalf("helper deliver: %v", err)
	}
	// An IMAP session is open at the time of the crash.
	c, err := imapclient.DialInsecure(dc.IMAPAddr(), nil)
	if err != nil || c.Login("support@helpdesk.local", dc.Password()).Wait() != nil {
		t.Fatalf("helper login: %v", err)
	}
	fmt.Printf("HELPER READY %d\n", dc.srv.pgid)
	time.Sleep(10 * time.Minute) // until killed
}

// TestInstallScriptMailUser keeps install.sh and DovecotOSUser in step.
func TestInstallScriptMailUser(t *testing.T) {
	b, err := os.ReadFile("../../../deploy/local/install.sh")
	if err != nil {
		t.Fatal(err)
	}
	if want := `HELPDESK_MAIL_USER="${HELPDESK_MAIL_USER:-` + DovecotOSUser + `}"`; !bytes.Contains(b, []byte(want)) {
		t.Fatalf("install.sh does not default HELPDESK_MAIL_USER to %s (want %s)", DovecotOSUser, want)
	}
}

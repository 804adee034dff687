package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
)

// crashPoints are where processing is interrupted, in the order a message
// passes them; payload and commented are only reached by replies.
var crashPoints = []struct {
	point string
	hit   int
}{
	{"parsed", 2}, {"claimed", 2}, {"reserved", 1}, {"created", 2}, {"payload", 1}, {"commented", 1},
	{"attached", 2}, {"finished", 2}, {"durable", 2}, {"marked", 3},
}

// TestIntakeSurvivesSIGKILLAtEveryStep delivers mail in rounds and, for
// every named point between two steps of processing, runs `helpdesk intake`
// until it SIGKILLs itself there; a last, uninterrupted intake then finishes
// the inbox while a second one stands by on the mailbox's lock, and that
// standby takes over new mail once the first has stopped. Reconciled by Message-ID: every message has exactly one
// outcome, every new message exactly one ticket and every reply exactly one
// comment, and the inbox is empty.
func TestIntakeSurvivesSIGKILLAtEveryStep(t *testing.T) {
	d := startDevDeployment(t, "")
	pgURL := d.pgURL
	ports := freePorts(t, 2)
	ctx := context.Background()
	dc, err := localsvc.StartDovecot(ctx, localsvc.DovecotOptions{DataDir: filepath.Join(d.home, "mail"), IMAPPort: ports[0], LMTPPort: ports[1]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.Stop() })
	const inbox = "support@helpdesk.local"
	mb := config.Mailbox{Name: "crash-test", Address: inbox, Host: "127.0.0.1", Port: dc.IMAPPort(), Security: "none",
		User: inbox, Password: dc.Password(), Processed: "move", ProcessedFolder: "Processed", PollInterval: config.Duration(2 * time.Second)}
	mailboxes, _ := json.Marshal([]config.Mailbox{mb})
	env := append(d.joined, "HELPDESK_MAILBOXES="+string(mailboxes), "HELPDESK_MAIL_RATE_LIMIT=0")

	type sent struct {
		id, subject string
		replyTo     string // Message-ID this one answers ("" for a new ticket)
	}
	var all []sent
	deliver := func(s sent, from string) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", from, inbox, s.subject, s.id,
			time.Now().Format(time.RFC1123Z))
		if s.replyTo != "" {
			fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", s.replyTo, s.replyTo)
		}
		fmt.Fprintf(&b, "\r\nThis is %s.\r\n", s.id)
		if err := dc.Deliver(ctx, from, []string{inbox}, []byte(b.String())); err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	const from = "casey@customer.example"
	round := func(r int) {
		for i := 0; i < 3; i++ {
			id := fmt.Sprintf("r%d-new%d@customer.example", r, i)
			deliver(sent{id: id, subject: fmt.Sprintf("Round %d problem %d", r, i)}, from)
		}
	}
	// Round 0 runs clean, so replies have tickets to thread onto.
	round(0)
	runIntakeProcess(t, env, "", dc, mb, len(all))
	for r, cp := range crashPoints {
		round(r + 1)
		// A reply to a ticket made in an earlier round.
		deliver(sent{id: fmt.Sprintf("r%d-reply@customer.example", r+1), subject: "Re: Round 0 problem 0",
			replyTo: "r0-new0@customer.example"}, from)
		runIntakeProcess(t, env, fmt.Sprintf("%s:%d", cp.point, cp.hit), dc, mb, 0)
	}
	// A standby intake waits on the mailbox's lock while the last,
	// uninterrupted one finishes the inbox...
	startCommand(t, env, "intake polling", "intake")
	runIntakeProcess(t, env, "", dc, mb, len(all))
	// ... and takes over once that one is gone: new mail still arrives.
	round(len(crashPoints) + 1)
	waitProcessed(t, dc, mb, len(all))

	// Reconcile by Message-ID.
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range all {
		var outcome string
		var number *int64
		err := conn.QueryRow(ctx, `SELECT outcome, ticket_number FROM mail_messages WHERE dedupe_key = $1`, "mid:"+s.id).Scan(&outcome, &number)
		if err != nil {
			t.Errorf("<%s>: no record: %v", s.id, err)
			continue
		}
		want := "ticket"
		if s.replyTo != "" {
			want = "comment"
		}
		if outcome != want || number == nil {
			t.Errorf("<%s>: outcome %q ticket %v, want %s", s.id, outcome, number, want)
			continue
		}
		if s.replyTo == "" {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE subject = $1`, s.subject).Scan(&n); err != nil || n != 1 {
				t.Errorf("<%s>: %d tickets %q (%v), want exactly 1", s.id, n, s.subject, err)
			}
		} else {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM comments WHERE ticket_number = $1 AND body = $2`,
				*number, "This is "+s.id+".").Scan(&n); err != nil || n != 1 {
				t.Errorf("<%s>: %d comments (%v), want exactly 1", s.id, n, err)
			}
		}
	}
	var tickets, quarantined int
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE channel = 'email'`).Scan(&tickets)
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM mail_quarantine`).Scan(&quarantined)
	if want := 3 * (len(crashPoints) + 2); tickets != want || quarantined != 0 {
		t.Errorf("%d email tickets (want %d), %d quarantined (want 0)", tickets, want, quarantined)
	}
	if n := folderCount(t, dc, mb, "INBOX"); n != 0 {
		t.Errorf("%d messages left in the inbox", n)
	}
}

// runIntakeProcess runs `helpdesk intake`. With crashAt it waits for the process
// to SIGKILL itself there; without, it waits until Processed holds
// processed messages, then stops the process with SIGTERM.
func runIntakeProcess(t *testing.T, env []string, crashAt string, dc *localsvc.Dovecot, mb config.Mailbox, processed int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "intake")
	cmd.Env = append(os.Environ(), append(env, "HELPDESK_TEST_AS_MAIN=1", "HELPDESK_INTAKE_CRASH_AT="+crashAt)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines = append(lines, s.Text())
		}
	}()
	done := make(chan error, 1)
	go func() { <-scanned; done <- cmd.Wait() }()
	fail := func(format string, args ...any) {
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf(format+"\n%s", append(args, strings.Join(lines, "\n"))...)
	}
	if crashAt != "" {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				fail("intake with crash point %s ended with %v, want SIGKILL", crashAt, err)
			}
			if !strings.Contains(strings.Join(lines, "\n"), "crash point "+strings.Split(crashAt, ":")[0]) {
				fail("intake was killed but not at %s", crashAt)
			}
			t.Logf("intake SIGKILLed itself at %s", crashAt)
		case <-time.After(2 * time.Minute):
			fail("intake never reached crash point %s", crashAt)
		}
		return
	}
	deadline := time.Now().Add(2 * time.Minute)
	for folderCount(t, dc, mb, "Processed") < uint32(processed) || folderCount(t, dc, mb, "INBOX") > 0 {
		if time.Now().After(deadline) {
			fail("intake did not process the inbox: %d in INBOX, %d of %d in Processed",
				folderCount(t, dc, mb, "INBOX"), folderCount(t, dc, mb, "Processed"), processed)
		}
		select {
		case err := <-done:
			t.Fatalf("intake exited: %v\n%s", err, strings.Join(lines, "\n"))
		case <-time.After(300 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		fail("intake did not stop on SIGTERM")
	}
}

// waitProcessed waits until Processed holds n messages and INBOX none.
func waitProcessed(t *testing.T, dc *localsvc.Dovecot, mb config.Mailbox, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for folderCount(t, dc, mb, "Processed") < uint32(n) || folderCount(t, dc, mb, "INBOX") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the standby intake did not take over: %d in INBOX, %d of %d in Processed",
				folderCount(t, dc, mb, "INBOX"), folderCount(t, dc, mb, "Processed"), n)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func folderCount(t *testing.T, dc *localsvc.Dovecot, mb config.Mailbox, folder string) uint32 {
	t.Helper()
	c, err := imapclient.DialInsecure(dc.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(mb.User, mb.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0 // not created yet
	}
	return *st.NumMessages
}

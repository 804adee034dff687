package systemtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/intake"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/devmail"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/mailout"
	"github.com/helpdesk/helpdesk/internal/mailparse"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/worker"
)

// mailRig is a real Dovecot with the help desk inbox, and an intake poller
// on it running against the shared system.
type mailRig struct {
	dovecot *localsvc.Dovecot
	mailbox config.Mailbox
	cancel  context.CancelFunc
	done    chan struct{}
}

// startMailer mails the outbox notifications written from now on, through
// an SMTP listener delivering into the rig's Dovecot (each recipient's own
// mailbox), from a worker on a task queue of its own.
func (r *mailRig) startMailer(t *testing.T, enabled bool) {
	t.Helper()
	r.startMailerVia(t, enabled, r.dovecot.Deliver)
}

// startMailerVia is startMailer with the SMTP listener delivering through
// deliver (tests make it fail).
func (r *mailRig) startMailerVia(t *testing.T, enabled bool, deliver devmail.DeliverFunc) {
	t.Helper()
	ctx := context.Background()
	srv, err := devmail.Start(ctx, devmail.Options{Addr: "127.0.0.1:0", Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	host, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	var after int64
	if err := env.store.Pool().QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM outbox`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	queue := fmt.Sprintf("mailer-%d", time.Now().UnixNano())
	d := worker.Deps{Client: env.temporal, TaskQueue: queue, Store: env.store, Index: env.index, Logger: slog.Default(),
		Mailer: &activities.Mailer{Store: env.store, Users: env.ident, Enabled: enabled,
			From: mail.Address{Name: "Help Desk", Address: r.mailbox.Address},
			SMTP: mailout.SMTP{Host: host, Port: p, Security: "none"}}}
	w := worker.New(d)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); worker.OutboxMailLoop(lctx, d, 200*time.Millisecond, after) }()
	t.Cleanup(func() { cancel(); <-done; w.Stop() })
}

// inbox returns the parsed messages in address's INBOX, oldest first.
func (r *mailRig) inbox(t *testing.T, address string) []*mailparse.Message {
	t.Helper()
	c, err := imapclient.DialInsecure(r.dovecot.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(address, r.dovecot.Password()).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []*mailparse.Message
	for _, m := range msgs {
		// Read as the requester's mail client would: not as our own mail.
		p, err := mailparse.Parse(m.FindBodySection(section), mailparse.Limits{}, mailparse.Own{LoopHeader: "X-Not-Ours"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// waitInbox waits until address's INBOX holds n messages.
func (r *mailRig) waitInbox(t *testing.T, address string, n int) []*mailparse.Message {
	t.Helper()
	var got []*mailparse.Message
	eventually(t, 30*time.Second, fmt.Sprintf("%d messages for %s", n, address), func() error {
		got = r.inbox(t, address)
		if len(got) < n {
			return fmt.Errorf("%d messages", len(got))
		}
		return nil
	})
	return got
}

func startMailRig(t *testing.T, mutate func(*config.Config)) *mailRig {
	t.Helper()
	ctx := context.Background()
	imapPort, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dc, err := localsvc.StartDovecot(ctx, localsvc.DovecotOptions{DataDir: filepath.Join(t.TempDir(), "dovecot"), IMAPPort: imapPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.Stop() })
	mb := config.Mailbox{Name: "support-" + fmt.Sprint(time.Now().UnixNano()), Address: "support@helpdesk.local",
		Host: "127.0.0.1", Port: dc.IMAPPort(), Security: "none", User: "support@helpdesk.local", Password: dc.Password(),
		Folder: "INBOX", Processed: "move", ProcessedFolder: "Processed", PollInterval: config.Duration(30 * time.Second)}
	cfg := env.cfg
	cfg.Mailboxes = []config.Mailbox{mb}
	if mutate != nil {
		mutate(&cfg)
	}
	mb = cfg.Mailboxes[0] // as mutate left it
	proc := intake.NewProcessor(env.store, env.ident, env.temporal, cfg, slog.Default())
	p := &intake.Poller{Mailbox: mb, Processor: proc, Store: env.store, Concurrency: 8}
	rctx, cancel := context.WithCancel(ctx)
	r := &mailRig{dovecot: dc, mailbox: mb, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = p.Run(rctx)
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *mailRig) stop() {
	r.cancel()
	<-r.done
}

// deliver hands raw to Dovecot for the help desk inbox, as the SMTP server
// of a real installation would.
func (r *mailRig) deliver(t *testing.T, raw string) {
	t.Helper()
	if err := r.dovecot.Deliver(context.Background(), "someone@example.org", []string{r.mailbox.Address}, []byte(raw)); err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

// mailOutcome waits until the message with Message-ID id is done.
func mailOutcome(t *testing.T, id string) store.Mail {
	t.Helper()
	var m store.Mail
	eventually(t, 30*time.Second, "message <"+id+"> processed", func() error {
		var err error
		m, err = env.store.MailByDedupeKey(context.Background(), "mid:"+strings.ToLower(id))
		if err != nil {
			return err
		}
		if m.Outcome == "processing" {
			return fmt.Errorf("still processing")
		}
		return nil
	})
	return m
}

// folderCount logs into the help desk mailbox and counts a folder's messages.
func (r *mailRig) folderCount(t *testing.T, folder string) uint32 {
	t.Helper()
	c, err := imapclient.DialInsecure(r.dovecot.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(r.mailbox.User, r.mailbox.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("status %s: %v", folder, err)
	}
	return *st.NumMessages
}

type mailHeaders map[string]string

// message builds a plain-text message with CRLF line ends.
func message(h mailHeaders, body string) string {
	var b strings.Builder
	for _, k := range []string{"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
		"X-Auto-Response-Suppress", "Precedence", "List-Id", "Content-Type"} {
		if v, ok := h[k]; ok {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if _, ok := h["Content-Type"]; !ok {
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n")
	}
	if _, ok := h["Date"]; !ok {
		b.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.String()
}

func ticketComments(t *testing.T, number int64) []string {
	t.Helper()
	rows, err := env.store.Pool().Query(context.Background(), `SELECT body FROM comments WHERE ticket_number = $1 ORDER BY seq`, number)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestMailBecomesTicketsAndComments walks the email channel's promises
// against a real Dovecot: a new message opens a ticket for a new requester
// account, a reply threads onto it without its quoted history, an
// out-of-office reply creates nothing, a subject tag from a stranger does
// not thread, a reused Message-ID with other content goes to quarantine, a
// 50 MB message is never fetched whole (bytes counted on the poller's IMAP
// connection) and is quarantined as its headers and the start of its body,
// listed and downloadable but not releasable, and the inbox is left empty
// with everything in Processed.
func TestMailBecomesTicketsAndComments(t *testing.T) {
	var conn *imapProxy
	r := startMailRig(t, func(c *config.Config) {
		conn = startIMAPProxy(t, c.Mailboxes[0].Host, c.Mailboxes[0].Port)
		c.Mailboxes[0].Port = conn.port()
	})
	stamp := time.Now().UnixNano()
	sender := fmt.Sprintf("dana.%d@customer.example", stamp)
	first := fmt.Sprintf("first.%d@customer.example", stamp)

	r.deliver(t, message(mailHeaders{"From": "Dana Ríos <" + sender + ">", "To": "support@helpdesk.local",
		"Subject": "VPN drops every 10 minutes", "Message-ID": "<" + first + ">"},
		"Hello,\n\nsince Monday my VPN disconnects every ten minutes.\n\nDana\n"))
	m := mailOutcome(t, first)
	if m.Outcome != "ticket" || m.TicketNumber == nil {
		t.Fatalf("new message: outcome %q ticket %v (%s), want a ticket", m.Outcome, m.TicketNumber, m.Reason)
	}
	number := *m.TicketNumber
	tk, err := env.store.Ticket(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Subject != "VPN drops every 10 minutes" || tk.Channel != "email" || !strings.Contains(tk.Description, "disconnects every ten minutes") {
		t.Errorf("ticket from mail: subject %q channel %q description %q", tk.Subject, tk.Channel, tk.Description)
	}
	u, err := env.ident.UserByEmail(context.Background(), sender)
	if err != nil {
		t.Fatalf("no requester account for %s: %v", sender, err)
	}
	if u.Role != "requester" || u.Name != "Dana Ríos" || tk.RequesterID == nil || *tk.RequesterID != u.ID {
		t.Errorf("requester account %+v; ticket requester %v", u, tk.RequesterID)
	}

	// The reply threads by In-Reply-To and loses its quoted history.
	reply := fmt.Sprintf("reply.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": sender, "To": "support@helpdesk.local", "Subject": "Re: VPN drops every 10 minutes",
		"Message-ID": "<" + reply + ">", "In-Reply-To": "<" + first + ">", "References": "<" + first + ">"},
		"It happened again at 10:32, on the office wifi too.\n\nOn Mon, 30 Nov 2026 at 09:00, Dana <"+sender+"> wrote:\n> Hello,\n> since Monday my VPN disconnects every ten minutes.\n"))
	m = mailOutcome(t, reply)
	if m.Outcome != "comment" || m.TicketNumber == nil || *m.TicketNumber != number {
		t.Fatalf("reply: outcome %q ticket %v (%s), want a comment on #%d", m.Outcome, m.TicketNumber, m.Reason, number)
	}
	comments := ticketComments(t, number)
	if len(comments) != 1 || comments[0] != "It happened again at 10:32, on the office wifi too." {
		t.Errorf("comments %q, want just the reply text", comments)
	}

	// An out-of-office reply to the same thread creates nothing.
	ooo := fmt.Sprintf("ooo.%d@customer.example", stamp)
	before := ticketCount(t)
	r.deliver(t, message(mailHeaders{"From": sender, "To": "support@helpdesk.local", "Subject": "Automatic reply: VPN drops every 10 minutes",
		"Message-ID": "<" + ooo + ">", "In-Reply-To": "<" + first + ">", "Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
		"I am out of the office until Monday.\n"))
	m = mailOutcome(t, ooo)
	if m.Outcome != "ignored" || m.Kind != "auto_reply" {
		t.Errorf("out-of-office: outcome %q kind %q, want ignored auto_reply", m.Outcome, m.Kind)
	}
	if n := ticketCount(t); n != before {
		t.Errorf("out-of-office created %d tickets", n-before)
	}
	if c := ticketComments(t, number); len(c) != 1 {
		t.Errorf("out-of-office added a comment: %q", c)
	}

	// A [#N] tag threads only for the requester or a participant.
	tagged := fmt.Sprintf("tag.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": sender, "To": "support@helpdesk.local", "Subject": fmt.Sprintf("Any news? [#%d]", number),
		"Message-ID": "<" + tagged + ">"}, "Is there any update?\n"))
	if m = mailOutcome(t, tagged); m.Outcome != "comment" || *m.TicketNumber != number {
		t.Errorf("tagged mail from the requester: outcome %q ticket %v, want a comment on #%d", m.Outcome, m.TicketNumber, number)
	}
	stranger := fmt.Sprintf("stranger.%d@elsewhere.example", stamp)
	r.deliver(t, message(mailHeaders{"From": "mallory." + fmt.Sprint(stamp) + "@elsewhere.example", "To": "support@helpdesk.local",
		"Subject": fmt.Sprintf("Re: [#%d]", number), "Message-ID": "<" + stranger + ">"}, "Let me in on this one.\n"))
	if m = mailOutcome(t, stranger); m.Outcome != "ticket" || m.TicketNumber == nil || *m.TicketNumber == number {
		t.Errorf("tagged mail from a stranger: outcome %q ticket %v, want a new ticket", m.Outcome, m.TicketNumber)
	}

	// The same Message-ID with other content goes to quarantine; the same
	// message again changes nothing.
	r.deliver(t, message(mailHeaders{"From": sender, "To": "support@helpdesk.local", "Subject": "Something else entirely",
		"Message-ID": "<" + first + ">"}, "Different words under a Message-ID already used.\n"))
	var reused store.Quarantined
	eventually(t, 30*time.Second, "reused Message-ID quarantined", func() error {
		items, err := env.store.ListQuarantine(context.Background(), 50, 0, false)
		if err != nil {
			return err
		}
		for _, q := range items {
			if q.Reason == intake.ReasonReusedMessageID && q.MessageID == first {
				reused = q
				return nil
			}
		}
		return fmt.Errorf("not in quarantine")
	})

	// A 50 MB message (over the default 25 MiB): its RFC822.SIZE is read
	// first, and only its header section and the first 64 KiB of its body
	// cross the connection; those are quarantined with the reason, listed
	// and downloadable, and a release is refused (a prefix is not the mail).
	big := fmt.Sprintf("big.%d@customer.example", stamp)
	line := "2026-12-04T10:32:00Z vpn: keepalive timeout, reconnecting\n"
	bigRaw := message(mailHeaders{"From": sender, "To": "support@helpdesk.local", "Subject": "Logs attached", "Message-ID": "<" + big + ">"},
		"Here are the logs:\n"+strings.Repeat(line, 50<<20/len(line)))
	r.deliver(t, bigRaw)
	q := listedInQuarantine(t, big, 60*time.Second)
	if q.Reason != "too_large" || q.From != sender || q.Size < int64(len(bigRaw)) || !q.Truncated {
		t.Errorf("quarantine entry %+v, want too_large, truncated, from %s, size ≥ %d", q, sender, len(bigRaw))
	}
	const wantDetail = "exceeds mail_max_message_bytes 26,214,400; kept headers and the first 64 KiB"
	if !strings.HasPrefix(q.Detail, "message of ") || !strings.HasSuffix(q.Detail, wantDetail) {
		t.Errorf("quarantine detail %q, want the size and %q", q.Detail, wantDetail)
	}
	if read := conn.fromServer.Load(); read > 2<<20 {
		t.Errorf("the poller read %d bytes from the IMAP server for a %d-byte message: it was fetched whole", read, len(bigRaw))
	} else {
		t.Logf("the poller read %d bytes from the IMAP server in all (the oversized message is %d bytes)", read, len(bigRaw))
	}
	res := call(t, env.baseURL, http.MethodGet, fmt.Sprintf("/api/v1/quarantine/%d/raw", q.ID), nil)
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "message/rfc822" || int64(len(res.body)) != q.StoredBytes ||
		!bytes.Contains(res.body, []byte("Message-ID: <"+big+">")) || !bytes.Contains(res.body, []byte("\r\n\r\nHere are the logs:\r\n")) ||
		len(res.body) > intake.KeptHeaderBytes+intake.KeptBodyBytes {
		t.Errorf("raw download: status %d, type %q, %d bytes (entry says %d kept)", res.status, res.header.Get("Content-Type"), len(res.body), q.StoredBytes)
	}
	res = call(t, env.baseURL, http.MethodPost, fmt.Sprintf("/api/v1/quarantine/%d/release", q.ID), nil)
	if res.status != http.StatusConflict || !strings.HasPrefix(res.header.Get("Content-Type"), "application/problem+json") ||
		!bytes.Contains(res.body, []byte("a prefix cannot be processed")) {
		t.Errorf("release of a truncated entry: status %d %q: %s, want 409 problem+json", res.status, res.header.Get("Content-Type"), res.body)
	}
	if _, err := env.store.MailByDedupeKey(context.Background(), "mid:"+big); err == nil {
		t.Error("the truncated message was processed")
	}
	if reused.ID == 0 {
		t.Error("reused Message-ID not quarantined")
	}

	// Every message left the inbox for Processed, and only after it was durable.
	eventually(t, 30*time.Second, "inbox emptied into Processed", func() error {
		if n := r.folderCount(t, "INBOX"); n != 0 {
			return fmt.Errorf("%d messages still in INBOX", n)
		}
		if n := r.folderCount(t, "Processed"); n != 7 {
			return fmt.Errorf("%d messages in Processed, want 7", n)
		}
		return nil
	})
	// The mail of the ticket, with the original bytes, for agents.
	res = call(t, env.baseURL, http.MethodGet, fmt.Sprintf("/api/v1/tickets/%d/mail", number), nil)
	if res.status != http.StatusOK || !bytes.Contains(res.body, []byte(first)) || !bytes.Contains(res.body, []byte(reply)) {
		t.Errorf("GET /tickets/%d/mail: %d %s", number, res.status, res.body)
	}
}

// listedInQuarantine waits until GET /api/v1/quarantine lists the message
// with Message-ID id, and returns its entry.
func listedInQuarantine(t *testing.T, id string, within time.Duration) quarantineItem {
	t.Helper()
	var q quarantineItem
	eventually(t, within, "<"+id+"> in GET /api/v1/quarantine", func() error {
		res := call(t, env.baseURL, http.MethodGet, "/api/v1/quarantine?limit=200", nil)
		if res.status != http.StatusOK {
			return fmt.Errorf("status %d: %s", res.status, res.body)
		}
		var list struct {
			Items []quarantineItem `json:"items"`
		}
		res.decode(t, &list)
		for _, it := range list.Items {
			if it.MessageID == id {
				q = it
				return nil
			}
		}
		return fmt.Errorf("not listed")
	})
	return q
}

type quarantineItem struct {
	ID          int64  `json:"id"`
	Reason      string `json:"reason"`
	Detail      string `json:"detail"`
	From        string `json:"from"`
	MessageID   string `json:"message_id"`
	Size        int64  `json:"size_bytes"`
	Truncated   bool   `json:"truncated"`
	StoredBytes int64  `json:"stored_bytes"`
}

// TestMailConversation is the email channel's round trip: a requester's
// mail opens a ticket and gets an acknowledgement threaded to it (tag in
// the subject, Auto-Submitted, Reply-To the help desk); the reply to the
// acknowledgement lands as a comment on the same ticket; an agent's public
// reply goes out as a personal mail in the same thread; an out-of-office
// answer creates and sends nothing; a sender asking for no automatic replies
// gets no acknowledgement.
func TestMailConversation(t *testing.T) {
	r := startMailRig(t, nil)
	r.startMailer(t, true)
	stamp := time.Now().UnixNano()
	alex := fmt.Sprintf("alex.%d@customer.example", stamp)
	first := fmt.Sprintf("conv.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": "Alex Kim <" + alex + ">", "To": r.mailbox.Address,
		"Subject": "Cannot log in to the portal", "Message-ID": "<" + first + ">"}, "My password stopped working this morning.\n"))
	m := mailOutcome(t, first)
	if m.Outcome != "ticket" {
		t.Fatalf("first mail: %s (%s)", m.Outcome, m.Reason)
	}
	number := *m.TicketNumber

	ack := r.waitInbox(t, alex, 1)[0]
	tag := fmt.Sprintf("[#%d]", number)
	if !strings.HasPrefix(ack.Subject, tag) || !strings.Contains(ack.Subject, "Cannot log in to the portal") {
		t.Errorf("acknowledgement subject %q, want %s and the ticket's subject", ack.Subject, tag)
	}
	if len(ack.InReplyTo) != 1 || ack.InReplyTo[0] != first || len(ack.References) == 0 || ack.References[0] != first {
		t.Errorf("acknowledgement In-Reply-To %v References %v, want the requester's message", ack.InReplyTo, ack.References)
	}
	if ack.From.Email != r.mailbox.Address || len(ack.ReplyTo) != 1 || ack.ReplyTo[0].Email != r.mailbox.Address {
		t.Errorf("acknowledgement From %v Reply-To %v", ack.From, ack.ReplyTo)
	}
	if ack.Kind != mailparse.KindAutoReply || !ack.SuppressAutoReply {
		t.Errorf("acknowledgement kind %s (%s): want it marked automatic", ack.Kind, ack.KindReason)
	}
	if !strings.Contains(ack.Text, fmt.Sprintf("ticket #%d", number)) {
		t.Errorf("acknowledgement text: %q", ack.Text)
	}

	// Replying to the acknowledgement, as a mail client does.
	reply := fmt.Sprintf("conv-reply.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": alex, "To": r.mailbox.Address, "Subject": "Re: " + ack.Subject,
		"Message-ID": "<" + reply + ">", "In-Reply-To": "<" + ack.MessageID + ">",
		"References": "<" + first + "> <" + ack.MessageID + ">"},
		"I also tried the reset link; it says the token expired.\n\nOn Fri, 4 Dec 2026 at 10:02, Help Desk <"+r.mailbox.Address+"> wrote:\n> we have received your request\n"))
	m = mailOutcome(t, reply)
	if m.Outcome != "comment" || *m.TicketNumber != number {
		t.Fatalf("reply to the acknowledgement: %s on %v (%s), want a comment on #%d", m.Outcome, m.TicketNumber, m.Reason, number)
	}
	if c := ticketComments(t, number); len(c) != 1 || c[0] != "I also tried the reset link; it says the token expired." {
		t.Errorf("comments %q", c)
	}

	// A reply with a file attached: the file becomes the ticket's attachment.
	shot := bytes.Repeat([]byte("\x89PNG fake pixels "), 2000)
	withFile := fmt.Sprintf("conv-file.%d@customer.example", stamp)
	r.deliver(t, "From: "+alex+"\r\nTo: "+r.mailbox.Address+"\r\nSubject: Re: "+ack.Subject+"\r\nMessage-ID: <"+withFile+">\r\n"+
		"In-Reply-To: <"+ack.MessageID+">\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is a screenshot of the error.\r\n"+
		"--b1\r\nContent-Type: image/png; name=\"screenshot.png\"\r\nContent-Disposition: attachment; filename=\"screenshot.png\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n"+base64.StdEncoding.EncodeToString(shot)+"\r\n--b1--\r\n")
	if m = mailOutcome(t, withFile); m.Outcome != "comment" || *m.TicketNumber != number {
		t.Fatalf("reply with a file: %s on %v (%s)", m.Outcome, m.TicketNumber, m.Reason)
	}
	res := call(t, env.baseURL, http.MethodGet, fmt.Sprintf("/api/v1/tickets/%d/attachments", number), nil)
	var files struct {
		Items []struct {
			Filename    string `json:"filename"`
			ContentType string `json:"content_type"`
			Size        int64  `json:"size"`
		} `json:"items"`
	}
	res.decode(t, &files)
	if len(files.Items) != 1 || files.Items[0].Filename != "screenshot.png" || files.Items[0].Size != int64(len(shot)) {
		t.Errorf("attachments of #%d: %s", number, res.body)
	}

	// An agent's public reply goes out, personal (no Auto-Submitted), in the thread.
	res = call(t, env.baseURL, http.MethodPost, fmt.Sprintf("/api/v1/tickets/%d/comments", number),
		[]byte(`{"body":"I have reset your password; please try again."}`))
	if res.status != http.StatusCreated {
		t.Fatalf("agent reply: %d %s", res.status, res.body)
	}
	got := r.waitInbox(t, alex, 2)
	out := got[1]
	if !strings.Contains(out.Text, "I have reset your password; please try again.") || out.Kind != mailparse.KindHuman {
		t.Errorf("agent reply mail: kind %s text %q", out.Kind, out.Text)
	}
	if len(out.InReplyTo) != 1 || out.InReplyTo[0] != withFile || !strings.HasPrefix(out.Subject, tag) {
		t.Errorf("agent reply In-Reply-To %v subject %q, want the requester's last message and %s", out.InReplyTo, out.Subject, tag)
	}

	// The agent's mail bounces (say the requester's mailbox moved): the
	// failure is noted on the ticket, for staff only, not opened as a ticket.
	dsn, err := os.ReadFile("../mailparse/testdata/dsn-bounce.eml")
	if err != nil {
		t.Fatal(err)
	}
	bounceID := fmt.Sprintf("dsn.%d@mx1.helpdesk.local", stamp)
	dsn = bytes.Replace(dsn, []byte("<ticket-42.abc@helpdesk.local>"), []byte("<"+out.MessageID+">"), 1)
	dsn = bytes.Replace(dsn, []byte("<20261204090214.5A6B72C0124@mx1.helpdesk.local>"), []byte("<"+bounceID+">"), 1)
	before := ticketCount(t)
	r.deliver(t, string(dsn))
	if m = mailOutcome(t, bounceID); m.Outcome != "bounce" || m.TicketNumber == nil || *m.TicketNumber != number {
		t.Errorf("bounce: outcome %s ticket %v (%s), want a note on #%d", m.Outcome, m.TicketNumber, m.Reason, number)
	}
	var note string
	var internal bool
	if err := env.store.Pool().QueryRow(context.Background(), `SELECT body, internal FROM comments WHERE ticket_number = $1
		ORDER BY seq DESC LIMIT 1`, number).Scan(&note, &internal); err != nil {
		t.Fatal(err)
	}
	if !internal || !strings.Contains(note, "Delivery failure to nosuchuser@example.org") || !strings.Contains(note, "5.1.1") {
		t.Errorf("bounce note (internal %v): %q", internal, note)
	}
	if n := ticketCount(t); n != before {
		t.Errorf("the bounce opened %d tickets", n-before)
	}

	// An out-of-office answer to the agent's mail: nothing created, nothing sent.
	ooo := fmt.Sprintf("conv-ooo.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": alex, "To": r.mailbox.Address, "Subject": "Automatic reply: " + out.Subject,
		"Message-ID": "<" + ooo + ">", "In-Reply-To": "<" + out.MessageID + ">", "Auto-Submitted": "auto-replied"},
		"I am out of the office.\n"))
	if m = mailOutcome(t, ooo); m.Outcome != "ignored" {
		t.Errorf("out-of-office: %s", m.Outcome)
	}

	// X-Auto-Response-Suppress: the ticket opens, no acknowledgement goes out.
	quiet := fmt.Sprintf("quiet.%d@customer.example", stamp)
	quietID := fmt.Sprintf("quiet.%d@customer.example", stamp+1)
	r.deliver(t, message(mailHeaders{"From": quiet, "To": r.mailbox.Address, "Subject": "Please no robots",
		"Message-ID": "<" + quietID + ">", "X-Auto-Response-Suppress": "All"}, "Just open a ticket.\n"))
	m = mailOutcome(t, quietID)
	if m.Outcome != "ticket" {
		t.Fatalf("quiet mail: %s", m.Outcome)
	}
	eventually(t, 30*time.Second, "acknowledgement of the quiet mail skipped", func() error {
		var state, reason string
		err := env.store.Pool().QueryRow(context.Background(), `SELECT email_state, email_reason FROM outbox
			WHERE ticket_number = $1 AND kind = 'ticket_created'`, *m.TicketNumber).Scan(&state, &reason)
		if err != nil {
			return err
		}
		if state != "skipped" || !strings.Contains(reason, "X-Auto-Response-Suppress") {
			return fmt.Errorf("state %s (%s)", state, reason)
		}
		return nil
	})
	// Settled: exactly the two mails to alex (acknowledgement, agent reply), none to quiet.
	time.Sleep(time.Second)
	if n := len(r.inbox(t, alex)); n != 2 {
		t.Errorf("%d mails to the requester, want 2 (acknowledgement and the agent's reply)", n)
	}
	if n := len(r.inbox(t, quiet)); n != 0 {
		t.Errorf("%d mails to the sender who asked for none", n)
	}
}

// TestMailFloodGoesToQuarantine: more mail from one sender than
// mail_rate_limit within mail_rate_window is kept in quarantine, not
// turned into tickets, and an admin can release it; a large message over
// the limit is kept as its headers and the start of its body only (in
// quarantine and in mail_raw), and cannot be released.
func TestMailFloodGoesToQuarantine(t *testing.T) {
	r := startMailRig(t, func(c *config.Config) { c.MailRateLimit = 3 })
	stamp := time.Now().UnixNano()
	flooder := fmt.Sprintf("flood.%d@spam.example", stamp)
	var ids []string
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("flood.%d.%d@spam.example", stamp, i)
		ids = append(ids, id)
		r.deliver(t, message(mailHeaders{"From": flooder, "To": r.mailbox.Address, "Subject": fmt.Sprintf("Buy now %d", i),
			"Message-ID": "<" + id + ">"}, "Limited offer.\n"))
	}
	var limited []quarantineItem
	eventually(t, 30*time.Second, "flood quarantined", func() error {
		// The inbox first: mail leaves it only once durable, so the
		// quarantine read after it is complete.
		if r.folderCount(t, "INBOX") != 0 {
			return fmt.Errorf("inbox not done")
		}
		limited = nil
		res := call(t, env.baseURL, http.MethodGet, "/api/v1/quarantine?limit=200", nil)
		var list struct {
			Items []quarantineItem `json:"items"`
		}
		res.decode(t, &list)
		for _, q := range list.Items {
			if q.From == flooder {
				limited = append(limited, q)
			}
		}
		return nil
	})
	var tickets int
	if err := env.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM mail_messages WHERE from_address = $1
		AND outcome = 'ticket'`, flooder).Scan(&tickets); err != nil {
		t.Fatal(err)
	}
	if tickets != 3 || len(limited) != 2 {
		t.Fatalf("%d tickets and %d quarantined from the flooder, want 3 and 2", tickets, len(limited))
	}
	for _, q := range limited {
		if q.Reason != intake.ReasonRateLimited {
			t.Errorf("quarantine reason %q, want %s", q.Reason, intake.ReasonRateLimited)
		}
	}
	res := call(t, env.baseURL, http.MethodPost, fmt.Sprintf("/api/v1/quarantine/%d/release", limited[0].ID), nil)
	if res.status != http.StatusOK {
		t.Fatalf("release: %d %s", res.status, res.body)
	}
	if m := mailOutcome(t, limited[0].MessageID); m.Outcome != "ticket" {
		t.Errorf("released flood message: %s", m.Outcome)
	}

	// One more, of 2 MB (within mail_max_message_bytes): over the limit, so
	// only its headers and first 64 KiB are stored.
	bigID := fmt.Sprintf("flood.%d.big@spam.example", stamp)
	bigRaw := message(mailHeaders{"From": flooder, "To": r.mailbox.Address, "Subject": "Buy now, with pictures",
		"Message-ID": "<" + bigID + ">"}, "Limited offer.\n"+strings.Repeat("SPAM SPAM SPAM SPAM SPAM SPAM SPAM SPAM SPAM SPAM\n", 2<<20/51))
	r.deliver(t, bigRaw)
	m := mailOutcome(t, bigID)
	if m.Outcome != "quarantined" || m.Size < int64(len(bigRaw)) {
		t.Fatalf("large flood message: outcome %s, size %d", m.Outcome, m.Size)
	}
	big := listedInQuarantine(t, bigID, 30*time.Second)
	if big.Reason != intake.ReasonRateLimited || !big.Truncated || big.Size < int64(len(bigRaw)) ||
		big.StoredBytes > intake.KeptHeaderBytes+intake.KeptBodyBytes || !strings.HasSuffix(big.Detail, "; kept headers and the first 64 KiB") {
		t.Errorf("large flood message in quarantine: %+v", big)
	}
	raw, err := env.store.MailRaw(context.Background(), m.ID)
	if err != nil || len(raw) > intake.KeptHeaderBytes+intake.KeptBodyBytes {
		t.Errorf("mail_raw of the large flood message: %d bytes, %v", len(raw), err)
	}
	res = call(t, env.baseURL, http.MethodPost, fmt.Sprintf("/api/v1/quarantine/%d/release", big.ID), nil)
	if res.status != http.StatusConflict || !bytes.Contains(res.body, []byte("once the rate window has passed")) {
		t.Errorf("release of the truncated flood message: %d %s", res.status, res.body)
	}
}

// TestMailRateCountIsSerializedPerSender: messages from one sender claimed
// all at once each see every earlier claim, so the counts the rate limit
// reads are exactly 0..n-1 — none of them misses another's row (the flake
// that let a whole flood through when the count ran after the claim).
func TestMailRateCountIsSerializedPerSender(t *testing.T) {
	stamp := time.Now().UnixNano()
	from := fmt.Sprintf("burst.%d@spam.example", stamp)
	const n = 24
	counts := make([]int, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			m, claimed, err := env.store.ClaimMail(context.Background(), store.NewMail{
				DedupeKey: fmt.Sprintf("mid:burst.%d.%d@spam.example", stamp, i), ContentHash: "h", Direction: "in",
				Mailbox: "burst", From: from, Subject: "burst", Kind: "human", Size: 1, RateWindow: time.Hour}, []byte("x"))
			if err != nil || !claimed {
				errs <- fmt.Errorf("claim %d: claimed %v, %v", i, claimed, err)
				return
			}
			counts[i] = m.SenderRecent
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	for _, c := range counts {
		if c < 0 || c >= n || seen[c] {
			t.Fatalf("earlier-message counts %v, want each of 0..%d once", counts, n-1)
		}
		seen[c] = true
	}
}

// TestMailToAnArchivedTicketOpensAFollowUp: a reply to a ticket whose reopen
// window has ended opens a new ticket linked to it, whether the row already
// says so or only the workflow has completed.
func TestMailToAnArchivedTicketOpensAFollowUp(t *testing.T) {
	r := startMailRig(t, nil)
	stamp := time.Now().UnixNano()
	for _, markRow := range []bool{true, false} {
		sender := fmt.Sprintf("old.%d.%v@customer.example", stamp, markRow)
		first := fmt.Sprintf("old.%d.%v@customer.example", stamp, markRow)
		r.deliver(t, message(mailHeaders{"From": sender, "To": r.mailbox.Address, "Subject": "Monitor flickers",
			"Message-ID": "<" + first + ">"}, "The monitor flickers.\n"))
		m := mailOutcome(t, first)
		if m.Outcome != "ticket" {
			t.Fatalf("first mail: %s", m.Outcome)
		}
		old := *m.TicketNumber
		archive(t, old, markRow)

		reply := "re-" + first
		r.deliver(t, message(mailHeaders{"From": sender, "To": r.mailbox.Address, "Subject": "Re: Monitor flickers",
			"Message-ID": "<" + reply + ">", "In-Reply-To": "<" + first + ">"}, "It is back, months later.\n\n> The monitor flickers.\n"))
		m = mailOutcome(t, reply)
		if m.Outcome != "followup" || m.TicketNumber == nil || *m.TicketNumber == old {
			t.Fatalf("reply to archived #%d (row marked %v): %s on %v (%s), want a new ticket", old, markRow, m.Outcome, m.TicketNumber, m.Reason)
		}
		tk, err := env.store.Ticket(context.Background(), *m.TicketNumber)
		if err != nil {
			t.Fatal(err)
		}
		if tk.LinkedTicket == nil || *tk.LinkedTicket != old || tk.Description != "It is back, months later." || tk.Channel != "email" {
			t.Errorf("follow-up ticket: linked %v description %q channel %q", tk.LinkedTicket, tk.Description, tk.Channel)
		}
	}
}

// TestBrowserReleasesQuarantinedMail: an admin finds an oversized message
// in the Quarantine screen, releases it, and on the ticket it opened finds
// the original message to download; a message kept only in part is shown
// as truncated, without a Release button (web/e2e/mail-admin.mjs).
func TestBrowserReleasesQuarantinedMail(t *testing.T) {
	r := startMailRig(t, func(c *config.Config) { c.MailMaxMessageBytes = 64 << 10 })
	stamp := time.Now().UnixNano()
	subject := fmt.Sprintf("Scanner logs %d", stamp)
	id := fmt.Sprintf("big-e2e.%d@customer.example", stamp)
	// Over 64 KiB with its headers, but a body within the 64 KiB the
	// quarantine keeps: kept whole, so releasable.
	r.deliver(t, message(mailHeaders{"From": "Sam Scanner <sam." + fmt.Sprint(stamp) + "@customer.example>", "To": r.mailbox.Address,
		"Subject": subject, "Message-ID": "<" + id + ">"}, "The scanner jams.\n"+strings.Repeat("scanner: paper jam at tray 2\n", 2183)))
	cut := fmt.Sprintf("Scanner dump %d", stamp)
	cutID := fmt.Sprintf("cut-e2e.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": "Sam Scanner <sam." + fmt.Sprint(stamp) + "@customer.example>", "To": r.mailbox.Address,
		"Subject": cut, "Message-ID": "<" + cutID + ">"}, "The whole dump.\n"+strings.Repeat("scanner: paper jam at tray 2\n", 8000)))
	eventually(t, 30*time.Second, "oversized mail quarantined", func() error {
		items, err := env.store.ListQuarantine(context.Background(), 50, 0, false)
		if err != nil {
			return err
		}
		found := 0
		for _, q := range items {
			if q.MessageID == id && !q.Truncated || q.MessageID == cutID && q.Truncated {
				found++
			}
		}
		if found < 2 {
			return fmt.Errorf("%d of 2 entries as expected", found)
		}
		return nil
	})

	number, _ := runE2E(t, "mail-admin.mjs", 3*time.Minute, "E2E_EMAIL=admin@example.com", "E2E_PASSWORD="+testPassword,
		"E2E_SUBJECT="+subject, "E2E_REASON=Too large", "E2E_TRUNCATED_SUBJECT="+cut)
	m := mailOutcome(t, id)
	if m.Outcome != "ticket" || m.TicketNumber == nil || *m.TicketNumber != number {
		t.Errorf("released message: outcome %s ticket %v, the page said #%d", m.Outcome, m.TicketNumber, number)
	}
}

// TestMailboxCategory: tickets opened from a mailbox get its category, and
// the category's routing applies to them like to any other ticket.
func TestMailboxCategory(t *testing.T) {
	cat := postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Billing by mail %d"}`, time.Now().UnixNano()), http.StatusCreated)
	id := int64(cat["id"].(float64))
	r := startMailRig(t, func(c *config.Config) { c.Mailboxes[0].CategoryID = &id })
	msgID := fmt.Sprintf("billing.%d@customer.example", time.Now().UnixNano())
	r.deliver(t, message(mailHeaders{"From": "payer@customer.example", "To": r.mailbox.Address, "Subject": "Invoice 4711 is wrong",
		"Message-ID": "<" + msgID + ">"}, "The amount is doubled.\n"))
	m := mailOutcome(t, msgID)
	if m.Outcome != "ticket" {
		t.Fatalf("outcome %s", m.Outcome)
	}
	tk, err := env.store.Ticket(context.Background(), *m.TicketNumber)
	if err != nil {
		t.Fatal(err)
	}
	if tk.CategoryID == nil || *tk.CategoryID != id {
		t.Errorf("ticket from the billing mailbox has category %v, want %d", tk.CategoryID, id)
	}
}

// TestMailNotificationsOff: with enable_email_notifications off nothing is
// mailed, and each notification says why.
func TestMailNotificationsOff(t *testing.T) {
	r := startMailRig(t, nil)
	r.startMailer(t, false)
	sender := fmt.Sprintf("nomail.%d@customer.example", time.Now().UnixNano())
	r.deliver(t, message(mailHeaders{"From": sender, "To": r.mailbox.Address, "Subject": "Quiet please",
		"Message-ID": "<" + sender + ">"}, "No acknowledgement expected.\n"))
	m := mailOutcome(t, sender)
	eventually(t, 30*time.Second, "acknowledgement skipped", func() error {
		var state, reason string
		if err := env.store.Pool().QueryRow(context.Background(), `SELECT email_state, email_reason FROM outbox
			WHERE ticket_number = $1 AND kind = 'ticket_created'`, *m.TicketNumber).Scan(&state, &reason); err != nil {
			return err
		}
		if state != "skipped" || reason != "enable_email_notifications is off" {
			return fmt.Errorf("%s (%s)", state, reason)
		}
		return nil
	})
	if n := len(r.inbox(t, sender)); n != 0 {
		t.Errorf("%d mails sent with notifications off", n)
	}
}

// TestMailRetriedWhileTheServerRefusesForNow: an SMTP server answering 4xx
// (here: its mailbox store is down for the first two attempts) gets the
// acknowledgement again with backoff until it takes it; exactly one copy
// arrives.
func TestMailRetriedWhileTheServerRefusesForNow(t *testing.T) {
	r := startMailRig(t, nil)
	var mu sync.Mutex
	attempts := 0
	r.startMailerVia(t, true, func(ctx context.Context, from string, to []string, raw []byte) error {
		mu.Lock()
		attempts++
		n := attempts
		mu.Unlock()
		if n <= 2 {
			return fmt.Errorf("mail store unavailable (attempt %d)", n)
		}
		return r.dovecot.Deliver(ctx, from, to, raw)
	})
	sender := fmt.Sprintf("retry.%d@customer.example", time.Now().UnixNano())
	r.deliver(t, message(mailHeaders{"From": sender, "To": r.mailbox.Address, "Subject": "Printer offline",
		"Message-ID": "<" + sender + ">"}, "It says offline.\n"))
	m := mailOutcome(t, sender)
	got := r.waitInbox(t, sender, 1)
	if !strings.HasPrefix(got[0].Subject, fmt.Sprintf("[#%d]", *m.TicketNumber)) {
		t.Errorf("acknowledgement subject %q", got[0].Subject)
	}
	var state string
	var tries int
	if err := env.store.Pool().QueryRow(context.Background(), `SELECT email_state, attempts FROM outbox
		WHERE ticket_number = $1 AND kind = 'ticket_created'`, *m.TicketNumber).Scan(&state, &tries); err != nil {
		t.Fatal(err)
	}
	if state != "sent" || tries != 2 {
		t.Errorf("outbox row: %s after %d failed attempts, want sent after 2", state, tries)
	}
	time.Sleep(time.Second)
	if n := len(r.inbox(t, sender)); n != 1 {
		t.Errorf("%d copies arrived, want 1", n)
	}
}

package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/intake"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/workflows"
)

// trustedMX is the authserv-id of the "receiving mail server" in these
// tests: the mailbox believes its Authentication-Results.
const trustedMX = "mx.helpdesk.test"

type commentRow struct {
	body       string
	internal   bool
	unverified bool
	authorID   *int64
}

func commentRows(t *testing.T, number int64) []commentRow {
	t.Helper()
	rows, err := env.store.Pool().Query(context.Background(), `SELECT body, internal, unverified_sender, author_id
		FROM comments WHERE ticket_number = $1 ORDER BY seq`, number)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []commentRow
	for rows.Next() {
		var c commentRow
		if err := rows.Scan(&c.body, &c.internal, &c.unverified, &c.authorID); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// mailTicket has from open a ticket by mail and returns its number.
func (r *mailRig) mailTicket(t *testing.T, from, messageID, subject, body string) int64 {
	t.Helper()
	r.deliver(t, message(mailHeaders{"From": from, "To": r.mailbox.Address, "Subject": subject, "Message-ID": "<" + messageID + ">"}, body))
	m := mailOutcome(t, messageID)
	if m.Outcome != "ticket" {
		t.Fatalf("mail from %s: %s (%s), want a ticket", from, m.Outcome, m.Reason)
	}
	return *m.TicketNumber
}

// num shows a ticket number that may be missing.
func num(p *int64) any {
	if p == nil {
		return "no ticket"
	}
	return *p
}

func outboxKinds(t *testing.T, number int64, kind string) int {
	t.Helper()
	var n int
	if err := env.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE ticket_number = $1 AND kind = $2`,
		number, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSpoofedStaffMailHasNoStaffPowers is the attack of issue 18: anyone
// can write a mail "From: agent@example.com" answering a ticket. Without
// proof from the receiving mail server (no Authentication-Results, a
// forged one below the server's own, or one from another server) it must
// not become the agent's public reply and must not be mailed on to the
// requester; it stays a participant's comment, flagged as unverified in
// the API. The same mail authenticated (DMARC pass from the trusted
// server) is the agent's reply, mailed on; to a ticket outside the
// agent's teams it is refused (quarantine); a mailbox with trust_sender
// believes its senders; a mailbox with unverified_staff: quarantine keeps
// the spoof in quarantine.
func TestSpoofedStaffMailHasNoStaffPowers(t *testing.T) {
	ctx := context.Background()
	r := startMailRig(t, func(c *config.Config) { c.MailAuthservID = trustedMX })
	r.startMailer(t, true)
	stamp := time.Now().UnixNano()
	agent := env.users["agent"]
	rae := fmt.Sprintf("rae.%d@customer.example", stamp)
	number := r.mailTicket(t, rae, fmt.Sprintf("jam.%d@customer.example", stamp), "Printer jams", "The printer on floor 2 jams on every page.\n")
	ack := r.waitInbox(t, rae, 1)[0]
	// The ticket is the agent's team's, and the agent has answered once in
	// the web UI, so they take part in it.
	setTeam(t, number, "Support")
	res := login(t, agent.Email, testPassword).do(t, http.MethodPost, fmt.Sprintf("/api/v1/tickets/%d/comments", number),
		`{"body":"Which tray do you print from?"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("agent's comment: %d %s", res.status, res.body)
	}
	r.waitInbox(t, rae, 2)

	subject := fmt.Sprintf("Re: [#%d] Printer jams", number)
	phish := "Please confirm your password at https://evil.example/login so I can fix the printer."
	for i, spoof := range []struct{ name, auth string }{
		{"no Authentication-Results", ""},
		{"a forged pass below the server's own fail", "Authentication-Results: " + trustedMX + "; spf=softfail smtp.mailfrom=evil.example; dmarc=fail header.from=example.com\r\n" +
			"Authentication-Results: " + trustedMX + "; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n"},
		{"a pass from another server", "Authentication-Results: mx.attacker.example; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n"},
	} {
		id := fmt.Sprintf("spoof%d.%d@evil.example", i, stamp)
		r.deliver(t, spoof.auth+message(mailHeaders{"From": "Agent <" + agent.Email + ">", "To": r.mailbox.Address, "Subject": subject,
			"Message-ID": "<" + id + ">", "In-Reply-To": "<" + ack.MessageID + ">"}, phish+"\n"))
		m := mailOutcome(t, id)
		if m.Outcome != "comment" || m.TicketNumber == nil || *m.TicketNumber != number || !strings.Contains(m.Reason, "unverified sender") {
			t.Errorf("spoof with %s: %s on %v (%s), want an unverified participant's comment on #%d", spoof.name, m.Outcome, num(m.TicketNumber), m.Reason, number)
		}
	}
	// A spoof that threads nowhere would open a ticket in the agent's name: quarantine.
	loose := fmt.Sprintf("loose.%d@evil.example", stamp)
	before := ticketCount(t)
	r.deliver(t, message(mailHeaders{"From": agent.Email, "To": r.mailbox.Address, "Subject": "Urgent: everyone reset passwords",
		"Message-ID": "<" + loose + ">"}, phish+"\n"))
	if m := mailOutcome(t, loose); m.Outcome != intake.OutcomeQuarantined || !strings.HasPrefix(m.Reason, intake.ReasonUnverifiedSender) {
		t.Errorf("unthreaded spoof: %s (%s), want quarantine as %s", m.Outcome, m.Reason, intake.ReasonUnverifiedSender)
	}
	if n := ticketCount(t); n != before {
		t.Errorf("the spoof opened %d tickets", n-before)
	}

	cs := commentRows(t, number)
	if len(cs) != 4 || cs[0].unverified {
		t.Fatalf("comments on #%d: %+v, want the agent's and three flagged ones", number, cs)
	}
	for _, c := range cs[1:] {
		if !c.unverified || c.internal || c.body != phish || c.authorID == nil || *c.authorID != agent.ID {
			t.Errorf("spoofed comment %+v, want it flagged unverified_sender", c)
		}
	}
	if n := outboxKinds(t, number, workflows.OutboxAgentReply); n != 1 {
		t.Errorf("%d agent replies queued for the requester, want 1 (the web UI's)", n)
	}
	res = call(t, env.baseURL, http.MethodGet, fmt.Sprintf("/api/v1/tickets/%d/history", number), nil)
	var hist struct {
		Items []struct {
			Comment *struct {
				Body             string `json:"body"`
				UnverifiedSender bool   `json:"unverified_sender"`
			} `json:"comment"`
		} `json:"items"`
	}
	res.decode(t, &hist)
	flagged := 0
	for _, it := range hist.Items {
		if it.Comment != nil && it.Comment.UnverifiedSender {
			flagged++
		}
	}
	if flagged != 3 {
		t.Errorf("history shows %d comments as unverified_sender, want 3: %s", flagged, res.body)
	}

	// The agent's genuine mail, authenticated by the trusted server, is
	// their reply and goes to the requester.
	genuine := fmt.Sprintf("genuine.%d@example.com", stamp)
	r.deliver(t, "Authentication-Results: "+trustedMX+"; spf=pass smtp.mailfrom=agent@example.com;\r\n\tdkim=pass (good signature) header.d=example.com header.s=s1;\r\n\tdmarc=pass (p=reject) header.from=example.com\r\n"+
		message(mailHeaders{"From": "Agent <" + agent.Email + ">", "To": r.mailbox.Address, "Subject": subject,
			"Message-ID": "<" + genuine + ">", "In-Reply-To": "<" + ack.MessageID + ">"},
			"Tray 2 had a torn sheet in it; it prints again.\n\nOn Mon, Rae wrote:\n> The printer jams\n"))
	if m := mailOutcome(t, genuine); m.Outcome != "comment" || *m.TicketNumber != number || strings.Contains(m.Reason, "unverified") {
		t.Fatalf("authenticated agent mail: %s on %v (%s)", m.Outcome, num(m.TicketNumber), m.Reason)
	}
	if cs := commentRows(t, number); len(cs) != 5 || cs[4].unverified || cs[4].authorID == nil || *cs[4].authorID != agent.ID {
		t.Errorf("comments after the authenticated mail: %+v", cs)
	}
	got := r.waitInbox(t, rae, 3)
	if !strings.Contains(got[2].Text, "Tray 2 had a torn sheet in it") {
		t.Errorf("third mail to the requester: %q, want the agent's authenticated reply", got[2].Text)
	}

	// Authenticated, but to a ticket of another team: refused like the API.
	finance := r.mailTicket(t, fmt.Sprintf("sam.%d@customer.example", stamp), fmt.Sprintf("invoice.%d@customer.example", stamp),
		"Invoice 42 is wrong", "The amount is off by 10.\n")
	setTeam(t, finance, "Finance")
	oos := fmt.Sprintf("oos.%d@example.com", stamp)
	r.deliver(t, "Authentication-Results: "+trustedMX+"; dmarc=pass header.from=example.com\r\n"+
		message(mailHeaders{"From": agent.Email, "To": r.mailbox.Address, "Subject": fmt.Sprintf("Re: [#%d] Invoice 42 is wrong", finance),
			"Message-ID": "<" + oos + ">"}, "I have refunded you 1000.\n"))
	if m := mailOutcome(t, oos); m.Outcome != intake.OutcomeQuarantined || !strings.HasPrefix(m.Reason, intake.ReasonOutOfScope) {
		t.Errorf("authenticated mail to another team's ticket: %s (%s), want quarantine as %s", m.Outcome, m.Reason, intake.ReasonOutOfScope)
	}
	if cs := commentRows(t, finance); len(cs) != 0 {
		t.Errorf("comments on the Finance ticket: %+v", cs)
	}

	// The same processor on other mailboxes (the IMAP side is the same):
	// trust_sender believes the spoof; unverified_staff: quarantine keeps it.
	cfg := env.cfg
	cfg.MailAuthservID = trustedMX
	proc := intake.NewProcessor(env.store, env.ident, env.temporal, cfg, slog.Default())
	relay := r.mailbox
	relay.TrustSender = true
	viaRelay := fmt.Sprintf("relay.%d@example.com", stamp)
	out, err := proc.Process(ctx, relay, []byte(message(mailHeaders{"From": agent.Email, "To": r.mailbox.Address, "Subject": subject,
		"Message-ID": "<" + viaRelay + ">"}, "Sent through the internal relay.\n")), "")
	if err != nil || out.Outcome != "comment" || out.Ticket != number || out.UnverifiedSender {
		t.Errorf("trust_sender mailbox: %+v, %v; want the agent's comment on #%d", out, err, number)
	}
	strict := r.mailbox
	strict.UnverifiedStaff = config.UnverifiedStaffQuarantine
	out, err = proc.Process(ctx, strict, []byte(message(mailHeaders{"From": agent.Email, "To": r.mailbox.Address, "Subject": subject,
		"Message-ID": "<" + fmt.Sprintf("strict.%d@evil.example", stamp) + ">"}, phish+"\n")), "")
	if err != nil || out.Outcome != intake.OutcomeQuarantined || !strings.HasPrefix(out.Reason, intake.ReasonUnverifiedSender) {
		t.Errorf("unverified_staff quarantine: %+v, %v", out, err)
	}
	r.waitInbox(t, rae, 4) // the relayed reply
	if cs := commentRows(t, number); len(cs) != 6 {
		t.Errorf("%d comments on #%d, want 6", len(cs), number)
	}
	// Settled: the requester got the web reply, the authenticated reply
	// and the relayed one besides the acknowledgement, none of the spoofs.
	time.Sleep(time.Second)
	for _, msg := range r.inbox(t, rae) {
		if strings.Contains(msg.Text, "evil.example") {
			t.Errorf("a spoof was mailed to the requester: %q", msg.Text)
		}
	}
	if n := outboxKinds(t, number, workflows.OutboxAgentReply); n != 3 {
		t.Errorf("%d agent replies queued, want 3", n)
	}
}

var verpRe = regexp.MustCompile(`^support\+bounce-(\d+)-(\d+)-([0-9a-f]{20})@helpdesk\.local$`)

// TestForgedBounceIgnored: a delivery report is believed only when it
// comes back to the signed return path of mail the help desk sent, or
// quotes that mail's signed Message-ID. Reports naming a guessed
// old-style Message-ID (even one recorded for the ticket), a signed one
// with a wrong HMAC, or a return path with a wrong HMAC write nothing on
// the ticket; a genuine one still writes the note.
func TestForgedBounceIgnored(t *testing.T) {
	ctx := context.Background()
	r := startMailRig(t, nil)
	var mu sync.Mutex
	envelopeFrom := map[string]string{}
	r.startMailerVia(t, true, func(ctx context.Context, from string, to []string, raw []byte) error {
		mu.Lock()
		for _, rcpt := range to {
			envelopeFrom[strings.ToLower(rcpt)] = from
		}
		mu.Unlock()
		return r.dovecot.Deliver(ctx, from, to, raw)
	})
	stamp := time.Now().UnixNano()
	lee := fmt.Sprintf("lee.%d@customer.example", stamp)
	number := r.mailTicket(t, lee, fmt.Sprintf("vpn.%d@customer.example", stamp), "VPN certificate expired", "My VPN says the certificate expired.\n")
	ack := r.waitInbox(t, lee, 1)[0]
	mu.Lock()
	returnPath := envelopeFrom[lee]
	mu.Unlock()
	mm := verpRe.FindStringSubmatch(returnPath)
	if mm == nil || mm[1] != fmt.Sprint(number) {
		t.Fatalf("envelope sender of the acknowledgement %q, want support+bounce-%d-<outbox>-<hmac>@helpdesk.local", returnPath, number)
	}
	outboxID := mm[2]
	if !strings.HasPrefix(ack.MessageID, fmt.Sprintf("ticket-%d.n%s.", number, outboxID)) {
		t.Errorf("acknowledgement Message-ID %q, want ticket-%d.n%s.<hmac>@…", ack.MessageID, number, outboxID)
	}
	// Mail sent before signing had ids like this one, recorded for the
	// ticket: they still thread replies, but prove nothing in a bounce.
	oldStyle := fmt.Sprintf("ticket-%d.n%s@helpdesk.local", number, outboxID)
	if _, _, err := env.store.ClaimMail(ctx, store.NewMail{DedupeKey: "mid:" + oldStyle, ContentHash: "out:" + oldStyle, Direction: "out",
		MessageID: oldStyle, From: r.mailbox.Address, Subject: "[#1] old", Kind: "notification", TicketNumber: &number}, []byte("old")); err != nil {
		t.Fatal(err)
	}
	reply := fmt.Sprintf("vpn-reply.%d@customer.example", stamp)
	r.deliver(t, message(mailHeaders{"From": lee, "To": r.mailbox.Address, "Subject": "Re: old mail", "Message-ID": "<" + reply + ">",
		"In-Reply-To": "<" + oldStyle + ">"}, "Still broken.\n"))
	if m := mailOutcome(t, reply); m.Outcome != "comment" || *m.TicketNumber != number {
		t.Errorf("reply to an old-style Message-ID: %s on %v, want a comment on #%d", m.Outcome, num(m.TicketNumber), number)
	}

	template, err := os.ReadFile("../mailparse/testdata/dsn-bounce.eml")
	if err != nil {
		t.Fatal(err)
	}
	dsn := func(id, to, original string) string {
		b := bytes.Replace(template, []byte("<20261204090214.5A6B72C0124@mx1.helpdesk.local>"), []byte("<"+id+">"), 1)
		b = bytes.Replace(b, []byte("To: support@helpdesk.local"), []byte("To: "+to), 1)
		return string(bytes.Replace(b, []byte("<ticket-42.abc@helpdesk.local>"), []byte("<"+original+">"), 1))
	}
	badMAC := ack.MessageID[:strings.Index(ack.MessageID, "@")-4] + "0000" + ack.MessageID[strings.Index(ack.MessageID, "@"):]
	if badMAC == ack.MessageID {
		badMAC = strings.Replace(badMAC, "0000@", "1111@", 1)
	}
	for i, f := range []struct{ name, to, original string }{
		{"a guessed old-style Message-ID", r.mailbox.Address, oldStyle},
		{"a signed Message-ID with a wrong HMAC", r.mailbox.Address, badMAC},
		{"a return path with a wrong HMAC", fmt.Sprintf("support+bounce-%d-%s-%s@helpdesk.local", number, outboxID, strings.Repeat("ab", 10)), oldStyle},
	} {
		id := fmt.Sprintf("forged%d.%d@mx.evil.example", i, stamp)
		r.deliver(t, dsn(id, f.to, f.original))
		if m := mailOutcome(t, id); m.Outcome != "ignored" || m.TicketNumber != nil || !strings.Contains(m.Reason, "unverified delivery failure") {
			t.Errorf("forged bounce with %s: %s on %v (%s), want ignored as unverified", f.name, m.Outcome, num(m.TicketNumber), m.Reason)
		}
	}
	if cs := commentRows(t, number); len(cs) != 1 {
		t.Errorf("comments after the forged bounces: %+v, want only the requester's reply", cs)
	}

	// A genuine report comes back to the return path (the original's
	// Message-ID lost on the way): the note is written as before.
	genuine := fmt.Sprintf("dsn.%d@mx1.helpdesk.local", stamp)
	r.deliver(t, dsn(genuine, returnPath, "mangled-by-a-relay@relay.example"))
	if m := mailOutcome(t, genuine); m.Outcome != "bounce" || m.TicketNumber == nil || *m.TicketNumber != number || !strings.Contains(m.Reason, "return path") {
		t.Errorf("genuine bounce: %s on %v (%s), want a note on #%d", m.Outcome, num(m.TicketNumber), m.Reason, number)
	}
	cs := commentRows(t, number)
	if len(cs) != 2 || !cs[1].internal || !strings.Contains(cs[1].body, "Delivery failure to nosuchuser@example.org") {
		t.Errorf("comments after the genuine bounce: %+v", cs)
	}
}

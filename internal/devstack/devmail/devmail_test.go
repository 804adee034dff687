package devmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
)

// TestDevmail sends mail through the SMTP server into a real private Dovecot
// and reads it back over IMAP.
func TestDevmail(t *testing.T) {
	ctx := context.Background()
	dc := startDovecot(t)
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	srv, err := Start(ctx, Options{Addr: "127.0.0.1:0", Deliver: dc.Deliver, Log: log})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer srv.Close()

	from := "agent@helpdesk.local"
	to := []string{"support@helpdesk.local", "alice@example.com"}
	raw := []byte("From: Agent <agent@helpdesk.local>\r\nTo: support@helpdesk.local, alice@example.com\r\n" +
		"Subject: Ticket #42 updated\r\nMessage-ID: <n1@helpdesk.local>\r\n\r\nHello,\r\n.a line starting with a dot\r\n")
	if err := send(srv.Addr(), nil, from, to, bytes.NewReader(raw)); err != nil {
		t.Fatalf("send: %v", err)
	}
	want := append([]byte("Return-Path: <"+from+">\r\n"), raw...)
	for _, rcpt := range to {
		msgs := fetchInbox(t, dc, rcpt)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages, want 1", rcpt, len(msgs))
		}
		if got := msgs[0].FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(got, want) {
			t.Errorf("%s: got\n%q\nwant\n%q", rcpt, got, want)
		}
	}

	// A client that insists on AUTH PLAIN gets in with any credentials; a
	// 30 MB message goes through.
	big := bigMessage(30 << 20)
	if err := send(srv.Addr(), sasl.NewPlainClient("", "whoever", "whatever"), from, []string{"bob@example.com"}, bytes.NewReader(big)); err != nil {
		t.Fatalf("send 30 MB with AUTH PLAIN: %v", err)
	}
	msgs := fetchInbox(t, dc, "bob@example.com")
	if len(msgs) != 1 || msgs[0].RFC822Size != int64(len("Return-Path: <"+from+">\r\n")+len(big)) {
		t.Fatalf("bob: %d messages (want 1 of %d bytes plus Return-Path)", len(msgs), len(big))
	}
	if got := msgs[0].FindBodySection(&imap.FetchItemBodySection{}); !bytes.HasSuffix(got, big) {
		t.Errorf("30 MB message changed on the way (%d bytes fetched)", len(got))
	}

	if err := srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := srv.Close(); err != nil { // idempotent
		t.Errorf("second close: %v", err)
	}
}

// TestDeliverFailure: when Deliver fails the client gets a temporary error,
// so it keeps the message and retries.
func TestDeliverFailure(t *testing.T) {
	var calls atomic.Int32
	srv, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0",
		Deliver: func(ctx context.Context, from string, to []string, raw []byte) error {
			calls.Add(1)
			return errors.New("mailbox store unavailable\nsecond line")
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = send(srv.Addr(), nil, "a@example.com", []string{"b@example.com", "c@example.com"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code < 400 || se.Code > 499 || !se.Temporary() {
		t.Fatalf("send with failing Deliver: %v (%T), want a 4xx SMTP error", err, err)
	}
	t.Logf("client got: %v", err)
	if n := calls.Load(); n != 1 {
		t.Errorf("Deliver called %d times for one message, want 1", n)
	}
}

// TestLimits: oversized messages are refused permanently, and the server
// listens on loopback only.
func TestLimits(t *testing.T) {
	srv, err := Start(context.Background(), Options{
		Addr:            "127.0.0.1:0",
		MaxMessageBytes: 1000,
		Deliver:         func(context.Context, string, []string, []byte) error { return nil },
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = send(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: x\r\n\r\n"+strings.Repeat("y", 2000)+"\r\n"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("oversized message: %v, want 552", err)
	}

	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:25", "example.com:25"} {
		_, err := Start(context.Background(), Options{Addr: addr, Deliver: func(context.Context, string, []string, []byte) error { return nil }})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Start on %q: %v, want a refusal naming loopback", addr, err)
		}
	}
	if _, err := Start(context.Background(), Options{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("Start without Deliver succeeded")
	}
}

// send delivers one message over plaintext SMTP (smtp.SendMail insists on
// STARTTLS, which devmail does not offer).
func send(addr string, auth sasl.Client, from string, to []string, r io.Reader) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, r); err != nil {
		return err
	}
	return c.Quit()
}

func startDovecot(t *testing.T) *localsvc.Dovecot {
	t.Helper()
	ports := make([]int, 2)
	for i := range ports {
		p, err := localsvc.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	dc, err := localsvc.StartDovecot(context.Background(), localsvc.DovecotOptions{
		DataDir:  filepath.Join(t.TempDir(), "dovecot"),
		IMAPPort: ports[0],
		LMTPPort: ports[1],
	})
	if err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	t.Cleanup(func() {
		if err := dc.Stop(); err != nil {
			t.Errorf("stop dovecot: %v", err)
		}
	})
	return dc
}

// fetchInbox logs in as address and fetches its whole INBOX.
func fetchInbox(t *testing.T, dc *localsvc.Dovecot, address string) []*imapclient.FetchMessageBuffer {
	t.Helper()
	c, err := imapclient.DialInsecure(dc.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(address, dc.Password()).Wait(); err != nil {
		t.Fatalf("login %s: %v", address, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(all, &imap.FetchOptions{RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 200)
	b.WriteString("From: agent@helpdesk.local\r\nTo: bob@example.com\r\nSubject: attachment\r\n\r\n")
	line := []byte(strings.Repeat("ABCDEFGHIJKLMNOP", 4) + "\r\n")
	for i := 0; b.Len() < size; i++ {
		copy(line, fmt.Sprintf("%08d", i))
		b.Write(line)
	}
	return b.Bytes()
}

// testWriter sends the server's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

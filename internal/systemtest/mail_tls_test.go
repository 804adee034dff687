package systemtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/helpdesk/helpdesk/intake"
	"github.com/helpdesk/helpdesk/internal/config"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestIntakeOverTLSAndSTARTTLSWithoutIDLE runs the poller against go-imap's
// own IMAP server over implicit TLS and over STARTTLS, the server offering
// no IDLE (so the poller polls), and checks that a message appended there
// becomes a ticket and leaves the inbox; a certificate the poller does not
// trust makes no ticket.
func TestIntakeOverTLSAndSTARTTLSWithoutIDLE(t *testing.T) {
	cert, pool := selfSigned(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	const user, password = "support@tls.example", "s3cret"
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		// IMAP4rev1 with MOVE and UIDPLUS, but no IDLE.
		Caps:      imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		TLSConfig: serverTLS,
	})
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(plain) }()
	go func() { _ = srv.Serve(tlsLn) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := func(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

	appendMail := func(id string) {
		t.Helper()
		c, err := imapclient.DialStartTLS(plain.Addr().String(), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(user, password).Wait(); err != nil {
			t.Fatal(err)
		}
		raw := message(mailHeaders{"From": "tls-" + id, "To": user, "Subject": "Over TLS " + id, "Message-ID": "<" + id + ">"}, "Encrypted all the way.\n")
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	run := func(security string, p int, roots *x509.CertPool) (stop func()) {
		mb := config.Mailbox{Name: fmt.Sprintf("tls-%s-%d", security, time.Now().UnixNano()), Address: user, Host: "127.0.0.1",
			Port: p, Security: security, User: user, Password: password, Folder: "INBOX", Processed: "move",
			ProcessedFolder: "Processed", PollInterval: config.Duration(time.Second)}
		cfg := env.cfg
		cfg.Mailboxes = []config.Mailbox{mb}
		poller := &intake.Poller{Mailbox: mb, Processor: intake.NewProcessor(env.store, env.ident, env.temporal, cfg, slog.Default()),
			Store: env.store, TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = poller.Run(ctx) }()
		return func() { cancel(); <-done }
	}

	for _, c := range []struct {
		security string
		port     int
	}{{"tls", port(tlsLn)}, {"starttls", port(plain)}} {
		t.Run(c.security, func(t *testing.T) {
			id := fmt.Sprintf("%s.%d@tls.example", c.security, time.Now().UnixNano())
			appendMail(id)
			stop := run(c.security, c.port, pool)
			defer stop()
			if m := mailOutcome(t, id); m.Outcome != "ticket" {
				t.Errorf("over %s: outcome %s (%s)", c.security, m.Outcome, m.Reason)
			}
		})
	}

	// A server certificate the poller does not trust: no session, no ticket.
	id := fmt.Sprintf("untrusted.%d@tls.example", time.Now().UnixNano())
	appendMail(id)
	stop := run("tls", port(tlsLn), x509.NewCertPool())
	time.Sleep(3 * time.Second)
	stop()
	if _, err := env.store.MailByDedupeKey(context.Background(), "mid:"+id); err == nil {
		t.Error("a message was fetched over a connection with an untrusted certificate")
	}
}

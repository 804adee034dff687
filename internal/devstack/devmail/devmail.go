// Package devmail is the SMTP server of the local development and test
// stack: it takes any message from anyone to anyone, on loopback only and
// without authentication, and hands each one to a Deliver function, normally
// localsvc.Dovecot.Deliver. In `helpdesk dev` mail to support@helpdesk.local
// thereby lands in the Dovecot mailbox the intake watches, and notifications
// to anybody land in that person's mailbox (login: the address, password:
// helpdesk), so nothing ever leaves the machine.
//
// A message is acknowledged only after Deliver returned; if Deliver fails,
// the client gets a temporary (4xx) error and keeps the message to retry, so
// nothing is lost.
//
// With Options.AuthservID set, the server plays the receiving mail server
// of the help desk's sender trust (docs/email.md): it removes any
// Authentication-Results a sender wrote under that id and adds its own on
// top, with dmarc=pass for the From domain only when the session
// authenticated (AUTH PLAIN, any password) as the From address itself.
package devmail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// DefaultAddr is where Start listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:2525"

// DefaultMaxMessageBytes is the default message size limit (64 MiB).
const DefaultMaxMessageBytes = 64 << 20

// DeliverFunc stores one message for all its recipients (the SMTP envelope:
// from is the reverse path, "" for bounces).
type DeliverFunc func(ctx context.Context, from string, to []string, raw []byte) error

// Options configure the server.
type Options struct {
	// Addr is the TCP address to listen on, default 127.0.0.1:2525; port 0
	// picks a free one (see Server.Addr). The host must be a loopback IP
	// address or "localhost".
	Addr string
	// Deliver is called once per message with all its recipients. Required.
	Deliver DeliverFunc
	// MaxMessageBytes limits the size of a message (the SIZE extension);
	// default 64 MiB.
	MaxMessageBytes int64
	// DeliverTimeout bounds each Deliver call; default 5 minutes.
	DeliverTimeout time.Duration
	// Log receives one line per message and the server's errors; default
	// slog.Default().
	Log *slog.Logger
	// AuthservID, when set, makes the server stamp Authentication-Results
	// under this id (see the package documentation).
	AuthservID string
}

// AuthservID is the authserv-id `helpdesk dev` gives its SMTP listener
// and trusts on its dev inbox.
const AuthservID = "devmail.helpdesk.local"

// Server is a running SMTP server.
type Server struct {
	opts   Options
	smtp   *smtp.Server
	ln     net.Listener
	ctx    context.Context // for Deliver; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve returns

	closeOnce sync.Once
	closeErr  error
}

// Start listens on o.Addr and serves until Close. ctx bounds the startup
// only; its values (not its cancellation) are passed on to Deliver.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Deliver == nil {
		return nil, errors.New("devmail: Options.Deliver is required")
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.DeliverTimeout <= 0 {
		o.DeliverTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devmail: address %q: %w", o.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("devmail: refusing to listen on %q: the development SMTP server accepts mail from anyone without authentication and only listens on loopback (127.0.0.1, ::1 or localhost)", o.Addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devmail: listen on %s: %w", o.Addr, err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("devmail: %s resolved to the non-loopback address %s", o.Addr, ln.Addr())
	}

	s := &Server{opts: o, ln: ln, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Addr = ln.Addr().String()
	srv.Domain = "localhost"
	srv.MaxMessageBytes = o.MaxMessageBytes
	srv.MaxRecipients = 1000
	// Lenient like a real MTA: overlong lines (beyond RFC 5322's 998) are
	// taken rather than refused, up to a sanity bound.
	srv.MaxLineLength = 1 << 20
	srv.ReadTimeout = 10 * time.Minute
	srv.WriteTimeout = 10 * time.Minute
	// AUTH PLAIN over plaintext, with any credentials, for clients that
	// insist on authenticating; nothing requires it.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = slogPrinter{o.Log}
	s.smtp = srv
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			o.Log.Error("devmail: serve", "addr", srv.Addr, "err", err)
		}
	}()
	o.Log.Info("devmail: listening", "addr", srv.Addr)
	return s, nil
}

// Addr is the address the server listens on, e.g. 127.0.0.1:2525.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, ends open sessions (a message whose DATA was not
// acknowledged yet stays with its sender) and waits for the server loop.
// Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		err := s.smtp.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		<-s.done
		if err != nil {
			s.closeErr = fmt.Errorf("devmail: close: %w", err)
		}
	})
	return s.closeErr
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, remote: c.Conn().RemoteAddr().String()}, nil
}

type session struct {
	srv    *Server
	remote string
	from   string
	to     []string
	// user is who the session authenticated as ("" when it did not).
	user string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // e.g. smtp.ErrDataTooLarge: 552
	}
	log := ss.srv.opts.Log
	if id := ss.srv.opts.AuthservID; id != "" {
		raw = stampAuthResults(raw, id, ss.user)
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, ss.srv.opts.DeliverTimeout)
	defer cancel()
	t0 := time.Now()
	if err := ss.srv.opts.Deliver(ctx, ss.from, ss.to, raw); err != nil {
		log.Warn("devmail: delivery failed, told the client to retry", "from", ss.from, "to", ss.to, "bytes", len(raw), "client", ss.remote, "err", err)
		return &smtp.SMTPError{
			Code:         451,
			EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message:      "Local delivery failed, try again later: " + oneLine(err.Error()),
		}
	}
	log.Info("devmail: delivered", "from", ss.from, "to", ss.to, "bytes", len(raw), "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// oneLine makes s fit into a single SMTP reply line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// slogPrinter adapts slog to go-smtp's Logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.l.Warn("devmail: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (p slogPrinter) Println(v ...any) {
	p.l.Warn("devmail: " + strings.TrimSpace(fmt.Sprintln(v...)))
}

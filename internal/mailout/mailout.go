// Package mailout composes the help desk's outbound mail and sends it over
// SMTP. Every message carries a Message-ID the help desk records (so replies
// thread), In-Reply-To/References chaining it into the ticket's
// conversation, Reply-To the help desk address, the ticket tag [#N] in the
// subject, the X-Helpdesk-Loop header our intake recognises as our own, and
// on automatic mail (acknowledgements, status changes)
// Auto-Submitted: auto-generated (RFC 3834) plus X-Auto-Response-Suppress,
// so out-of-office robots do not answer it.
//
// Message-IDs and the envelope's return path carry an HMAC (see Signer), so
// the intake believes a bounce only when it names mail the help desk sent.
package mailout

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jhillyerd/enmime/v2"
)

// LoopHeader marks every message the help desk sends (intake ignores mail
// carrying it).
const LoopHeader = "X-Helpdesk-Loop"

// Message is one outbound mail.
type Message struct {
	From mail.Address // the help desk; also Reply-To
	To   mail.Address
	// Number is the ticket; Subject its subject (the tag is added here).
	Number  int64
	Subject string
	Text    string
	// MessageID (without <>), InReplyTo and References (ids without <>).
	MessageID  string
	InReplyTo  string
	References []string
	// Automatic mail (not written by a person) is marked as such.
	Automatic bool
	Date      time.Time
}

var tagRe = regexp.MustCompile(`\[#\d+\]\s*`)

// Subject is subject with the ticket tag in front (once).
func Subject(number int64, subject string) string {
	subject = strings.TrimSpace(tagRe.ReplaceAllString(subject, ""))
	return fmt.Sprintf("[#%d] %s", number, subject)
}

// Compose renders m as RFC 5322 bytes (UTF-8, quoted-printable where
// needed, RFC 2047 encoded headers).
func Compose(m Message) ([]byte, error) {
	if m.MessageID == "" || m.To.Address == "" || m.From.Address == "" {
		return nil, errors.New("mailout: message needs From, To and a Message-ID")
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	_, domain, _ := strings.Cut(m.From.Address, "@")
	b := enmime.Builder().
		From(m.From.Name, m.From.Address).
		To(m.To.Name, m.To.Address).
		ReplyTo(m.From.Name, m.From.Address).
		Subject(Subject(m.Number, m.Subject)).
		Date(date).
		Header("Message-ID", "<"+m.MessageID+">").
		Header(LoopHeader, domain).
		Text([]byte(m.Text))
	if m.InReplyTo != "" {
		b = b.Header("In-Reply-To", "<"+m.InReplyTo+">")
	}
	if refs := references(m.References, m.InReplyTo); refs != "" {
		b = b.Header("References", refs)
	}
	if m.Automatic {
		b = b.Header("Auto-Submitted", "auto-generated").Header("X-Auto-Response-Suppress", "All")
	}
	part, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("mailout: compose: %w", err)
	}
	var out bytes.Buffer
	if err := part.Encode(&out); err != nil {
		return nil, fmt.Errorf("mailout: encode: %w", err)
	}
	return out.Bytes(), nil
}

// references is the References header: the thread's ids (the first and the
// newest 9 when it is long, as RFC 5322 suggests trimming), ending with the
// one answered.
func references(ids []string, inReplyTo string) string {
	var out []string
	seen := map[string]bool{}
	for _, id := range append(append([]string{}, ids...), inReplyTo) {
		if id != "" && !seen[strings.ToLower(id)] {
			seen[strings.ToLower(id)] = true
			out = append(out, id)
		}
	}
	if len(out) > 10 {
		out = append(out[:1], out[len(out)-9:]...)
	}
	for i, id := range out {
		out[i] = "<" + id + ">"
	}
	return strings.Join(out, " ")
}

// SMTP is an outbound mail server.
type SMTP struct {
	Host     string
	Port     int
	Security string // tls, starttls or none (loopback only)
	User     string
	Password string
	// TLSConfig overrides the default (system roots, Host as server name).
	TLSConfig *tls.Config
}

// PermanentError is a refusal a retry cannot fix (5xx).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Send delivers raw from from to the recipients. A 5xx answer is a
// *PermanentError; anything else (4xx, network) is worth a retry.
func (s SMTP) Send(ctx context.Context, from string, to []string, raw []byte) error {
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	tlsConfig := s.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mailout: connect %s: %w", addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	}
	var c *smtp.Client
	switch s.Security {
	case "tls":
		c = smtp.NewClient(tls.Client(conn, tlsConfig))
	case "starttls":
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			conn.Close()
			return classify(fmt.Errorf("mailout: STARTTLS with %s: %w", addr, err))
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if s.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.User, s.Password)); err != nil {
			return classify(fmt.Errorf("mailout: authenticate to %s as %s: %w", addr, s.User, err))
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return classify(fmt.Errorf("mailout: send via %s: %w", addr, err))
	}
	_ = c.Quit()
	return nil
}

func classify(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return &PermanentError{Err: err}
	}
	return err
}

package mailout

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"sync"
)

// Signer makes and checks the HMAC parts of the help desk's outbound mail:
// the Message-ID "ticket-<N>.n<outbox id>.<mac>@<domain>" and the VERP
// return path "<local>+bounce-<N>-<outbox id>-<mac>@<domain>" (the local
// part and domain of mail_from; the mail server delivers the
// "+"-subaddress to the help desk mailbox). A delivery failure report
// either comes back to that return path or quotes that Message-ID; anyone
// can write a report, but without the key no one can name a ticket in it.
//
// Every worker and intake must use the same key: mail_secret, or when it is
// unset one random key kept in PostgreSQL (see Keyring).
type Signer struct{ key []byte }

// NewSigner returns a Signer with key (at least 32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("mailout: signing key shorter than 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// KeyFromSecret turns the mail_secret option into a signing key.
func KeyFromSecret(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("helpdesk mail signing key"))
	return m.Sum(nil)
}

// macHexLen: 80 bits of HMAC-SHA256, hex (local parts and ids may be
// case-folded on the way; hex survives that).
const macHexLen = 20

func (s *Signer) mac(purpose string, number, outboxID int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\x00%d\x00%d", purpose, number, outboxID)
	return hex.EncodeToString(m.Sum(nil))[:macHexLen]
}

// Ref names the outbound message a signed id or return path belongs to.
type Ref struct {
	Ticket int64
	Outbox int64
}

func domainOf(from mail.Address) (local, domain string) {
	local, domain, ok := strings.Cut(from.Address, "@")
	if !ok || domain == "" {
		return "helpdesk", "helpdesk.local"
	}
	return local, domain
}

// MessageID is the Message-ID (without <>) of outbox notification
// outboxID of ticket number: deterministic, so a retried send is the same
// message.
func (s *Signer) MessageID(number, outboxID int64, from mail.Address) string {
	_, domain := domainOf(from)
	return fmt.Sprintf("ticket-%d.n%d.%s@%s", number, outboxID, s.mac("message-id", number, outboxID), domain)
}

// ReturnPath is the envelope sender (MAIL FROM) of outbox notification
// outboxID of ticket number.
func (s *Signer) ReturnPath(number, outboxID int64, from mail.Address) string {
	local, domain := domainOf(from)
	return fmt.Sprintf("%s+bounce-%d-%d-%s@%s", local, number, outboxID, s.mac("return-path", number, outboxID), domain)
}

// CheckMessageID reports the message a Message-ID (without <>) names when
// it is one of ours with a valid HMAC. The unsigned ids of older versions
// ("ticket-<N>.n<id>@…") do not check: they still thread replies, but
// anyone can write them.
func (s *Signer) CheckMessageID(id string) (Ref, bool) {
	local, _, ok := strings.Cut(strings.ToLower(strings.TrimSpace(id)), "@")
	if !ok {
		return Ref{}, false
	}
	rest, ok := strings.CutPrefix(local, "ticket-")
	if !ok {
		return Ref{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || !strings.HasPrefix(parts[1], "n") {
		return Ref{}, false
	}
	return s.check("message-id", parts[0], parts[1][1:], parts[2])
}

// CheckReturnPath reports the message a bounce address names when it is a
// return path of ours with a valid HMAC.
func (s *Signer) CheckReturnPath(addr string) (Ref, bool) {
	local, _, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	if !ok {
		return Ref{}, false
	}
	i := strings.Index(local, "+bounce-")
	if i < 0 {
		return Ref{}, false
	}
	parts := strings.Split(local[i+len("+bounce-"):], "-")
	if len(parts) != 3 {
		return Ref{}, false
	}
	return s.check("return-path", parts[0], parts[1], parts[2])
}

func (s *Signer) check(purpose, number, outbox, mac string) (Ref, bool) {
	n, err1 := strconv.ParseInt(number, 10, 64)
	o, err2 := strconv.ParseInt(outbox, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 || o <= 0 || len(mac) != macHexLen {
		return Ref{}, false
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(purpose, n, o))) {
		return Ref{}, false
	}
	return Ref{Ticket: n, Outbox: o}, true
}

// SharedKeyName names the signing key among PostgreSQL's shared secrets
// (store.SharedSecret), used when mail_secret is unset.
const SharedKeyName = "mail-signing"

// Keyring hands out the Signer, loading its key on first use: from
// mail_secret when it is set, otherwise the random key every process
// shares through PostgreSQL (stored). A failed load is tried again on the
// next use.
type Keyring struct {
	mu     sync.Mutex
	signer *Signer
}

// Signer returns the signer, loading its key when needed.
func (k *Keyring) Signer(ctx context.Context, secret string, stored func(context.Context) ([]byte, error)) (*Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer != nil {
		return k.signer, nil
	}
	key := KeyFromSecret(secret)
	if secret == "" {
		var err error
		if key, err = stored(ctx); err != nil {
			return nil, fmt.Errorf("mailout: signing key: %w", err)
		}
	}
	s, err := NewSigner(key)
	if err != nil {
		return nil, err
	}
	k.signer = s
	return s, nil
}

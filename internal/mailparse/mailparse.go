package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
)

// Defaults applied when a Limits field is zero (or negative).
const (
	DefaultMaxMessageBytes    int64 = 25 << 20
	DefaultMaxAttachments           = 50
	DefaultMaxAttachmentBytes int64 = 20 << 20

	// DefaultLoopHeader is the header the help desk puts on its outbound mail.
	DefaultLoopHeader = "X-Helpdesk-Loop"

	// maxMultipartContainers bounds the number of "boundary=" parameters in
	// a message, i.e. the number (and depth) of multipart containers.
	maxMultipartContainers = 200
	// maxIDs bounds the number of ids kept from In-Reply-To / References.
	maxIDs = 200
)

// Rejection reasons.
const (
	ReasonTooLarge           = "too_large"
	ReasonTooManyAttachments = "too_many_attachments"
	ReasonAttachmentTooLarge = "attachment_too_large"
	ReasonUnparseable        = "unparseable"
	ReasonNoSender           = "no_sender"
)

// Limits bounds what Parse accepts. Zero fields take the defaults.
type Limits struct {
	MaxMessageBytes    int64 // whole raw message; default 25 MiB when 0
	MaxAttachments     int   // default 50 when 0
	MaxAttachmentBytes int64 // per attachment (decoded); default 20 MiB when 0
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxAttachments <= 0 {
		l.MaxAttachments = DefaultMaxAttachments
	}
	if l.MaxAttachmentBytes <= 0 {
		l.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	return l
}

// Address is a mailbox. Email is lower-cased and trimmed.
type Address struct{ Name, Email string }

// Attachment is a non-body MIME part, including inline images.
type Attachment struct {
	Filename, ContentType, ContentID string // ContentID without <>
	Inline                           bool
	Data                             []byte
}

// Kind classifies a message for the intake (see the package documentation
// for the rules).
type Kind string

// Kinds.
const (
	KindHuman     Kind = "human"
	KindAutoReply Kind = "auto_reply"
	KindBulk      Kind = "bulk"
	KindList      Kind = "list"
	KindBounce    Kind = "bounce"
	KindLoop      Kind = "loop"
)

// DSN holds delivery-status notification (RFC 3464) details.
type DSN struct {
	OriginalMessageID          string   // from the returned message/rfc822 or text/rfc822-headers part, without <>
	Recipients                 []string // Final-Recipient addresses
	Action, Status, Diagnostic string
}

// Message is the parsed form of one raw message.
type Message struct {
	MessageID   string   // without <>, "" when missing
	InReplyTo   []string // ids without <>
	References  []string // ids without <>, in order
	From        Address
	ReplyTo     []Address
	To, Cc      []Address
	Subject     string    // decoded (RFC 2047), whitespace-collapsed
	Date        time.Time // zero when missing/unparseable
	Text        string    // plain-text body (or derived from HTML), UTF-8
	HTML        string    // sanitized HTML body ("" when none)
	Reply       string    // Text with quoted history and signature removed
	Attachments []Attachment
	Kind        Kind
	KindReason  string
	Bounce      *DSN // set when Kind == KindBounce
	// SuppressAutoReply is true for every Kind but human, and when
	// X-Auto-Response-Suppress asks for it (All, OOF, AutoReply).
	SuppressAutoReply bool
	RawSHA256         string // hex of sha256(raw)
	// DedupeKey is "mid:" + lower-cased MessageID, or "sha256:" + RawSHA256
	// when there is no Message-ID.
	DedupeKey string
	// ContentHash is the hex sha256 of the raw message without trace
	// headers, with normalized line endings.
	ContentHash string
	// AuthResults are the Authentication-Results values, top-most first
	// (see internal/mailauth).
	AuthResults []string
	// AuthorDomain is the domain of the one address of the one From
	// header; "" when From is missing, repeated or lists several, so that
	// no sender authentication can apply to it.
	AuthorDomain string
	// Recipients are the addresses the message was delivered to, as the
	// receiving servers recorded them (Delivered-To, X-Original-To,
	// Envelope-To, X-Envelope-To) and as To names them; lower-cased. A
	// bounce comes back to the return path of the mail that failed.
	Recipients []string
}

// Own describes the help desk's own mail identity, for loop detection.
type Own struct {
	LoopHeader string   // header our outbound mail carries, default "X-Helpdesk-Loop"
	Addresses  []string // our own mailbox addresses (mail From them is Kind "loop")
}

// Rejection is returned by Parse for messages that must be quarantined.
type Rejection struct {
	Reason string // one of the Reason* constants
	Detail string
}

func (r *Rejection) Error() string {
	if r == nil {
		return "mailparse: <nil rejection>"
	}
	if r.Detail == "" {
		return "mailparse: rejected: " + r.Reason
	}
	return "mailparse: rejected: " + r.Reason + ": " + r.Detail
}

func reject(reason, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// parser is the enmime configuration. Parser.ReadEnvelope has a value
// receiver and copies the configuration, so sharing it is safe.
var parser = enmime.NewParser(
	enmime.SkipMalformedParts(true),
	enmime.MultipartWOBoundaryAsSinglePart(true),
	enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
	enmime.MaxStoredPartErrors(20),
	enmime.DisableTextConversion(true),
	enmime.DisableCharacterDetection(true),
)

// Parse parses one raw message. It returns a *Rejection for quarantine
// reasons and never panics.
func Parse(raw []byte, lim Limits, own Own) (msg *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg = nil
			err = reject(ReasonUnparseable, "panic while parsing: %s", truncate(fmt.Sprint(r), 200))
		}
	}()

	lim = lim.withDefaults()
	if int64(len(raw)) > lim.MaxMessageBytes {
		return nil, reject(ReasonTooLarge, "message is %d bytes, limit is %d", len(raw), lim.MaxMessageBytes)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, reject(ReasonUnparseable, "empty message")
	}
	if n := countBoundaryParams(raw, maxMultipartContainers); n > maxMultipartContainers {
		return nil, reject(ReasonUnparseable, "more than %d multipart containers", maxMultipartContainers)
	}

	env, perr := parser.ReadEnvelope(bytes.NewReader(raw))
	if perr != nil || env == nil || env.Root == nil {
		return nil, reject(ReasonUnparseable, "%s", truncate(fmt.Sprint(perr), 200))
	}
	h := newHeader(env.Root.Header)

	m := &Message{}
	sum := sha256.Sum256(raw)
	m.RawSHA256 = hex.EncodeToString(sum[:])
	m.ContentHash = contentHash(raw)

	if ids := parseIDs(h.get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	if m.MessageID != "" {
		m.DedupeKey = "mid:" + strings.ToLower(m.MessageID)
	} else {
		m.DedupeKey = "sha256:" + m.RawSHA256
	}
	m.InReplyTo = parseIDs(strings.Join(h.all("In-Reply-To"), " "))
	m.References = parseIDs(strings.Join(h.all("References"), " "))

	m.Subject = cleanLine(env.GetHeader("Subject"))
	if d := h.get("Date"); d != "" {
		if t, derr := mail.ParseDate(d); derr == nil {
			m.Date = t
		}
	}

	// Addresses.
	for _, name := range []string{"From", "Sender", "Return-Path"} {
		if list := parseAddressList(h.get(name)); len(list) > 0 {
			m.From = list[0]
			break
		}
	}
	m.ReplyTo = parseAddressList(strings.Join(h.all("Reply-To"), ", "))
	m.To = parseAddressList(strings.Join(h.all("To"), ", "))
	m.Cc = parseAddressList(strings.Join(h.all("Cc"), ", "))

	// Bodies.
	m.Text = cleanText(env.Text)
	if env.HTML != "" {
		m.HTML = cleanUTF8(sanitizeHTML(env.HTML))
		if strings.TrimSpace(m.Text) == "" {
			m.Text = cleanText(htmlToText(m.HTML))
		}
	}

	// Attachments and their limits.
	m.Attachments = collectAttachments(env)
	if len(m.Attachments) > lim.MaxAttachments {
		return nil, reject(ReasonTooManyAttachments, "%d attachments, limit is %d", len(m.Attachments), lim.MaxAttachments)
	}
	for _, a := range m.Attachments {
		if int64(len(a.Data)) > lim.MaxAttachmentBytes {
			return nil, reject(ReasonAttachmentTooLarge, "attachment %q is %d bytes, limit is %d", a.Filename, len(a.Data), lim.MaxAttachmentBytes)
		}
	}

	if m.From.Email == "" {
		return nil, reject(ReasonNoSender, "no usable From, Sender or Return-Path address")
	}

	m.Reply = StripReply(m.Text)
	readEnvelope(m, h)
	classify(m, h, env, own)
	return m, nil
}

// header is a case-insensitive view of a MIME header.
type header map[string][]string

func newHeader(src map[string][]string) header {
	h := make(header, len(src))
	for k, v := range src {
		lk := strings.ToLower(strings.TrimSpace(k))
		h[lk] = append(h[lk], v...)
	}
	return h
}

func (h header) get(name string) string {
	v := h[strings.ToLower(name)]
	if len(v) == 0 {
		return ""
	}
	return strings.TrimSpace(v[0])
}

func (h header) all(name string) []string { return h[strings.ToLower(name)] }

func (h header) has(name string) bool {
	_, ok := h[strings.ToLower(strings.TrimSpace(name))]
	return ok
}

// countBoundaryParams counts case-insensitive occurrences of "boundary="
// (optionally with blanks before "="), stopping once more than limit were
// seen.
func countBoundaryParams(raw []byte, limit int) int {
	word := []byte("boundary")
	n := 0
	for i := 0; i+len(word) < len(raw); i++ {
		if c := raw[i]; c != 'b' && c != 'B' {
			continue
		}
		if !bytes.EqualFold(raw[i:i+len(word)], word) {
			continue
		}
		rest := raw[i+len(word) : min(len(raw), i+len(word)+16)]
		rest = bytes.TrimLeft(rest, " \t")
		if len(rest) > 0 && rest[0] == '=' {
			n++
			if n > limit {
				return n
			}
		}
		i += len(word) - 1
	}
	return n
}

// parseIDs extracts message ids ("<id>" tokens; bare tokens containing "@"
// when there are no angle brackets), without the brackets, in order.
func parseIDs(v string) []string {
	var ids []string
	rest := v
	for len(ids) < 10*maxIDs {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		if id := cleanID(rest[i+1 : i+1+j]); id != "" {
			ids = append(ids, id)
		}
		rest = rest[i+1+j+1:]
	}
	if len(ids) == 0 {
		for _, f := range strings.Fields(v) {
			f = strings.Trim(f, "<>,;")
			if strings.Contains(f, "@") {
				if id := cleanID(f); id != "" {
					ids = append(ids, id)
				}
			}
			if len(ids) >= 10*maxIDs {
				break
			}
		}
	}
	if len(ids) > maxIDs {
		// Keep the first (thread root) and the most recent ones.
		ids = append(ids[:1:1], ids[len(ids)-(maxIDs-1):]...)
	}
	return ids
}

func cleanID(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return truncate(cleanUTF8(s), 998)
}

var looseEmailRe = regexp.MustCompile(`[^\s<>"',;:()\[\]\\]+@[^\s<>"',;:()\[\]\\]+`)

// parseAddressList parses an address header leniently: enmime's tolerant
// RFC 5322 parser first, then a plain scan for something@something.
func parseAddressList(v string) []Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	var out []Address
	seen := map[string]bool{}
	add := func(name, email string) {
		email = strings.ToLower(strings.TrimSpace(cleanUTF8(email)))
		email = strings.Trim(email, "<>")
		if email == "" || !strings.Contains(email, "@") || seen[email] || len(email) > 320 {
			return
		}
		seen[email] = true
		out = append(out, Address{Name: truncate(cleanLine(name), 200), Email: email})
	}
	if list, err := enmime.ParseAddressList(v); err == nil {
		for _, a := range list {
			if a != nil {
				add(a.Name, a.Address)
			}
		}
	}
	if len(out) == 0 {
		for _, e := range looseEmailRe.FindAllString(v, 100) {
			add("", e)
		}
	}
	return out
}

// cleanUTF8 replaces invalid UTF-8 and removes NUL bytes.
func cleanUTF8(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// cleanLine makes a header value single-line: valid UTF-8, whitespace
// collapsed, control characters removed.
func cleanLine(s string) string {
	s = strings.Join(strings.Fields(cleanUTF8(s)), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// cleanText normalizes a body: valid UTF-8, "\n" line endings.
func cleanText(s string) string {
	s = cleanUTF8(s)
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

var subjectTagRe = regexp.MustCompile(`\[#([0-9]{1,19})\]`)

// SubjectTag finds the help desk's ticket tag "[#123]" in a subject and
// returns the ticket number. Only the exact form "[#N]" is recognized (no
// "[Ticket #N]"), N > 0 and fitting an int64; the first valid tag wins.
func SubjectTag(subject string) (number int64, ok bool) {
	for _, m := range subjectTagRe.FindAllStringSubmatch(subject, 20) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil && n > 0 {
			return n, true
		}
	}
	return 0, false
}

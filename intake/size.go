package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/mailparse"
	"github.com/helpdesk/helpdesk/internal/store"
)

// Mail the help desk will not process whole is kept in quarantine as a
// prefix: the header section (at most KeptHeaderBytes) and the first
// KeptBodyBytes of the body. That is what an admin needs to see who sent
// what, and bounds what a sender can make the help desk store: an oversized
// message is never fetched whole from IMAP, and a flood over the rate limit
// keeps at most this much per message.
const (
	KeptHeaderBytes = 64 << 10
	KeptBodyBytes   = 64 << 10
)

// keptNote ends the detail of a truncated quarantine entry.
const keptNote = "kept headers and the first 64 KiB"

// keptLen is how many leading bytes of raw the quarantine keeps of a message
// it does not store whole: the header section up to its blank line (cut at
// KeptHeaderBytes), then at most KeptBodyBytes of the body.
func keptLen(raw []byte) int {
	head := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head = i + 4
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head = i + 2
	}
	if head > KeptHeaderBytes {
		return KeptHeaderBytes
	}
	return min(len(raw), head+KeptBodyBytes)
}

// keepPrefix cuts raw to what the quarantine keeps, marking q truncated
// (with the whole message's size and a note in its detail) when that is
// less than the message.
func keepPrefix(q *store.NewQuarantine, raw []byte) []byte {
	n := keptLen(raw)
	if n == len(raw) {
		return raw
	}
	q.Truncated, q.Size = true, int64(len(raw))
	q.Detail += "; " + keptNote
	return raw[:n]
}

var numbers = message.NewPrinter(language.English)

// QuarantineOversized keeps a message over mail_max_message_bytes that the
// poller did not fetch whole: kept is its headers and the start of its body,
// size the whole message's size (as the server reported it, or at least the
// bytes seen when the server reported less), reported what the server said
// (0: nothing). The entry is truncated unless kept is the whole message;
// the same message quarantined again (a restart before it left the mailbox)
// is the same entry.
func (p *Processor) QuarantineOversized(ctx context.Context, mb config.Mailbox, kept []byte, size, reported int64, truncated bool) (Outcome, error) {
	limit := int64(p.Config.MailMaxMessageBytes)
	what := numbers.Sprintf("message of %d bytes", size)
	switch {
	case reported == 0:
		what = numbers.Sprintf("message of at least %d bytes (the server reported no size)", size)
	case reported != size:
		what = numbers.Sprintf("message of at least %d bytes (the server reported %d)", size, reported)
	}
	detail := numbers.Sprintf("%s exceeds mail_max_message_bytes %d", what, limit)
	if truncated {
		detail += "; " + keptNote
	}
	// Keyed by what was kept and the size: two messages sharing their first
	// bytes but not their length stay two entries.
	sum := sha256.Sum256(append(fmt.Appendf(nil, "%d\x00", size), kept...))
	h := hex.EncodeToString(sum[:])
	key := "sha256-prefix:" + h
	if id := strings.Trim(headerGuess(kept, "Message-ID"), "<> "); id != "" {
		key = "mid:" + strings.ToLower(id)
	}
	return p.quarantine(ctx, mb, store.NewQuarantine{Reason: mailparse.ReasonTooLarge, Detail: detail,
		DedupeKey: key, ContentHash: h, Subject: headerGuess(kept, "Subject"), From: addressGuess(headerGuess(kept, "From")),
		MessageID: strings.Trim(headerGuess(kept, "Message-ID"), "<> "), Truncated: truncated, Size: size}, kept)
}

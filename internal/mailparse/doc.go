// Package mailparse turns one raw RFC 5322 message, as fetched from IMAP, into
// the pieces the help desk's email intake needs (identity, threading headers,
// sender, decoded bodies, attachments, a classification) or into a
// *Rejection that tells the caller to quarantine the message.
//
// The package is pure logic: it performs no I/O and keeps no state, so Parse
// is safe for concurrent use. It must never panic, whatever the input (mail
// is hostile input): Parse recovers from panics inside the MIME and HTML
// libraries and reports them as Rejection "unparseable".
//
// # Choices
//
// MIME decoding is delegated to github.com/jhillyerd/enmime/v2 (charsets,
// quoted-printable, base64, RFC 2047 words, RFC 2231 file names,
// multipart/alternative, multipart/related, attachments). The parser is set
// up to be tolerant: malformed child parts are skipped instead of failing the
// whole message, corrupt base64 in text parts keeps the readable prefix, and a
// multipart type without a boundary is read as a single part. The declared
// charset of a part is trusted; statistical charset detection is only used
// when a text part declares none (detection misreads short Latin-1/1252 text,
// e.g. it turns the € sign into a control character). enmime's own HTML to
// text conversion is disabled: when a message has only HTML, Text is derived
// from the sanitized HTML, so nothing from <script>, <style>, <title> or
// other invisible elements can leak into Text.
//
// HTML is sanitized with github.com/microcosm-cc/bluemonday using a policy
// that is stricter than bluemonday.UGCPolicy: no scripts, styles (elements or
// attributes), event handlers, forms, iframes, objects or embeds; links only
// to http, https and mailto (rel="nofollow noreferrer", target="_blank");
// relative URLs are dropped (they have no meaning in mail); images only from
// cid: (inline parts), base64 data:image/{png,gif,jpeg,webp} and https:.
//
// Text, Reply, HTML, Subject, names and file names are always valid UTF-8
// (invalid sequences become U+FFFD) and use "\n" line endings.
//
// # Limits
//
// The raw size is checked before anything is parsed (Rejection
// "too_large"). A message with an excessive number of nested multipart
// containers (more than 200 "boundary=" parameters) is rejected as
// "unparseable" before parsing, because recursive MIME parsing of such a
// message costs unbounded memory and stack. After parsing, the number of
// attachments ("too_many_attachments") and the decoded size of each
// attachment ("attachment_too_large") are checked. A message without any
// usable sender address (From, then Sender, then Return-Path) is rejected
// with "no_sender".
//
// # Classification
//
// Message.Kind is decided by the first rule that matches, in this order:
//
//  1. loop: the header named by Own.LoopHeader (default "X-Helpdesk-Loop")
//     is present, or the sender is one of Own.Addresses.
//  2. bounce: Content-Type multipart/report; report-type=delivery-status, or
//     a multipart/report (any report-type) or a message from mailer-daemon@
//     or postmaster@ that contains a message/delivery-status part. The DSN
//     (RFC 3464) is parsed into Message.Bounce. A message from mailer-daemon@
//     or postmaster@ without a DSN part is still a bounce; its Bounce fields
//     are filled best-effort from the text (Message-ID header lines, Postfix
//     style "<rcpt>: ..." lines, an enhanced status code like 5.1.1).
//  3. auto_reply: Auto-Submitted with any value but "no" (RFC 3834);
//     X-Autoreply or X-Autorespond (unless "no"/"false"/"0");
//     X-MS-Exchange-Inbox-Rules-Loop (Exchange inbox rule replies);
//     Precedence: auto_reply; a read receipt (multipart/report;
//     report-type=disposition-notification); or an auto-reply subject
//     ("Automatic reply:", "Out of Office", "Autoreply:", ...) together with
//     X-Auto-Response-Suppress or a null Return-Path "<>". The subject alone
//     never classifies a message, and X-Auto-Response-Suppress alone is not an
//     auto-reply marker.
//  4. bulk: Precedence: bulk or Precedence: junk.
//  5. list: List-Id or List-Unsubscribe present, or Precedence: list.
//  6. human: everything else.
//
// SuppressAutoReply is true for every Kind but human, and for human mail
// whose X-Auto-Response-Suppress asks for it (All, OOF or AutoReply).
//
// # Identity
//
// RawSHA256 is the hex SHA-256 of the raw bytes. DedupeKey is "mid:" plus the
// lower-cased Message-ID, or "sha256:" plus RawSHA256 when there is no
// Message-ID. ContentHash is the SHA-256 of the message with trace headers
// (Received, X-Received, Return-Path, Delivered-To, X-Original-To,
// DKIM-Signature, X-Google-DKIM-Signature, ARC-*, Authentication-Results,
// Received-SPF) removed and line endings normalized to "\n": the same message
// delivered twice (to two mailboxes, or refetched) hashes the same, while a
// different message reusing a Message-ID does not.
//
// # Reply extraction
//
// Message.Reply is Text without the quoted history and the signature. The
// text is cut at the earliest of these markers:
//
//   - an attribution line "On <date>, <name> wrote:" (Gmail, Apple Mail,
//     Outlook mobile; possibly wrapped over 2-3 lines; possibly quoted with
//     ">"), and its German, French, Spanish, Dutch, Italian and Portuguese
//     forms ("Am … schrieb …:", "Le … a écrit :", …); the line must contain a
//     digit (the date), which avoids cutting at prose like "On reflection I
//     wrote:";
//   - Outlook's "-----Original Message-----" (and localized forms);
//   - an Outlook header block: a "From:" line followed within six lines by
//     "Sent:"/"Date:" and "To:"/"Subject:" lines (localized), including the
//     "________________________________" separator above it; a block that
//     follows a "Forwarded message" line is kept, because forwarded content
//     is what the requester wants us to read;
//   - a signature separator line "-- " or "--";
//   - a mobile signature such as "Sent from my iPhone" or "Get Outlook for
//     iOS".
//
// Then trailing quoted lines (starting with ">") and blank lines are removed
// and the result is trimmed. Interleaved quotes (answers written between
// quoted lines) are kept. If nothing is left, Reply is the trimmed Text, so
// content is never lost.
package mailparse

package mailparse

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var testOwn = Own{Addresses: []string{"Support@HelpDesk.local"}}

func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// htmlForbidden must never survive sanitization.
var htmlForbidden = []string{"<script", "onclick", "onload", "onmouseover", "javascript:", "<iframe", "<style", "<form", "<input", "http://tracker"}

func TestCorpus(t *testing.T) {
	tests := []struct {
		file         string
		kind         Kind
		reason       string // substring of KindReason
		from         string
		fromName     string
		subject      string
		messageID    string
		inReplyTo    []string
		references   []string
		reply        string   // exact, when set
		replyHas     []string // substrings of Reply
		replyLacks   []string
		textHas      []string
		textLacks    []string
		htmlHas      []string
		atts         int
		suppress     bool
		dedupePrefix string
		check        func(t *testing.T, m *Message)
	}{
		{
			file: "outlook-reply.eml", kind: KindHuman,
			from: "anna.schmidt@example.com", fromName: "Anna Schmidt",
			subject:      "RE: [#123] Printer on floor 3 offline",
			messageID:    "AM6PR04MB5431D2F5C1A2B3C4D5E6F7A8B9@AM6PR04MB5431.eurprd04.prod.outlook.com",
			inReplyTo:    []string{"ticket-123.msg-7@helpdesk.local"},
			references:   []string{"ticket-123.msg-1@helpdesk.local", "ticket-123.msg-7@helpdesk.local"},
			reply:        "Hi,\n\nthe printer works again after the restart. Thanks for the quick help!\n\nBest regards\nAnna Schmidt\nFacilities | Example Corp",
			textHas:      []string{"Sent: Friday, December 4, 2026 10:02 AM"},
			htmlHas:      []string{"divRplyFwdMsg", "the printer works again"},
			textLacks:    []string{"MsoNormal", "Calibri"},
			dedupePrefix: "mid:am6pr04mb5431",
			check: func(t *testing.T, m *Message) {
				if strings.Contains(m.HTML, "MsoNormal") || strings.Contains(m.HTML, "style=") {
					t.Errorf("HTML keeps styles: %s", m.HTML)
				}
				if n, ok := SubjectTag(m.Subject); !ok || n != 123 {
					t.Errorf("SubjectTag = %d, %v", n, ok)
				}
			},
		},
		{
			file: "gmail-reply.eml", kind: KindHuman,
			from: "jonas.becker@gmail.com", fromName: "Jonas Becker",
			subject:   "Re: [#77] VPN keeps disconnecting",
			messageID: "CAJx8=Kq2mXo+VfT3hY8pZr7Lw4dN1sQ6bE9cG0uA5iR3tK@mail.gmail.com",
			inReplyTo: []string{"ticket-77.msg-2@helpdesk.local"},
			reply:     "Thanks, that fixed it. The VPN connects again.\n\nJonas",
			textHas:   []string{"> please update the VPN client"},
			htmlHas:   []string{`href="mailto:support@helpdesk.local"`, "<blockquote>"},
		},
		{
			file: "applemail-reply.eml", kind: KindHuman,
			from: "lena.fischer@icloud.com", subject: "Re: [#88] Shared drive access",
			messageID:  "8E1F0B3C-5D7A-4C2E-9B61-2A4F7D9E3C10@icloud.com",
			references: []string{"ticket-88.msg-1@helpdesk.local", "ticket-88.msg-3@helpdesk.local"},
			reply:      "Hi there,\n\nI\u2019m still seeing the error \u201cAccess denied\u201d when opening the shared drive, even after logging out and in again as you suggested in your last message.\n\nCheers,\nLena",
			textHas:    []string{`\\fileserver\projects`},
		},
		{
			file: "iso-8859-1.eml", kind: KindHuman,
			from: "juergen.weiss@example.de", fromName: "Jürgen Weiß",
			subject:   "Drucker im Büro druckt nur leere Seiten - Grüße",
			textHas:   []string{"Büro", "Café", "Erdgeschoß", "Grüßen", "Jürgen Weiß"},
			replyHas:  []string{"der Drucker im Büro gibt seit gestern nur noch leere Seiten aus."},
			textLacks: []string{"=FC", "\uFFFD"},
		},
		{
			file: "windows-1252.eml", kind: KindHuman,
			from: "mark.oneill@corp.example.net", fromName: "Mark O'Neill",
			subject:   "Invoice – wrong amount €",
			textHas:   []string{"“€ 1.299,00” – but we were quoted €999.", "It’s urgent"},
			reply:     "Hello,\n\nthe invoice says “€ 1.299,00” – but we were quoted €999.\nIt’s urgent, the payment run is on Monday.\n\nThanks\nMark",
			messageID: "000001db4a2b$5f0e3c40$1d2ab4c0$@corp.example.net",
		},
		{
			file: "shift_jis.eml", kind: KindHuman,
			from: "yamada@example.co.jp", fromName: "山田太郎",
			subject:  "プリンターが動きません",
			textHas:  []string{"お世話になっております。", "会議室のプリンターが動きません。", "山田太郎"},
			replyHas: []string{"至急確認をお願いします。"},
		},
		{
			file: "html-only.eml", kind: KindHuman,
			from: "priya.nair@example.in", subject: "Laptop screen flickers",
			textHas:   []string{"My laptop screen flickers since the update.", "Regards,\nPriya", "see the status page"},
			textLacks: []string{"alert", "color: red", "display: none", "Secret Title", "steal", "evil", "document.cookie", "iframe fallback", "Log in"},
			htmlHas:   []string{"My laptop screen flickers", `href="https://status.example.com/incidents"`, `src="https://cdn.example.in/logo.png"`},
			replyHas:  []string{"mostly when the charger is connected"},
		},
		{
			file: "inline-image.eml", kind: KindHuman,
			from: "omar.haddad@example.com", subject: "Error when starting the CRM",
			atts:    1,
			htmlHas: []string{`src="cid:image001.png@01DB4A2B.5F0E3C40"`},
			reply:   "Hello,\n\nhere is a screenshot of the error:\n\n[cid:image001.png@01DB4A2B.5F0E3C40]\n\nThanks\nOmar",
			check: func(t *testing.T, m *Message) {
				a := m.Attachments[0]
				if a.Filename != "image001.png" || a.ContentType != "image/png" || !a.Inline || a.ContentID != "image001.png@01DB4A2B.5F0E3C40" {
					t.Errorf("inline image = %+v", Attachment{Filename: a.Filename, ContentType: a.ContentType, ContentID: a.ContentID, Inline: a.Inline})
				}
				if !bytes.HasPrefix(a.Data, []byte("\x89PNG\r\n\x1a\n")) {
					t.Errorf("inline image data is not a PNG: % x", a.Data[:min(8, len(a.Data))])
				}
			},
		},
		{
			file: "large-attachment.eml", kind: KindHuman,
			from: "finance@example.org", subject: "Scanned contract does not open",
			atts:  1,
			reply: "Hi,\n\nthe attached scan cannot be opened on the office PCs. Can you check it?\n\nFinance Team",
			check: func(t *testing.T, m *Message) {
				a := m.Attachments[0]
				if a.Filename != "contract-2026-12.pdf" || a.ContentType != "application/pdf" || a.Inline {
					t.Errorf("attachment = %q %q inline=%v", a.Filename, a.ContentType, a.Inline)
				}
				if len(a.Data) != largePDFSize {
					t.Errorf("decoded size = %d, want %d", len(a.Data), largePDFSize)
				}
				if !bytes.Equal(a.Data, fakePDF(largePDFSize)) {
					t.Error("decoded attachment differs from the generated bytes")
				}
			},
		},
		{
			file: "dsn-bounce.eml", kind: KindBounce, reason: "report-type=delivery-status",
			from: "mailer-daemon@mx1.helpdesk.local", subject: "Undelivered Mail Returned to Sender",
			suppress: true, atts: 0,
			check: func(t *testing.T, m *Message) {
				d := m.Bounce
				if d == nil {
					t.Fatal("Bounce is nil")
				}
				if d.OriginalMessageID != "ticket-42.abc@helpdesk.local" {
					t.Errorf("OriginalMessageID = %q", d.OriginalMessageID)
				}
				if d.Status != "5.1.1" || d.Action != "failed" {
					t.Errorf("Status/Action = %q/%q", d.Status, d.Action)
				}
				if len(d.Recipients) != 1 || d.Recipients[0] != "nosuchuser@example.org" {
					t.Errorf("Recipients = %q", d.Recipients)
				}
				if !strings.Contains(d.Diagnostic, "User unknown in virtual mailbox table") || strings.HasPrefix(d.Diagnostic, "smtp") {
					t.Errorf("Diagnostic = %q", d.Diagnostic)
				}
			},
		},
		{
			file: "out-of-office.eml", kind: KindAutoReply, reason: "Auto-Submitted: auto-replied",
			from: "sarah.klein@example.com", subject: "Automatic reply: [#123] Printer on floor 3 offline",
			suppress: true, replyHas: []string{"out of the office until 14 December 2026"},
		},
		{
			file: "mailing-list.eml", kind: KindList, reason: "List-Id present",
			from: "it-announce@lists.example.com", suppress: true,
			subject:    "[it-announce] Planned maintenance: mail servers, Saturday 5 Dec",
			reply:      "Dear colleagues,\n\nthe mail servers will be unavailable on Saturday, 5 December 2026,\nbetween 06:00 and 08:00 CET for planned maintenance.",
			replyLacks: []string{"unsubscribe"},
		},
		{
			file: "no-message-id.eml", kind: KindHuman,
			from: "scanner@example.net", subject: "Toner low on MFP-2F",
			dedupePrefix: "sha256:",
			reply:        "The toner of device MFP-2F (2nd floor) is low: black 5%.\nPlease order a replacement cartridge.",
			check: func(t *testing.T, m *Message) {
				if m.MessageID != "" || m.DedupeKey != "sha256:"+m.RawSHA256 {
					t.Errorf("MessageID %q DedupeKey %q", m.MessageID, m.DedupeKey)
				}
			},
		},
		{
			file: "new-ticket.eml", kind: KindHuman,
			from: "maria.garcia@example.com", fromName: "María García",
			subject:   "Cannot log in to the accounting system",
			messageID: "4b1d2c3e-5f60-4718-8a9b-0c1d2e3f4a5b@example.com",
			reply:     "Hello,\n\nI cannot log in to the accounting system since this morning. The error\nsays \"Account locked\".\n\nCould you please unlock my account?\n\nThank you,\nMaría",
			textHas:   []string{"+49 30 1234567"},
			check: func(t *testing.T, m *Message) {
				if _, ok := SubjectTag(m.Subject); ok {
					t.Error("unexpected subject tag")
				}
				if len(m.ReplyTo) != 1 || m.ReplyTo[0].Email != "accounting@example.com" {
					t.Errorf("ReplyTo = %+v", m.ReplyTo)
				}
				if len(m.Cc) != 2 || m.Cc[1] != (Address{Name: "Doe, Jane", Email: "jane.doe@example.com"}) {
					t.Errorf("Cc = %+v", m.Cc)
				}
				if len(m.To) != 1 || m.To[0].Email != "support@helpdesk.local" {
					t.Errorf("To = %+v", m.To)
				}
				if m.Date.IsZero() || m.Date.UTC().Hour() != 7 {
					t.Errorf("Date = %v", m.Date)
				}
			},
		},
		{
			file: "our-own.eml", kind: KindLoop, reason: "X-Helpdesk-Loop: ticket-123",
			from: "support@helpdesk.local", suppress: true, subject: "[#123] Printer on floor 3 offline",
		},
	}

	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			raw := readCorpus(t, tc.file)
			if !bytes.Contains(raw, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
				t.Error("corpus file must use CRLF line endings only")
			}
			m, err := Parse(raw, Limits{}, testOwn)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Kind != tc.kind {
				t.Errorf("Kind = %q (%s), want %q", m.Kind, m.KindReason, tc.kind)
			}
			if tc.reason != "" && !strings.Contains(m.KindReason, tc.reason) {
				t.Errorf("KindReason = %q, want it to contain %q", m.KindReason, tc.reason)
			}
			if (m.Kind == KindBounce) != (m.Bounce != nil) {
				t.Errorf("Bounce = %v for Kind %q", m.Bounce, m.Kind)
			}
			if m.From.Email != tc.from {
				t.Errorf("From.Email = %q, want %q", m.From.Email, tc.from)
			}
			if tc.fromName != "" && m.From.Name != tc.fromName {
				t.Errorf("From.Name = %q, want %q", m.From.Name, tc.fromName)
			}
			if tc.subject != "" && m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			if tc.messageID != "" && m.MessageID != tc.messageID {
				t.Errorf("MessageID = %q, want %q", m.MessageID, tc.messageID)
			}
			if tc.inReplyTo != nil && strings.Join(m.InReplyTo, " ") != strings.Join(tc.inReplyTo, " ") {
				t.Errorf("InReplyTo = %q, want %q", m.InReplyTo, tc.inReplyTo)
			}
			if tc.references != nil && strings.Join(m.References, " ") != strings.Join(tc.references, " ") {
				t.Errorf("References = %q, want %q", m.References, tc.references)
			}
			if tc.reply != "" && m.Reply != tc.reply {
				t.Errorf("Reply =\n%q\nwant\n%q", m.Reply, tc.reply)
			}
			for _, s := range tc.replyHas {
				if !strings.Contains(m.Reply, s) {
					t.Errorf("Reply lacks %q:\n%s", s, m.Reply)
				}
			}
			for _, s := range tc.replyLacks {
				if strings.Contains(m.Reply, s) {
					t.Errorf("Reply contains %q:\n%s", s, m.Reply)
				}
			}
			for _, s := range tc.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lacks %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.textLacks {
				if strings.Contains(m.Text, s) {
					t.Errorf("Text contains %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.htmlHas {
				if !strings.Contains(m.HTML, s) {
					t.Errorf("HTML lacks %q:\n%s", s, m.HTML)
				}
			}
			lowerHTML := strings.ToLower(m.HTML)
			for _, s := range htmlForbidden {
				if strings.Contains(lowerHTML, s) {
					t.Errorf("sanitized HTML contains %q:\n%s", s, m.HTML)
				}
			}
			if len(m.Attachments) != tc.atts {
				t.Errorf("%d attachments, want %d", len(m.Attachments), tc.atts)
			}
			if m.SuppressAutoReply != tc.suppress {
				t.Errorf("SuppressAutoReply = %v, want %v", m.SuppressAutoReply, tc.suppress)
			}
			prefix := tc.dedupePrefix
			if prefix == "" {
				prefix = "mid:"
			}
			if !strings.HasPrefix(m.DedupeKey, prefix) {
				t.Errorf("DedupeKey = %q, want prefix %q", m.DedupeKey, prefix)
			}
			if m.MessageID != "" && m.DedupeKey != "mid:"+strings.ToLower(m.MessageID) {
				t.Errorf("DedupeKey = %q for MessageID %q", m.DedupeKey, m.MessageID)
			}
			if len(m.RawSHA256) != 64 || len(m.ContentHash) != 64 {
				t.Errorf("hashes: %q %q", m.RawSHA256, m.ContentHash)
			}
			for name, s := range map[string]string{"Text": m.Text, "Reply": m.Reply, "HTML": m.HTML, "Subject": m.Subject} {
				if !utf8.ValidString(s) || strings.Contains(s, "\r") {
					t.Errorf("%s is not clean UTF-8 with \\n line endings: %q", name, s)
				}
			}
			if strings.TrimSpace(m.Reply) == "" {
				t.Error("Reply is empty")
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}

	// Every corpus file has a row.
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("corpus file %s has no test row", f)
		}
	}
}

// TestCorpusUpToDate checks that the committed corpus matches its
// generator (with -update it rewrites the corpus instead).
func TestCorpusUpToDate(t *testing.T) {
	for name, want := range corpusSources(t) {
		if *updateCorpus {
			if err := os.WriteFile(filepath.Join("testdata", name), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got := readCorpus(t, name); !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is stale; regenerate with go test -run TestCorpusUpToDate -update", name)
		}
	}
}

func rejectionReason(t *testing.T, err error) string {
	t.Helper()
	var r *Rejection
	if !errors.As(err, &r) {
		t.Fatalf("error %v (%T) is not a *Rejection", err, err)
	}
	if r.Error() == "" {
		t.Error("empty Error()")
	}
	return r.Reason
}

func TestLimits(t *testing.T) {
	large := readCorpus(t, "large-attachment.eml")
	_, err := Parse(large, Limits{MaxAttachmentBytes: 1 << 20}, testOwn)
	if got := rejectionReason(t, err); got != ReasonAttachmentTooLarge {
		t.Errorf("reason = %q, want %q", got, ReasonAttachmentTooLarge)
	}

	_, err = Parse(large, Limits{MaxMessageBytes: int64(len(large) - 1)}, testOwn)
	if got := rejectionReason(t, err); got != ReasonTooLarge {
		t.Errorf("reason = %q, want %q", got, ReasonTooLarge)
	}
	if _, err := Parse(large, Limits{MaxMessageBytes: int64(len(large))}, testOwn); err != nil {
		t.Errorf("message of exactly the limit rejected: %v", err)
	}

	// Too many attachments.
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nMessage-ID: <many@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n")
	for i := 0; i < 4; i++ {
		b.WriteString("--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"f" + itoa(i) + ".bin\"\r\n\r\ndata\r\n")
	}
	b.WriteString("--XX--\r\n")
	_, err = Parse([]byte(b.String()), Limits{MaxAttachments: 3}, testOwn)
	if got := rejectionReason(t, err); got != ReasonTooManyAttachments {
		t.Errorf("reason = %q, want %q", got, ReasonTooManyAttachments)
	}
	m, err := Parse([]byte(b.String()), Limits{}, testOwn)
	if err != nil || len(m.Attachments) != 4 || m.Attachments[3].Filename != "f3.bin" || string(m.Attachments[3].Data) != "data" {
		t.Errorf("Parse = %+v, %v", m, err)
	}

	// Deeply nested multipart is refused before parsing.
	var deep strings.Builder
	deep.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i <= 300; i++ {
		deep.WriteString("--b" + itoa(i-1) + "\r\nContent-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n")
	}
	_, err = Parse([]byte(deep.String()), Limits{}, testOwn)
	if got := rejectionReason(t, err); got != ReasonUnparseable {
		t.Errorf("reason = %q, want %q", got, ReasonUnparseable)
	}
}

func TestSender(t *testing.T) {
	tests := []struct {
		name, headers, want string
	}{
		{"from", "From: Anna <ANNA@example.com >\r\n", "anna@example.com"},
		{"sender fallback", "From: undisclosed\r\nSender: Bot <bot@example.com>\r\n", "bot@example.com"},
		{"return-path fallback", "Return-Path: <rp@example.com>\r\n", "rp@example.com"},
		{"loose from", "From: \"Broken <broken@example.com\r\n", "broken@example.com"},
		{"encoded name", "From: =?UTF-8?B?w4Rnb3N0b24=?= <x@example.com>\r\n", "x@example.com"},
		{"none", "Return-Path: <>\r\nSubject: hi\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.headers + "Message-ID: <s@example.com>\r\n\r\nbody\r\n")
			m, err := Parse(raw, Limits{}, Own{})
			if tc.want == "" {
				if got := rejectionReason(t, err); got != ReasonNoSender {
					t.Errorf("reason = %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.From.Email != tc.want {
				t.Errorf("From = %+v, want %q", m.From, tc.want)
			}
		})
	}
}

func TestClassification(t *testing.T) {
	base := "From: Someone <someone@example.com>\r\nTo: support@helpdesk.local\r\nMessage-ID: <c@example.com>\r\n"
	tests := []struct {
		name, headers, subject string
		own                    Own
		kind                   Kind
		reason                 string
		suppress               bool
	}{
		{name: "human", kind: KindHuman},
		{name: "human with suppress", headers: "X-Auto-Response-Suppress: DR, OOF\r\n", kind: KindHuman, suppress: true},
		{name: "human with harmless suppress", headers: "X-Auto-Response-Suppress: DR, RN\r\n", kind: KindHuman},
		{name: "auto-submitted no", headers: "Auto-Submitted: no\r\n", kind: KindHuman},
		{name: "auto-generated", headers: "Auto-Submitted: auto-generated; owner-email=x@example.com\r\n", kind: KindAutoReply, reason: "Auto-Submitted: auto-generated", suppress: true},
		{name: "x-autoreply", headers: "X-Autoreply: yes\r\n", kind: KindAutoReply, reason: "X-Autoreply", suppress: true},
		{name: "x-autorespond", headers: "X-Autorespond: vacation\r\n", kind: KindAutoReply, suppress: true},
		{name: "inbox rules loop", headers: "X-MS-Exchange-Inbox-Rules-Loop: someone@example.com\r\n", kind: KindAutoReply, suppress: true},
		{name: "precedence auto_reply", headers: "Precedence: auto_reply\r\n", kind: KindAutoReply, suppress: true},
		{name: "oof subject alone", subject: "Automatic reply: hello", kind: KindHuman},
		{name: "oof subject with suppress", subject: "Out of Office: hello", headers: "X-Auto-Response-Suppress: All\r\n", kind: KindAutoReply, suppress: true},
		{name: "suppress alone", headers: "X-Auto-Response-Suppress: All\r\n", kind: KindHuman, suppress: true},
		{name: "bulk", headers: "Precedence: bulk\r\n", kind: KindBulk, reason: "Precedence: bulk", suppress: true},
		{name: "junk", headers: "Precedence: junk\r\n", kind: KindBulk, suppress: true},
		{name: "list precedence", headers: "Precedence: list\r\n", kind: KindList, reason: "Precedence: list", suppress: true},
		{name: "list-unsubscribe", headers: "List-Unsubscribe: <mailto:u@example.com>\r\n", kind: KindList, reason: "List-Unsubscribe", suppress: true},
		{name: "auto beats list", headers: "List-Id: <l.example.com>\r\nAuto-Submitted: auto-generated\r\n", kind: KindAutoReply, suppress: true},
		{name: "bulk beats list", headers: "List-Id: <l.example.com>\r\nPrecedence: bulk\r\n", kind: KindBulk, suppress: true},
		{name: "loop header default", headers: "X-Helpdesk-Loop: t-1\r\nPrecedence: bulk\r\n", kind: KindLoop, reason: "X-Helpdesk-Loop: t-1", suppress: true},
		{name: "custom loop header", headers: "X-Our-Loop: 1\r\n", own: Own{LoopHeader: "x-our-loop"}, kind: KindLoop, suppress: true},
		{name: "own address", own: Own{Addresses: []string{" SomeOne@Example.com "}}, kind: KindLoop, reason: "own address", suppress: true},
		{name: "sender header irrelevant", headers: "Sender: x@example.com\r\n", own: Own{}, kind: KindHuman},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subject := tc.subject
			if subject == "" {
				subject = "Hello"
			}
			raw := []byte(base + tc.headers + "Subject: " + subject + "\r\n\r\nHello there.\r\n")
			m, err := Parse(raw, Limits{}, tc.own)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != tc.kind || !strings.Contains(m.KindReason, tc.reason) || m.SuppressAutoReply != tc.suppress {
				t.Errorf("got %q (%q) suppress=%v, want %q (%q) suppress=%v", m.Kind, m.KindReason, m.SuppressAutoReply, tc.kind, tc.reason, tc.suppress)
			}
		})
	}
}

func TestBounceWithoutDSN(t *testing.T) {
	raw := []byte("From: Mail Delivery Subsystem <mailer-daemon@mx.example.org>\r\n" +
		"To: support@helpdesk.local\r\nSubject: Delivery Status Notification (Failure)\r\n" +
		"Message-ID: <b2@mx.example.org>\r\n\r\n" +
		"Delivery to the following recipient failed permanently:\r\n\r\n" +
		"<gone@example.org>: 550 5.1.1 The email account does not exist.\r\n\r\n" +
		"----- Original message -----\r\n\r\nMessage-ID: <ticket-9.x@helpdesk.local>\r\nSubject: [#9] hello\r\n")
	m, err := Parse(raw, Limits{}, Own{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindBounce || m.Bounce == nil {
		t.Fatalf("Kind = %q, Bounce = %v", m.Kind, m.Bounce)
	}
	d := m.Bounce
	if d.OriginalMessageID != "ticket-9.x@helpdesk.local" || d.Status != "5.1.1" || d.Action != "failed" ||
		len(d.Recipients) != 1 || d.Recipients[0] != "gone@example.org" {
		t.Errorf("Bounce = %+v", *d)
	}
}

func TestSubjectTag(t *testing.T) {
	tests := []struct {
		subject string
		n       int64
		ok      bool
	}{
		{"[#123] Printer offline", 123, true},
		{"RE: AW: [#42] Re: VPN", 42, true},
		{"Automatic reply: [#7]", 7, true},
		{"[#0] zero [#5]", 5, true},
		{"[Ticket #123] other form", 0, false},
		{"#123 no brackets", 0, false},
		{"[# 123] space", 0, false},
		{"[#12a]", 0, false},
		{"[#99999999999999999999] overflow", 0, false},
		{"[#9223372036854775807] max", 9223372036854775807, true},
		{"", 0, false},
	}
	for _, tc := range tests {
		n, ok := SubjectTag(tc.subject)
		if n != tc.n || ok != tc.ok {
			t.Errorf("SubjectTag(%q) = %d, %v; want %d, %v", tc.subject, n, ok, tc.n, tc.ok)
		}
	}
}

func TestStripReply(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"gmail one line", "Yes.\n\nOn Fri, 4 Dec 2026 at 10:02, Help Desk <support@helpdesk.local> wrote:\n> old\n", "Yes."},
		{"gmail wrapped", "Yes.\n\nOn Fri, 4 Dec 2026 at 10:02, Help Desk\n<support@helpdesk.local> wrote:\n> old\n", "Yes."},
		{"german", "Danke!\n\nAm Fr., 4. Dez. 2026 um 10:02 Uhr schrieb Help Desk <support@helpdesk.local>:\n> alt\n", "Danke!"},
		{"french", "Merci.\n\nLe ven. 4 déc. 2026 à 10:02, Help Desk <support@helpdesk.local> a écrit :\n> ancien\n", "Merci."},
		{"original message", "Done.\n\n-----Original Message-----\nFrom: x\nSent: y\n", "Done."},
		{"outlook block without separator", "Done.\n\nFrom: Help Desk <support@helpdesk.local>\nSent: Friday, December 4, 2026 10:02 AM\nTo: Anna\nSubject: x\n\nold", "Done."},
		{"outlook german block", "Erledigt.\n\n________________________________\nVon: Help Desk <support@helpdesk.local>\nGesendet: Freitag, 4. Dezember 2026 10:02\nAn: Anna\nBetreff: x\n\nalt", "Erledigt."},
		{"forward kept", "See below.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Fri, 4 Dec 2026\nSubject: broken\nTo: me\n\nThe server is down.", "See below.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Fri, 4 Dec 2026\nSubject: broken\nTo: me\n\nThe server is down."},
		{"signature", "Body\n-- \nSig", "Body"},
		{"signature no space", "Body\n--\nSig", "Body"},
		{"mobile", "Ok\n\nSent from my iPhone\n\n> On 4 Dec", "Ok"},
		{"trailing quotes", "Answer\n\n> q1\n> q2\n", "Answer"},
		{"interleaved quotes kept", "> question 1\nanswer 1\n> question 2\nanswer 2", "> question 1\nanswer 1\n> question 2\nanswer 2"},
		{"prose with wrote", "On reflection I wrote:\nthis is still content", "On reflection I wrote:\nthis is still content"},
		{"only quote keeps text", "> all quoted\n> text", "> all quoted\n> text"},
		{"only signature keeps text", "-- \nJust a signature", "-- \nJust a signature"},
		{"crlf", "Hi\r\n\r\nOn Fri, 4 Dec 2026 at 10:02, X <x@y> wrote:\r\n> q\r\n", "Hi"},
		{"empty", "  \n ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StripReply(tc.in); got != tc.want {
				t.Errorf("StripReply(%q) =\n%q\nwant\n%q", tc.in, got, tc.want)
			}
		})
	}
}

func TestContentHash(t *testing.T) {
	raw := readCorpus(t, "new-ticket.eml")
	m1, err := Parse(raw, Limits{}, testOwn)
	if err != nil {
		t.Fatal(err)
	}

	// The same message delivered again: another Received hop, different
	// Delivered-To, DKIM/ARC results.
	redelivered := append([]byte("Received: from relay2.helpdesk.local (relay2 [10.1.0.2])\r\n\tby mx2.helpdesk.local with ESMTP; Fri, 4 Dec 2026 08:15:09 +0100\r\n"+
		"Delivered-To: helpdesk-archive@helpdesk.local\r\nX-Original-To: support@helpdesk.local\r\n"+
		"ARC-Authentication-Results: i=1; mx2.helpdesk.local; dkim=pass\r\nAuthentication-Results: mx2.helpdesk.local; spf=pass\r\n"), raw...)
	m2, err := Parse(redelivered, Limits{}, testOwn)
	if err != nil {
		t.Fatal(err)
	}
	if m1.ContentHash != m2.ContentHash {
		t.Error("ContentHash differs for the same message with extra trace headers")
	}
	if m1.RawSHA256 == m2.RawSHA256 {
		t.Error("RawSHA256 should differ")
	}
	if m1.DedupeKey != m2.DedupeKey {
		t.Error("DedupeKey should be the Message-ID for both")
	}

	// LF-only copy of the same message.
	lf := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	m3, err := Parse(lf, Limits{}, testOwn)
	if err != nil {
		t.Fatal(err)
	}
	if m3.ContentHash != m1.ContentHash {
		t.Error("ContentHash differs for an LF-only copy")
	}

	// A different message reusing the Message-ID.
	other := bytes.Replace(raw, []byte("unlock my account"), []byte("reset my password"), 1)
	m4, err := Parse(other, Limits{}, testOwn)
	if err != nil {
		t.Fatal(err)
	}
	if m4.DedupeKey != m1.DedupeKey {
		t.Error("DedupeKey should be equal (same Message-ID)")
	}
	if m4.ContentHash == m1.ContentHash {
		t.Error("ContentHash equal for a different body with the same Message-ID")
	}

	// A changed non-trace header changes the hash too.
	subj := bytes.Replace(raw, []byte("Subject: Cannot log in"), []byte("Subject: Can't log in"), 1)
	m5, err := Parse(subj, Limits{}, testOwn)
	if err != nil {
		t.Fatal(err)
	}
	if m5.ContentHash == m1.ContentHash {
		t.Error("ContentHash equal for a different Subject")
	}
}

func TestHTMLSanitizer(t *testing.T) {
	in := `<p style="color:red" onmouseover="x()">Hi <a href="JaVaScRiPt:alert(1)">a</a> <a href="/relative">r</a> <a href="https://ok.example/">ok</a></p>` +
		`<img src="cid:logo@x"><img src="data:image/png;base64,iVBORw0KGgo="><img src="http://plain.example/x.png"><img src="data:text/html;base64,PHNjcmlwdD4=">` +
		`<svg><script>alert(1)</script></svg><object data="x.swf">obj</object><embed src="https://x/e"><math>m</math><base href="https://evil/">` +
		`<meta http-equiv="refresh" content="0;url=https://evil/"><link rel="stylesheet" href="https://evil/x.css"><textarea>secret</textarea>`
	out := sanitizeHTML(in)
	for _, bad := range []string{"style", "onmouseover", "javascript", "/relative", "http://plain", "data:text", "<svg", "<script", "alert", "<object", "<embed", "<base", "<meta", "<link", "secret"} {
		if strings.Contains(strings.ToLower(out), bad) {
			t.Errorf("sanitized HTML contains %q: %s", bad, out)
		}
	}
	for _, good := range []string{`src="cid:logo@x"`, `src="data:image/png;base64,iVBORw0KGgo="`, `href="https://ok.example/"`} {
		if !strings.Contains(out, good) {
			t.Errorf("sanitized HTML lacks %q: %s", good, out)
		}
	}
}

func TestNoPanicOnHostileInput(t *testing.T) {
	inputs := [][]byte{
		nil,
		{},
		[]byte("\r\n\r\n"),
		[]byte("garbage without headers \x00\xff\xfe"),
		[]byte(":\r\n:\r\n\r\n"),
		[]byte("From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nno boundary"),
		[]byte("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n"),
		[]byte("From: a@example.com\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!not base64****\r\n--x"),
		[]byte("From: a@example.com\r\nContent-Type: text/plain; charset=x-unknown-charset\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=E9=\r\n"),
		[]byte("From: a@example.com\r\nContent-Type: text/html\r\n\r\n" + strings.Repeat("<div>", 5000)),
		[]byte("From: a@example.com\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\n\r\n\r\n: \r\n  cont\r\nFinal-Recipient\r\n--r\r\nContent-Type: message/rfc822\r\n\r\n--r--"),
		[]byte("From: =?utf-8?q?=FF=FE?= <a@example.com>\r\nSubject: =?utf-8?b?////?= =?x-bogus?q?abc?=\r\nMessage-ID: <\xff\xfe@x>\r\nReferences: " + strings.Repeat("<r@x> ", 5000) + "\r\n\r\nhi"),
	}
	full := readCorpus(t, "dsn-bounce.eml")
	for n := 0; n < len(full); n += 97 {
		inputs = append(inputs, full[:n])
	}
	outlook := readCorpus(t, "outlook-reply.eml")
	for n := 0; n < len(outlook); n += 131 {
		inputs = append(inputs, outlook[:n])
	}
	for i, in := range inputs {
		m, err := Parse(in, Limits{}, testOwn)
		if err != nil {
			var r *Rejection
			if !errors.As(err, &r) {
				t.Errorf("input %d: non-Rejection error %v", i, err)
			}
			continue
		}
		checkInvariants(t, m)
	}
}

func checkInvariants(t testing.TB, m *Message) {
	t.Helper()
	if m.DedupeKey == "" {
		t.Error("empty DedupeKey")
	}
	if m.From.Email == "" {
		t.Error("empty From.Email without rejection")
	}
	for name, s := range map[string]string{"Text": m.Text, "Reply": m.Reply, "Subject": m.Subject, "HTML": m.HTML} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not valid UTF-8: %q", name, s)
		}
	}
	if len(m.References) > maxIDs {
		t.Errorf("%d references", len(m.References))
	}
}

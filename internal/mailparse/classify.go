package mailparse

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// classify sets Kind, KindReason, Bounce and SuppressAutoReply. Rules are
// documented in the package comment; the first match wins.
func classify(m *Message, h header, env *enmime.Envelope, own Own) {
	kind, reason := classifyKind(m, h, env, own)
	m.Kind = kind
	m.KindReason = truncate(cleanLine(reason), 300)
	m.SuppressAutoReply = kind != KindHuman || suppressRequested(h.get("X-Auto-Response-Suppress"))
}

func classifyKind(m *Message, h header, env *enmime.Envelope, own Own) (Kind, string) {
	// 1. loop
	loopHeader := strings.TrimSpace(own.LoopHeader)
	if loopHeader == "" {
		loopHeader = DefaultLoopHeader
	}
	if h.has(loopHeader) {
		return KindLoop, loopHeader + ": " + h.get(loopHeader)
	}
	for _, a := range own.Addresses {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" && a == m.From.Email {
			return KindLoop, "sender " + a + " is our own address"
		}
	}

	// 2. bounce
	ctype, params := mediaType(h.get("Content-Type"))
	reportType := strings.ToLower(strings.TrimSpace(params["report-type"]))
	dsnPart := findPart(env.Root, func(p *enmime.Part) bool { return isDeliveryStatus(p.ContentType) })
	daemon := isDaemon(m.From.Email)
	switch {
	case ctype == "multipart/report" && reportType == "delivery-status":
		m.Bounce = parseDSN(env, dsnPart, m.Text)
		return KindBounce, "multipart/report; report-type=delivery-status"
	case dsnPart != nil && ctype == "multipart/report":
		m.Bounce = parseDSN(env, dsnPart, m.Text)
		return KindBounce, "multipart/report with a message/delivery-status part"
	case dsnPart != nil && daemon:
		m.Bounce = parseDSN(env, dsnPart, m.Text)
		return KindBounce, "sender " + m.From.Email + " with a message/delivery-status part"
	case daemon:
		m.Bounce = parseDSN(env, nil, m.Text)
		return KindBounce, "sender " + m.From.Email
	}

	// 3. auto_reply
	if v := h.get("Auto-Submitted"); v != "" {
		if tok := firstToken(v); tok != "" && tok != "no" {
			return KindAutoReply, "Auto-Submitted: " + v
		}
	}
	for _, name := range []string{"X-Autoreply", "X-Autorespond"} {
		if h.has(name) {
			switch firstToken(h.get(name)) {
			case "no", "false", "0":
			default:
				return KindAutoReply, name + ": " + h.get(name)
			}
		}
	}
	if h.has("X-MS-Exchange-Inbox-Rules-Loop") {
		return KindAutoReply, "X-MS-Exchange-Inbox-Rules-Loop: " + h.get("X-MS-Exchange-Inbox-Rules-Loop")
	}
	precedence := firstToken(h.get("Precedence"))
	if precedence == "auto_reply" || precedence == "auto-reply" {
		return KindAutoReply, "Precedence: " + precedence
	}
	if ctype == "multipart/report" && reportType == "disposition-notification" {
		return KindAutoReply, "read receipt (multipart/report; report-type=disposition-notification)"
	}
	if autoReplySubject(m.Subject) {
		if h.has("X-Auto-Response-Suppress") {
			return KindAutoReply, "auto-reply subject with X-Auto-Response-Suppress"
		}
		if rp := h.get("Return-Path"); strings.ReplaceAll(rp, " ", "") == "<>" {
			return KindAutoReply, "auto-reply subject with null Return-Path"
		}
	}

	// 4. bulk
	if precedence == "bulk" || precedence == "junk" {
		return KindBulk, "Precedence: " + precedence
	}

	// 5. list
	if h.has("List-Id") {
		return KindList, "List-Id present"
	}
	if h.has("List-Unsubscribe") {
		return KindList, "List-Unsubscribe present"
	}
	if precedence == "list" {
		return KindList, "Precedence: list"
	}

	return KindHuman, ""
}

// firstToken lower-cases the value up to the first ';' or ',' (parameters
// and comments are ignored).
func firstToken(v string) string {
	if i := strings.IndexAny(v, ";,("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func suppressRequested(v string) bool {
	for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' }) {
		switch strings.ToLower(tok) {
		case "all", "oof", "autoreply":
			return true
		}
	}
	return false
}

var autoReplySubjectRe = regexp.MustCompile(`(?i)^\s*(automatic reply|auto(matic)?[ -]?reply|auto[ -]?response|out of (the )?office|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática)\b`)

func autoReplySubject(s string) bool { return autoReplySubjectRe.MatchString(s) }

func isDaemon(email string) bool {
	local, _, ok := strings.Cut(email, "@")
	if !ok {
		return false
	}
	switch local {
	case "mailer-daemon", "postmaster":
		return true
	}
	return false
}

func mediaType(v string) (string, map[string]string) {
	if v == "" {
		return "", nil
	}
	mt, params, _, err := mediatype.Parse(v)
	if err != nil {
		return "", nil
	}
	return strings.ToLower(mt), params
}

func isDeliveryStatus(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "message/delivery-status" || ct == "message/global-delivery-status"
}

func isReturnedHeaders(ct string) bool {
	switch strings.ToLower(ct) {
	case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global", "message/global-headers":
		return true
	}
	return false
}

// walkParts visits the part tree depth-first without recursion. It stops
// when fn returns false.
func walkParts(root *enmime.Part, fn func(*enmime.Part) bool) {
	if root == nil {
		return
	}
	stack := []*enmime.Part{root}
	seen := map[*enmime.Part]bool{}
	for len(stack) > 0 && len(seen) < 100000 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p == nil || seen[p] {
			continue
		}
		seen[p] = true
		if !fn(p) {
			return
		}
		// Push siblings first so that children are visited first.
		if p != root && p.NextSibling != nil {
			stack = append(stack, p.NextSibling)
		}
		if p.FirstChild != nil {
			stack = append(stack, p.FirstChild)
		}
	}
}

func findPart(root *enmime.Part, match func(*enmime.Part) bool) *enmime.Part {
	var found *enmime.Part
	walkParts(root, func(p *enmime.Part) bool {
		if match(p) {
			found = p
			return false
		}
		return true
	})
	return found
}

var (
	textMessageIDRe = regexp.MustCompile(`(?im)^[ \t>]*Message-ID:[ \t]*<([^>\s]+)>`)
	textStatusRe    = regexp.MustCompile(`\b([245]\.[0-9]{1,3}\.[0-9]{1,3})\b`)
	textRcptRe      = regexp.MustCompile(`(?m)^[ \t]*<([^<>\s@]+@[^<>\s]+)>:`)
)

// parseDSN extracts delivery-status details. dsnPart may be nil, in which
// case (and for fields the DSN lacks) the fields are guessed from text.
func parseDSN(env *enmime.Envelope, dsnPart *enmime.Part, text string) *DSN {
	d := &DSN{}
	if dsnPart != nil {
		blocks := parseFieldBlocks(dsnPart.Content, 100)
		seen := map[string]bool{}
		first := true
		for _, b := range blocks {
			rcpt := b["final-recipient"]
			if rcpt == "" {
				rcpt = b["original-recipient"]
			}
			if rcpt == "" && b["action"] == "" && b["status"] == "" {
				continue // per-message block
			}
			if addr := dsnAddress(rcpt); addr != "" && !seen[addr] && len(d.Recipients) < 100 {
				seen[addr] = true
				d.Recipients = append(d.Recipients, addr)
			}
			if first {
				first = false
				d.Action = strings.ToLower(cleanLine(b["action"]))
				d.Status = cleanLine(b["status"])
				d.Diagnostic = dsnDiagnostic(b["diagnostic-code"])
			}
		}
	}

	// Original Message-ID from the returned message or its headers.
	walkParts(env.Root, func(p *enmime.Part) bool {
		if !isReturnedHeaders(p.ContentType) {
			return true
		}
		if ids := parseIDs(headerField(p.Content, "message-id")); len(ids) > 0 {
			d.OriginalMessageID = ids[0]
			return false
		}
		return true
	})
	if d.OriginalMessageID == "" {
		// Many MTAs quote the original headers in the human-readable part.
		walkParts(env.Root, func(p *enmime.Part) bool {
			if !strings.HasPrefix(strings.ToLower(p.ContentType), "text/") {
				return true
			}
			if mm := textMessageIDRe.FindSubmatch(p.Content); mm != nil {
				d.OriginalMessageID = cleanID(string(mm[1]))
				return false
			}
			return true
		})
	}
	if d.OriginalMessageID == "" {
		if mm := textMessageIDRe.FindStringSubmatch(text); mm != nil {
			d.OriginalMessageID = cleanID(mm[1])
		}
	}

	// Best-effort guesses from the text when there was no usable DSN.
	if d.Status == "" {
		if mm := textStatusRe.FindStringSubmatch(text); mm != nil {
			d.Status = mm[1]
		}
	}
	if d.Action == "" && dsnPart == nil {
		switch {
		case strings.HasPrefix(d.Status, "5."):
			d.Action = "failed"
		case strings.HasPrefix(d.Status, "4."):
			d.Action = "delayed"
		}
	}
	if len(d.Recipients) == 0 {
		seen := map[string]bool{}
		for _, mm := range textRcptRe.FindAllStringSubmatch(text, 100) {
			if a := strings.ToLower(cleanID(mm[1])); !seen[a] {
				seen[a] = true
				d.Recipients = append(d.Recipients, a)
			}
		}
	}
	return d
}

// dsnAddress turns "rfc822; user@example.com" into "user@example.com".
func dsnAddress(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		v = after
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	return strings.ToLower(cleanID(v))
}

// dsnDiagnostic strips the diagnostic type ("smtp; ") from a Diagnostic-Code.
func dsnDiagnostic(v string) string {
	if typ, after, ok := strings.Cut(v, ";"); ok && len(strings.TrimSpace(typ)) < 20 && !strings.Contains(strings.TrimSpace(typ), " ") {
		v = after
	}
	return truncate(cleanLine(v), 1000)
}

// parseFieldBlocks parses RFC 822 style field blocks separated by blank
// lines (the body of message/delivery-status). Keys are lower-cased; the
// first occurrence of a field in a block wins.
func parseFieldBlocks(b []byte, maxBlocks int) []map[string]string {
	var blocks []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, cur)
		}
		cur = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() && len(blocks) < maxBlocks {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" && len(cur[last]) < 4000 {
				cur[last] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := cur[k]; dup {
			last = ""
			continue
		}
		cur[k] = strings.TrimSpace(v)
		last = k
	}
	flush()
	return blocks
}

// headerField returns the first value of the named field in the header
// block at the start of b (unfolded), or "".
func headerField(b []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	val, in := "", false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if in {
				val += " " + strings.TrimSpace(line)
			}
			continue
		}
		if in {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			val, in = strings.TrimSpace(v), true
		}
	}
	return val
}

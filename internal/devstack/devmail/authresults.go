package devmail

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"

	"github.com/helpdesk/helpdesk/internal/mailauth"
)

// stampAuthResults does what a receiving mail server does for sender
// trust (RFC 8601 section 5): it drops every Authentication-Results field
// carrying its own authserv-id (a sender's forgery) and puts its own on
// top. The From domain passes (dmarc=pass) only when the session
// authenticated as the From address: in dev, logging in as someone is
// the proof that they sent it.
func stampAuthResults(raw []byte, authservID, user string) []byte {
	head, body := splitHeader(raw)
	var kept bytes.Buffer
	for _, f := range headerFields(head) {
		name, value, _ := strings.Cut(string(f), ":")
		if strings.EqualFold(strings.TrimSpace(name), "Authentication-Results") &&
			strings.EqualFold(mailauth.AuthServIDOf(unfold(value)), authservID) {
			continue
		}
		kept.Write(f)
	}
	var from, domain string
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if list, err := msg.Header.AddressList("From"); err == nil && len(list) == 1 && len(msg.Header["From"]) == 1 {
			from = strings.ToLower(list[0].Address)
			_, domain, _ = strings.Cut(from, "@")
		}
	}
	results := "auth=none"
	if user != "" {
		results = "auth=pass smtp.auth=" + quote(user)
	}
	switch {
	case domain == "":
		results += "; dmarc=none"
	case user != "" && strings.EqualFold(user, from):
		results += "; dmarc=pass header.from=" + quote(domain)
	default:
		results += fmt.Sprintf("; dmarc=fail reason=%s header.from=%s", quote("not sent by the authenticated From address"), quote(domain))
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "Authentication-Results: %s; %s\r\n", authservID, results)
	out.Write(kept.Bytes())
	out.Write(body)
	return out.Bytes()
}

// splitHeader splits raw after the blank line ending its header (the body
// keeps that line); a message without one is all header.
func splitHeader(raw []byte) (head, body []byte) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw, nil
		}
		line := raw[i : i+j+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return raw[:i], raw[i:]
		}
		i += j + 1
	}
	return raw, nil
}

// headerFields splits a header into its fields, each with its
// continuation lines and line ends, as written.
func headerFields(head []byte) [][]byte {
	var fields [][]byte
	for len(head) > 0 {
		end := 0
		for {
			j := bytes.IndexByte(head[end:], '\n')
			if j < 0 {
				end = len(head)
				break
			}
			end += j + 1
			if end >= len(head) || (head[end] != ' ' && head[end] != '\t') {
				break
			}
		}
		fields = append(fields, head[:end])
		head = head[end:]
	}
	return fields
}

func unfold(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// quote writes v as an RFC 8601 value: a token when it is one, else a
// quoted string.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n;()\"=\\,[]<>:?/") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")
	return `"` + r.Replace(v) + `"`
}

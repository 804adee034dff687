package mailparse

import "strings"

// maxAuthResults bounds the Authentication-Results values kept: each
// server on the way adds one.
const maxAuthResults = 50

// readEnvelope sets AuthResults, AuthorDomain and Recipients.
func readEnvelope(m *Message, h header) {
	for i, v := range h.all("Authentication-Results") {
		if i == maxAuthResults {
			break
		}
		m.AuthResults = append(m.AuthResults, v)
	}
	if from := h.all("From"); len(from) == 1 {
		if list := parseAddressList(from[0]); len(list) == 1 {
			if _, d, ok := strings.Cut(list[0].Email, "@"); ok {
				m.AuthorDomain = d
			}
		}
	}
	seen := map[string]bool{}
	for _, name := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To"} {
		for _, a := range parseAddressList(strings.Join(h.all(name), ", ")) {
			if !seen[a.Email] && len(m.Recipients) < 100 {
				seen[a.Email] = true
				m.Recipients = append(m.Recipients, a.Email)
			}
		}
	}
}

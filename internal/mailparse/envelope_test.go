package mailparse

import (
	"reflect"
	"testing"
)

func TestEnvelope(t *testing.T) {
	tests := []struct {
		name, headers string
		auth          []string
		author        string
		rcpts         []string
	}{
		{"top-most first, folded", "Authentication-Results: mx.example.net;\r\n dmarc=pass header.from=example.com\r\n" +
			"Authentication-Results: evil.example; dmarc=pass\r\nFrom: Agent <Agent@Example.com>\r\nTo: support@helpdesk.local\r\n",
			[]string{"mx.example.net; dmarc=pass header.from=example.com", "evil.example; dmarc=pass"}, "example.com", []string{"support@helpdesk.local"}},
		{"two From headers", "From: agent@example.com\r\nFrom: x@evil.example\r\n", nil, "", nil},
		{"two From addresses", "From: agent@example.com, x@evil.example\r\n", nil, "", nil},
		{"only Sender", "From: undisclosed\r\nSender: agent@example.com\r\n", nil, "", nil},
		{"delivery headers before To", "From: a@example.com\r\nTo: Support <support@helpdesk.local>\r\n" +
			"Delivered-To: support+bounce-1-2-abc@helpdesk.local\r\nX-Original-To: SUPPORT+bounce-1-2-abc@helpdesk.local\r\n",
			nil, "example.com", []string{"support+bounce-1-2-abc@helpdesk.local", "support@helpdesk.local"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.headers+"Message-ID: <e@example.com>\r\n\r\nbody\r\n"), Limits{}, Own{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.AuthResults, tc.auth) || m.AuthorDomain != tc.author || !reflect.DeepEqual(m.Recipients, tc.rcpts) {
				t.Errorf("AuthResults %q AuthorDomain %q Recipients %q\nwant %q %q %q", m.AuthResults, m.AuthorDomain, m.Recipients, tc.auth, tc.author, tc.rcpts)
			}
		})
	}
}

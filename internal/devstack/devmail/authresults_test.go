package devmail

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/helpdesk/helpdesk/internal/mailauth"
	"github.com/helpdesk/helpdesk/internal/mailparse"
)

// TestStampsAuthenticationResults: with an authserv-id, the dev SMTP
// server vouches for the From domain only when the session logged in as
// the From address, and a sender's own header under its id is removed
// (placed above or below, folded or not), so it cannot vouch for itself.
func TestStampsAuthenticationResults(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	srv, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", AuthservID: AuthservID,
		Deliver: func(_ context.Context, _ string, _ []string, raw []byte) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, raw)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	forged := "Authentication-Results: " + AuthservID + ";\r\n\tdmarc=pass header.from=example.com\r\n" +
		"Authentication-Results: mx.elsewhere.example; spf=pass smtp.mailfrom=x@example.com\r\n"
	msg := "From: Agent <agent@example.com>\r\n" + forged + "To: support@helpdesk.local\r\nSubject: Re: [#1] hi\r\n" +
		"Message-ID: <m@example.com>\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name string
		auth sasl.Client
		pass bool
	}{
		{"no login", nil, false},
		{"logged in as someone else", sasl.NewPlainClient("", "mallory@example.com", "x"), false},
		{"logged in as the From address", sasl.NewPlainClient("", "Agent@Example.com", "x"), true},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := send(srv.Addr(), tc.auth, "agent@example.com", []string{"support@helpdesk.local"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		mu.Lock()
		raw := got[0]
		mu.Unlock()
		m, err := mailparse.Parse(raw, mailparse.Limits{}, mailparse.Own{})
		if err != nil {
			t.Fatal(err)
		}
		v := mailauth.Check(m.AuthResults, AuthservID, m.AuthorDomain)
		if v.Pass != tc.pass {
			t.Errorf("%s: %+v\n%s", tc.name, v, raw)
		}
		if n := bytes.Count(raw, []byte(AuthservID)); n != 1 || len(m.AuthResults) != 2 || !strings.HasPrefix(m.AuthResults[1], "mx.elsewhere.example") {
			t.Errorf("%s: the sender's header under %s must go and the other stay: %q", tc.name, AuthservID, m.AuthResults)
		}
		if !bytes.HasSuffix(raw, []byte("\r\n\r\nbody\r\n")) {
			t.Errorf("%s: body changed: %q", tc.name, raw)
		}
	}
}

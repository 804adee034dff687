package mailout

import (
	"bytes"
	"context"
	"errors"
	"net/mail"
	"strings"
	"testing"
)

func testSigner(t *testing.T) *Signer {
	t.Helper()
	s, err := NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignedMessageIDsAndReturnPaths(t *testing.T) {
	s := testSigner(t)
	other, _ := NewSigner(KeyFromSecret("another installation's mail_secret, 32+ chars"))
	from := mail.Address{Name: "Help Desk", Address: "support@example.com"}
	id := s.MessageID(42, 7, from)
	rp := s.ReturnPath(42, 7, from)
	if !strings.HasPrefix(id, "ticket-42.n7.") || !strings.HasSuffix(id, "@example.com") || len(id) != len("ticket-42.n7.@example.com")+macHexLen {
		t.Errorf("Message-ID %q", id)
	}
	if !strings.HasPrefix(rp, "support+bounce-42-7-") || !strings.HasSuffix(rp, "@example.com") {
		t.Errorf("return path %q", rp)
	}
	if s.MessageID(42, 7, from) != id || s.ReturnPath(42, 7, from) != rp {
		t.Error("not deterministic: a retried send would be another message")
	}
	want := Ref{Ticket: 42, Outbox: 7}
	for _, tc := range []struct {
		name string
		ok   bool
		got  func() (Ref, bool)
	}{
		{"own Message-ID", true, func() (Ref, bool) { return s.CheckMessageID(id) }},
		{"own Message-ID upper-cased", true, func() (Ref, bool) { return s.CheckMessageID(strings.ToUpper(id)) }},
		{"own return path", true, func() (Ref, bool) { return s.CheckReturnPath(rp) }},
		{"own return path case-folded", true, func() (Ref, bool) { return s.CheckReturnPath(strings.ToUpper(rp)) }},
		{"old unsigned Message-ID", false, func() (Ref, bool) { return s.CheckMessageID("ticket-42.n7@example.com") }},
		{"Message-ID moved to another ticket", false, func() (Ref, bool) {
			return s.CheckMessageID(strings.Replace(id, "ticket-42.", "ticket-43.", 1))
		}},
		{"Message-ID of another key", false, func() (Ref, bool) { return s.CheckMessageID(other.MessageID(42, 7, from)) }},
		{"return-path mac used as Message-ID mac", false, func() (Ref, bool) {
			return s.CheckMessageID("ticket-42.n7." + rp[len("support+bounce-42-7-"):])
		}},
		{"return path moved to another message", false, func() (Ref, bool) {
			return s.CheckReturnPath(strings.Replace(rp, "-42-7-", "-42-8-", 1))
		}},
		{"return path with a short mac", false, func() (Ref, bool) { return s.CheckReturnPath("support+bounce-42-7-abc@example.com") }},
		{"plain address", false, func() (Ref, bool) { return s.CheckReturnPath("support@example.com") }},
		{"garbage", false, func() (Ref, bool) { return s.CheckMessageID("ticket-x.ny.z@") }},
	} {
		ref, ok := tc.got()
		if ok != tc.ok || ok && ref != want {
			t.Errorf("%s: %+v %v, want ok %v", tc.name, ref, ok, tc.ok)
		}
	}
}

func TestKeyring(t *testing.T) {
	loads := 0
	stored := func(context.Context) ([]byte, error) {
		loads++
		if loads == 1 {
			return nil, errors.New("database down")
		}
		return bytes.Repeat([]byte{1}, 32), nil
	}
	var k Keyring
	if _, err := k.Signer(context.Background(), "", stored); err == nil {
		t.Fatal("a failed load gave a signer")
	}
	a, err := k.Signer(context.Background(), "", stored)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Signer(context.Background(), "", stored)
	if a != b || loads != 2 {
		t.Errorf("loads %d: the key is loaded once after success", loads)
	}
	var fromSecret Keyring
	c, err := fromSecret.Signer(context.Background(), "a mail_secret of at least 32 characters", stored)
	if err != nil || loads != 2 {
		t.Fatalf("mail_secret set: %v, loads %d (the stored key must not be read)", err, loads)
	}
	from := mail.Address{Address: "support@example.com"}
	if c.MessageID(1, 1, from) == a.MessageID(1, 1, from) {
		t.Error("mail_secret and the stored key sign alike")
	}
}

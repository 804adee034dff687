package mailout

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/mailparse"
)

func TestComposeThreadsAndMarksAutomaticMail(t *testing.T) {
	from := mail.Address{Name: "Help Desk", Address: "support@example.com"}
	raw, err := Compose(Message{From: from, To: mail.Address{Name: "Zoë Ünal", Address: "zoe@customer.example"},
		Number: 42, Subject: "Re: [#42] Drucker druckt nicht – bitte prüfen", Text: "Wir haben Ihre Anfrage erhalten.\nGrüße",
		MessageID: testSigner(t).MessageID(42, 7, from), InReplyTo: "orig@customer.example", References: []string{"orig@customer.example", "x@y"},
		Automatic: true})
	if err != nil {
		t.Fatal(err)
	}
	head := string(raw[:strings.Index(string(raw), "\r\n\r\n")])
	for _, want := range []string{"Message-ID: <ticket-42.n7.", "In-Reply-To: <orig@customer.example>",
		"References: <orig@customer.example> <x@y>", "Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: All",
		"X-Helpdesk-Loop: example.com"} {
		if !strings.Contains(strings.ToLower(head), strings.ToLower(want)) {
			t.Errorf("header %q missing in:\n%s", want, head)
		}
	}
	msg, err := mailparse.Parse(raw, mailparse.Limits{}, mailparse.Own{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "[#42] Re: Drucker druckt nicht – bitte prüfen" {
		t.Errorf("subject %q", msg.Subject)
	}
	if len(msg.ReplyTo) != 1 || msg.ReplyTo[0].Email != "support@example.com" || msg.From.Email != "support@example.com" {
		t.Errorf("from %+v reply-to %+v", msg.From, msg.ReplyTo)
	}
	if !strings.Contains(msg.Text, "Grüße") || msg.Kind != mailparse.KindLoop {
		t.Errorf("text %q kind %s: our own mail must read back as ours", msg.Text, msg.Kind)
	}
	if n, ok := mailparse.SubjectTag(msg.Subject); !ok || n != 42 {
		t.Errorf("tag %d %v", n, ok)
	}
}

func TestPersonalMailIsNotMarkedAutomatic(t *testing.T) {
	from := mail.Address{Address: "support@example.com"}
	raw, err := Compose(Message{From: from, To: mail.Address{Address: "a@b.example"}, Number: 1, Subject: "Hi", Text: "Hello",
		MessageID: testSigner(t).MessageID(1, 2, from)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "Auto-Submitted") {
		t.Errorf("an agent's reply must not say Auto-Submitted:\n%s", raw)
	}
}

func TestReferencesAreTrimmed(t *testing.T) {
	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, string(rune('a'+i%26))+strings.Repeat("x", i)+"@h")
	}
	refs := strings.Fields(references(ids, "last@h"))
	if len(refs) != 10 || refs[0] != "<"+ids[0]+">" || refs[9] != "<last@h>" {
		t.Errorf("references %v", refs)
	}
}

package mailauth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Header
	}{
		{"gmail", `mx.google.com; dkim=pass header.i=@example.com header.s=20230601 header.b=Ab/c+d=; ` +
			`spf=pass (google.com: domain of agent@example.com designates 192.0.2.1 as permitted sender) smtp.mailfrom=agent@example.com; ` +
			`dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com`,
			Header{"mx.google.com", []Result{
				{"dkim", "pass", "", map[string]string{"header.i": "@example.com", "header.s": "20230601", "header.b": "Ab/c+d="}},
				{"spf", "pass", "", map[string]string{"smtp.mailfrom": "agent@example.com"}},
				{"dmarc", "pass", "", map[string]string{"header.from": "example.com"}},
			}}},
		{"version, method version, reason, case", `MX.Example.NET 1; DKIM/1=Pass reason="good; key ok" Header.D=Example.COM`,
			Header{"MX.Example.NET", []Result{{"dkim", "pass", "good; key ok", map[string]string{"header.d": "Example.COM"}}}}},
		{"none", `mx.example.net; none`, Header{"mx.example.net", nil}},
		{"id only", `mx.example.net`, Header{"mx.example.net", nil}},
		{"trailing semicolon", `mx.example.net; spf=fail smtp.mailfrom=x@y.example;`,
			Header{"mx.example.net", []Result{{"spf", "fail", "", map[string]string{"smtp.mailfrom": "x@y.example"}}}}},
		{"comments anywhere, nested, with ; and =", `mx.example.net (the (inner; dmarc=pass) one); dkim=pass (good; key=ok) header.d=example.com`,
			Header{"mx.example.net", []Result{{"dkim", "pass", "", map[string]string{"header.d": "example.com"}}}}},
		{"quoted local part holding a forged result", `mx.example.net; spf=pass smtp.mailfrom="a;dmarc=pass header.from=victim.example"@evil.example; dmarc=fail header.from=victim.example`,
			Header{"mx.example.net", []Result{
				{"spf", "pass", "", map[string]string{"smtp.mailfrom": "a;dmarc=pass header.from=victim.example@evil.example"}},
				{"dmarc", "fail", "", map[string]string{"header.from": "victim.example"}},
			}}},
		{"comment echoing the sender", `mx.example.net; spf=pass (sender "x;dmarc=pass header.from=victim.example" is ok) smtp.mailfrom=evil.example; dmarc=fail header.from=victim.example`,
			Header{"mx.example.net", []Result{
				{"spf", "pass", "", map[string]string{"smtp.mailfrom": "evil.example"}},
				{"dmarc", "fail", "", map[string]string{"header.from": "victim.example"}},
			}}},
		{"quoted authserv-id", `"mx.example.net"; dmarc=pass header.from=example.com`,
			Header{"mx.example.net", []Result{{"dmarc", "pass", "", map[string]string{"header.from": "example.com"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		``,
		`; dmarc=pass header.from=example.com`,
		`mx.example.net 2; dmarc=pass header.from=example.com`,
		`mx.example.net dmarc=pass`,
		`mx.example.net; dmarc`,
		`mx.example.net; dmarc=`,
		`mx.example.net; dmarc=pass header.from`,
		`mx.example.net; dmarc=pass from=example.com`,
		`mx.example.net; dmarc=pass header.from=a.example header.from=example.com`,
		`mx.example.net; dmarc=pass (unterminated header.from=example.com`,
		`mx.example.net; dmarc=pass header.from="example.com`,
		`mx.example.net; dmarc=pass) header.from=example.com`,
		"mx.example.net; dmarc=pass header.from=exa\x00mple.com",
		`mx.example.net; dkim/=pass header.d=example.com`,
		`mx.example.net; dmarc=pass ` + strings.Repeat("x", maxHeaderBytes),
		`mx.example.net` + strings.Repeat("; dkim=fail", maxResults+1),
		`mx.example.net; ` + strings.Repeat("(", 30) + strings.Repeat(")", 30) + ` dmarc=pass header.from=example.com`,
	} {
		if h, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrSyntax", in, h, err)
		}
	}
}

func TestCheck(t *testing.T) {
	const id = "mx.helpdesk.example"
	pass := id + "; dmarc=pass (p=reject) header.from=example.com"
	for _, tc := range []struct {
		name    string
		headers []string
		from    string
		want    bool
		reason  string // part of the Reason
	}{
		{"dmarc pass", []string{pass}, "example.com", true, "dmarc=pass"},
		{"dmarc pass, id in other case", []string{"MX.HELPDESK.EXAMPLE; dmarc=pass header.from=Example.com."}, "example.com", true, "dmarc=pass"},
		{"dmarc pass for another From domain", []string{id + "; dmarc=pass header.from=evil.example"}, "example.com", false, "none passes for example.com"},
		{"dmarc pass without header.from", []string{id + "; dmarc=pass"}, "example.com", false, "none passes"},
		{"dmarc fail", []string{id + "; dmarc=fail header.from=example.com"}, "example.com", false, "dmarc=fail"},
		{"dkim pass, same domain", []string{id + "; dkim=pass header.d=example.com; dmarc=none header.from=example.com"}, "example.com", true, "dkim=pass"},
		{"dkim pass, parent signs for subdomain", []string{id + "; dkim=pass header.d=example.com"}, "support.example.com", true, "aligned"},
		{"dkim pass, subdomain signs for parent", []string{id + "; dkim=pass header.d=mail.example.com"}, "example.com", true, "aligned"},
		{"dkim pass, other domain", []string{id + "; dkim=pass header.d=mailer.example.net"}, "example.com", false, "dkim=pass header.d=mailer.example.net"},
		{"dkim pass across a public suffix", []string{id + "; dkim=pass header.d=attacker.github.io"}, "victim.github.io", false, "none passes"},
		{"dkim pass on the public suffix itself", []string{id + "; dkim=pass header.d=co.uk"}, "victim.co.uk", false, "none passes"},
		{"dkim neutral", []string{id + "; dkim=neutral header.d=example.com"}, "example.com", false, "dkim=neutral"},
		{"spf pass alone", []string{id + "; spf=pass smtp.mailfrom=agent@example.com"}, "example.com", false, "no DMARC or DKIM"},
		{"no header", nil, "example.com", false, "no Authentication-Results from " + id},
		{"only other servers' headers", []string{"mx.evil.example; dmarc=pass header.from=example.com"}, "example.com", false, "no Authentication-Results from"},
		{"other id above the trusted one is skipped", []string{"mx.other.example; dmarc=fail header.from=example.com", pass}, "example.com", true, "dmarc=pass"},
		{"forged pass below the trusted fail", []string{id + "; dmarc=fail header.from=example.com", pass}, "example.com", false, "dmarc=fail"},
		{"forged pass below the trusted none", []string{id + "; none", pass}, "example.com", false, "no DMARC or DKIM"},
		{"unreadable trusted header fails closed", []string{id + "; dmarc=pass (header.from=example.com", pass}, "example.com", false, "cannot be read"},
		{"unreadable foreign header above is skipped", []string{"mx.other.example; dmarc=(", pass}, "example.com", true, "dmarc=pass"},
		{"forged pass in a quoted local part", []string{id + `; spf=pass smtp.mailfrom="x;dmarc=pass header.from=example.com"@evil.example; dmarc=fail header.from=example.com`}, "example.com", false, "dmarc=fail"},
		{"no From domain", []string{pass}, "", false, "no single From"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(tc.headers, id, tc.from)
			if v.Pass != tc.want || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("Check = %+v, want pass %v with reason containing %q", v, tc.want, tc.reason)
			}
		})
	}
	if v := Check([]string{pass}, "", "example.com"); v.Pass {
		t.Errorf("no configured authserv-id passed: %+v", v)
	}
}

func TestAuthServIDOf(t *testing.T) {
	for in, want := range map[string]string{
		"mx.example.net; dmarc=pass header.from=example.com": "mx.example.net",
		"(comment) mx.example.net 1; dmarc=(":                "mx.example.net",
		`"mx.example.net"; spf=pass (unterminated`:           "mx.example.net",
		"; dmarc=pass":  "",
		"(unterminated": "",
	} {
		if got := AuthServIDOf(in); got != want {
			t.Errorf("AuthServIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}

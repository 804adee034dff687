package mailauth

import (
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Verdict says whether a message's author (its From domain) is
// authenticated, and how or why not, in words for logs and mail records.
type Verdict struct {
	Pass   bool
	Reason string
}

// Check decides from a message's Authentication-Results values (top-most
// first, as they appear in the header) whether the server named authservID
// authenticated the From domain fromDomain:
//
//   - Only the top-most header carrying authservID counts (RFC 8601
//     section 5): the receiving server adds its own above everything a
//     sender wrote, so one further down, even with the trusted id, is the
//     sender's. Headers above it with other ids are skipped.
//   - It passes with dmarc=pass whose header.from is fromDomain, or with
//     dkim=pass whose header.d has the same organizational domain as
//     fromDomain (DMARC's relaxed alignment: example.com signs for
//     mail.example.com and the other way round, github.io does not sign
//     for someone.github.io).
//   - A trusted header that cannot be read fails closed.
//
// An empty authservID or fromDomain never passes.
func Check(headers []string, authservID, fromDomain string) Verdict {
	if strings.TrimSpace(authservID) == "" {
		return Verdict{Reason: "no trusted authserv-id is configured"}
	}
	from := normDomain(fromDomain)
	if from == "" {
		return Verdict{Reason: "no single From address to authenticate"}
	}
	for _, v := range headers {
		h, err := Parse(v)
		if err != nil {
			if !strings.EqualFold(AuthServIDOf(v), authservID) {
				continue // someone else's header, unreadable: not ours to judge
			}
			return Verdict{Reason: fmt.Sprintf("the Authentication-Results of %s cannot be read: %v", authservID, err)}
		}
		if !strings.EqualFold(h.AuthServID, authservID) {
			continue
		}
		return judge(h, from)
	}
	return Verdict{Reason: "no Authentication-Results from " + authservID}
}

func judge(h Header, from string) Verdict {
	var seen []string
	for _, r := range h.Results {
		switch r.Method {
		case "dmarc":
			hf := normDomain(r.Props["header.from"])
			if r.Value == "pass" && hf == from {
				return Verdict{Pass: true, Reason: fmt.Sprintf("%s: dmarc=pass header.from=%s", h.AuthServID, hf)}
			}
			seen = append(seen, fmt.Sprintf("dmarc=%s header.from=%s", r.Value, hf))
		case "dkim":
			d := normDomain(r.Props["header.d"])
			if r.Value == "pass" && d != "" && Aligned(d, from) {
				return Verdict{Pass: true, Reason: fmt.Sprintf("%s: dkim=pass header.d=%s, aligned with %s", h.AuthServID, d, from)}
			}
			seen = append(seen, fmt.Sprintf("dkim=%s header.d=%s", r.Value, d))
		}
	}
	if len(seen) == 0 {
		return Verdict{Reason: fmt.Sprintf("%s reports no DMARC or DKIM result", h.AuthServID)}
	}
	return Verdict{Reason: fmt.Sprintf("%s: %s; none passes for %s", h.AuthServID, strings.Join(seen, ", "), from)}
}

// Aligned reports whether domains a and b have the same organizational
// domain (the public suffix plus one label).
func Aligned(a, b string) bool {
	a, b = normDomain(a), normDomain(b)
	if a == "" || b == "" {
		return false
	}
	return orgDomain(a) == orgDomain(b)
}

func orgDomain(d string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d // a public suffix itself, or not a domain: only itself
}

// normDomain lower-cases a domain, drops a trailing dot and an "@" or
// "local@" in front (header.i style); "" for anything with blanks.
func normDomain(d string) string {
	d = strings.TrimSpace(d)
	if i := strings.LastIndexByte(d, '@'); i >= 0 {
		d = d[i+1:]
	}
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if strings.ContainsAny(d, " \t\r\n;()\"") {
		return ""
	}
	return d
}

// AuthServIDOf is the authserv-id of an Authentication-Results value, also
// of one Parse refuses: its first word, comments dropped ("" when even
// that cannot be read). Mail servers use it to drop headers carrying
// their own id that a sender wrote.
func AuthServIDOf(v string) string {
	if h, err := Parse(v); err == nil {
		return h.AuthServID
	}
	head, _, _ := strings.Cut(v, ";")
	toks, err := lex(head)
	if err != nil || len(toks) == 0 || toks[0].kind != tokWord {
		// Cut may have split a quoted id or a comment: read it whole.
		toks, err = lex(v)
		if err != nil || len(toks) == 0 || toks[0].kind != tokWord {
			return ""
		}
	}
	return toks[0].text
}

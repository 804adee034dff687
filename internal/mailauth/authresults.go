// Package mailauth decides whether a received message's sender is
// authenticated, from the Authentication-Results header fields (RFC 8601)
// that the receiving mail server added. The intake lets a message act as a
// known person (an agent replying by mail) only when it is.
//
// The package is pure: it parses header values and compares domains, and
// performs no I/O.
//
// # Choices
//
// The header is parsed here rather than with
// github.com/emersion/go-msgauth/authres (v0.7.0), the one maintained Go
// parser: it splits the value at every ';' before reading it and does not
// skip comments (its own TODO says so), so a ';' inside a comment or a
// quoted local part, both of which a sender can influence (an SPF comment
// echoing the envelope sender "a;dmarc=pass …"@evil.example), yields a
// result the server never wrote; it also loses header.d of a
// "dkim=pass (good; key ok)" result. The grammar is small; this parser
// reads comments (nested, with quoted pairs) and quoted strings as RFC
// 8601 section 2.2 and RFC 5322 define them, and refuses what it cannot
// read rather than guessing.
//
// Organizational domains for DKIM alignment come from the public suffix
// list in golang.org/x/net/publicsuffix (the rule of DMARC, RFC 7489
// section 3.2).
package mailauth

import (
	"errors"
	"fmt"
	"strings"
)

// Result is one "method=result" statement of an Authentication-Results
// header, e.g. dkim=pass reason="…" header.d=example.com.
type Result struct {
	Method string // lower-cased, without its version ("dkim")
	Value  string // lower-cased ("pass", "fail", …)
	Reason string
	// Props are the "ptype.property" values, keys lower-cased
	// ("header.d", "header.from", "smtp.mailfrom").
	Props map[string]string
}

// Header is one parsed Authentication-Results header field.
type Header struct {
	AuthServID string // as written; compare with strings.EqualFold
	Results    []Result
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("mailauth: malformed Authentication-Results")

// maxResults bounds the statements read from one header.
const maxResults = 100

// Parse reads one Authentication-Results header value (unfolded).
func Parse(v string) (Header, error) {
	toks, err := lex(v)
	if err != nil {
		return Header{}, err
	}
	p := &parser{toks: toks}
	var h Header
	id, ok := p.word()
	if !ok || id == "" {
		return Header{}, fmt.Errorf("%w: no authserv-id", ErrSyntax)
	}
	h.AuthServID = id
	if t, ok := p.peek(); ok && t.kind == tokWord {
		// authres-version: only version 1 exists (RFC 8601 section 2.2).
		if t.text != "1" {
			return Header{}, fmt.Errorf("%w: version %q", ErrSyntax, t.text)
		}
		p.next()
	}
	if p.done() {
		return h, nil
	}
	for !p.done() {
		if !p.take(tokSemi) {
			return Header{}, fmt.Errorf("%w: want ';' after %q", ErrSyntax, h.AuthServID)
		}
		if p.done() {
			break // a trailing ';' is tolerated
		}
		method, ok := p.word()
		if !ok {
			return Header{}, fmt.Errorf("%w: want a method", ErrSyntax)
		}
		method = strings.ToLower(method)
		if method == "none" && p.done() && len(h.Results) == 0 {
			return h, nil // "; none": nothing was checked
		}
		if m, version, ok := strings.Cut(method, "/"); ok { // method-version
			if m == "" || version == "" {
				return Header{}, fmt.Errorf("%w: method %q", ErrSyntax, method)
			}
			method = m
		}
		if !p.take(tokEquals) {
			return Header{}, fmt.Errorf("%w: method %q: want '='", ErrSyntax, method)
		}
		value, ok := p.word()
		if !ok {
			return Header{}, fmt.Errorf("%w: method %q: want a result", ErrSyntax, method)
		}
		r := Result{Method: method, Value: strings.ToLower(value), Props: map[string]string{}}
		for !p.done() {
			if t, _ := p.peek(); t.kind == tokSemi {
				break
			}
			key, ok := p.word()
			if !ok || !p.take(tokEquals) {
				return Header{}, fmt.Errorf("%w: method %q: want name=value", ErrSyntax, method)
			}
			val, ok := p.value()
			if !ok {
				return Header{}, fmt.Errorf("%w: method %q: %s: want a value", ErrSyntax, method, key)
			}
			key = strings.ToLower(key)
			switch {
			case key == "reason":
				r.Reason = val
			case strings.Count(key, ".") >= 1 && !strings.HasPrefix(key, ".") && !strings.HasSuffix(key, "."):
				if _, dup := r.Props[key]; dup {
					// One server writes each property once; two are not
					// its work, and neither is believed.
					return Header{}, fmt.Errorf("%w: method %q: %s given twice", ErrSyntax, method, key)
				}
				r.Props[key] = val
			default:
				return Header{}, fmt.Errorf("%w: method %q: %q is neither reason nor ptype.property", ErrSyntax, method, key)
			}
		}
		if len(h.Results) == maxResults {
			return Header{}, fmt.Errorf("%w: more than %d results", ErrSyntax, maxResults)
		}
		h.Results = append(h.Results, r)
	}
	return h, nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokSemi
	tokEquals
)

type token struct {
	kind tokKind
	text string
	// spaced: white space or a comment came before it.
	spaced bool
}

// maxHeaderBytes bounds what lex reads: real headers are a few hundred
// bytes, and one over this is not a server's.
const maxHeaderBytes = 16 << 10

// lex splits v into words, ';' and '=', dropping comments and white space.
// A word is a run of characters other than white space, comments, ';', '='
// and '"', with quoted strings (unquoted) joined to the run they touch, so
// "a;b"@example.com is one word.
func lex(v string) ([]token, error) {
	if len(v) > maxHeaderBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, maxHeaderBytes)
	}
	var toks []token
	var word strings.Builder
	inWord, spaced := false, false
	add := func(t token) {
		t.spaced = spaced
		toks = append(toks, t)
		spaced = false
	}
	flush := func() {
		if inWord {
			add(token{kind: tokWord, text: word.String()})
			word.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			flush()
			spaced = true
			i++
		case c == '(':
			flush()
			end, err := skipComment(v, i)
			if err != nil {
				return nil, err
			}
			spaced = true
			i = end
		case c == ')':
			return nil, fmt.Errorf("%w: unbalanced ')'", ErrSyntax)
		case c == ';' || c == '=':
			flush()
			kind := tokSemi
			if c == '=' {
				kind = tokEquals
			}
			add(token{kind: kind, text: string(c)})
			i++
		case c == '"':
			end, text, err := quoted(v, i)
			if err != nil {
				return nil, err
			}
			word.WriteString(text)
			inWord = true
			i = end
		case c < 0x20 || c == 0x7f:
			return nil, fmt.Errorf("%w: control character", ErrSyntax)
		default:
			word.WriteByte(c)
			inWord = true
			i++
		}
	}
	flush()
	return toks, nil
}

// skipComment returns the index after the comment opening at v[i] == '('.
// Comments nest and may hold quoted pairs (RFC 5322 section 3.2.2).
func skipComment(v string, i int) (int, error) {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++ // the quoted character, whatever it is
		case '(':
			depth++
			if depth > 20 {
				return 0, fmt.Errorf("%w: comments nested too deep", ErrSyntax)
			}
		case ')':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: unterminated comment", ErrSyntax)
}

// quoted reads the quoted string opening at v[i] == '"' and returns the
// index after it and its content with quoted pairs resolved.
func quoted(v string, i int) (int, string, error) {
	var b strings.Builder
	for i++; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			if i+1 >= len(v) {
				return 0, "", fmt.Errorf("%w: unterminated quoted string", ErrSyntax)
			}
			i++
			b.WriteByte(v[i])
		case '"':
			return i + 1, b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return 0, "", fmt.Errorf("%w: unterminated quoted string", ErrSyntax)
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) done() bool { return p.pos >= len(p.toks) }

func (p *parser) peek() (token, bool) {
	if p.done() {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *parser) next() { p.pos++ }

func (p *parser) take(k tokKind) bool {
	if t, ok := p.peek(); ok && t.kind == k {
		p.pos++
		return true
	}
	return false
}

// value reads a property value: a word, with the '=' and words glued to
// it (no space between), as servers write base64 such as header.b=ab/c=
// unquoted.
func (p *parser) value() (string, bool) {
	v, ok := p.word()
	if !ok {
		return "", false
	}
	for {
		t, ok := p.peek()
		if !ok || t.spaced || t.kind == tokSemi {
			return v, true
		}
		v += t.text
		p.next()
	}
}

func (p *parser) word() (string, bool) {
	if t, ok := p.peek(); ok && t.kind == tokWord {
		p.pos++
		return t.text, true
	}
	return "", false
}

// Package query is the ticket search language that agents type in the
// search box and integrators send as `q` (issue 20):
//
//	status:open,pending priority:>=high assignee:me team:"Service desk"
//	created:>2026-11-01 updated:<7d due:<2h escalated:true -tag:spam
//	cf.asset:"LAP-1234" printer "paper jam"
//
// A query is terms separated by spaces, all of which must hold. A term is
// free text (a word, or a "quoted phrase"), or field:value. A leading "-"
// negates a term. Commas give alternatives within a field (OR). Ordered
// fields take a comparison before the value (<, <=, >, >=). Dates are
// absolute (2026-11-01, or RFC 3339) or an age (30m, 2h, 7d, 2w).
//
// Parse only checks the syntax and the fields and values against the
// vocabulary; Resolve turns dates into absolute instants for a time zone
// and a moment. Translating a query into an Elasticsearch request is the
// search package's; reports and saved views reuse this package.
package query

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Op is a term's comparison.
type Op string

// The comparisons. OpIs is "field:value" (for dates: within that day).
const (
	OpIs Op = ":"
	OpLT Op = "<"
	OpLE Op = "<="
	OpGT Op = ">"
	OpGE Op = ">="
)

// Term is one condition of a query.
type Term struct {
	// Pos is the term's byte offset in the query (its "-" if negated).
	Pos     int
	Negated bool
	// Field is "" for free text; "cf.<key>" for a custom field.
	Field string
	Op    Op
	// Values are the alternatives (OR), unquoted; one for free text.
	Values []string
	// Phrase: free text that was quoted, matched as a phrase.
	Phrase bool
}

// Query is every term of a search; all must hold.
type Query struct {
	Terms []Term
}

// Error is a query that does not parse: where and why, for people.
type Error struct {
	// Pos is the byte offset of the problem; Field names the field the
	// problem is with, if any.
	Pos   int
	Field string
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos, e.Msg) }

// MaxLength bounds a query (bytes); MaxTerms the terms it may hold, and
// MaxValues the alternatives of one term: a query is typed by a person,
// and a pathological one must not become a huge Elasticsearch request.
const (
	MaxLength = 2048
	MaxTerms  = 64
	MaxValues = 32
)

// Parse reads a query. An empty query (only spaces) has no terms.
func Parse(s string) (Query, error) {
	var q Query
	if len(s) > MaxLength {
		return q, &Error{Pos: MaxLength, Msg: fmt.Sprintf("the query is longer than %d bytes", MaxLength)}
	}
	if !utf8.ValidString(s) {
		return q, &Error{Pos: invalidUTF8At(s), Msg: "the query is not valid UTF-8"}
	}
	p := &parser{s: s}
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return q, nil
		}
		if len(q.Terms) == MaxTerms {
			return q, &Error{Pos: p.i, Msg: fmt.Sprintf("a query may hold at most %d terms", MaxTerms)}
		}
		t, err := p.term()
		if err != nil {
			return Query{}, err
		}
		if err := check(&t); err != nil {
			return Query{}, err
		}
		q.Terms = append(q.Terms, t)
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !unicode.IsSpace(r) {
			return
		}
		p.i += n
	}
}

// term reads [-] ( "phrase" | word | field:[op]values ).
func (p *parser) term() (Term, error) {
	t := Term{Pos: p.i, Op: OpIs}
	if p.s[p.i] == '-' && p.i+1 < len(p.s) && !isSpaceAt(p.s, p.i+1) {
		t.Negated = true
		p.i++
	}
	if p.s[p.i] == '"' {
		v, err := p.quoted()
		if err != nil {
			return t, err
		}
		if strings.TrimSpace(v) == "" {
			return t, &Error{Pos: t.Pos, Msg: "an empty phrase matches nothing; remove it"}
		}
		t.Values, t.Phrase = []string{v}, true
		return t, p.endOfTerm()
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ':' && p.s[p.i] != '"' && !isSpaceAt(p.s, p.i) {
		p.i++
	}
	if p.i >= len(p.s) || p.s[p.i] != ':' {
		if p.i < len(p.s) && p.s[p.i] == '"' {
			return t, &Error{Pos: p.i, Msg: `a quote inside a word; put the whole phrase in quotes ("paper jam")`}
		}
		t.Values = []string{p.s[start:p.i]}
		return t, nil
	}
	t.Field = strings.ToLower(p.s[start:p.i])
	if t.Field == "" {
		return t, &Error{Pos: start, Msg: "a colon without a field name before it"}
	}
	p.i++ // ':'
	for _, op := range []Op{OpLE, OpGE, OpLT, OpGT} {
		if strings.HasPrefix(p.s[p.i:], string(op)) {
			t.Op = op
			p.i += len(op)
			break
		}
	}
	for {
		vpos := p.i
		var v string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			var err error
			if v, err = p.quoted(); err != nil {
				return t, err
			}
		} else {
			for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '"' && !isSpaceAt(p.s, p.i) {
				p.i++
			}
			v = p.s[vpos:p.i]
		}
		if v == "" {
			return t, &Error{Pos: vpos, Field: t.Field, Msg: fmt.Sprintf("%s: a value is missing", t.Field)}
		}
		if len(t.Values) == MaxValues {
			return t, &Error{Pos: vpos, Field: t.Field, Msg: fmt.Sprintf("%s: at most %d alternatives", t.Field, MaxValues)}
		}
		t.Values = append(t.Values, v)
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		return t, p.endOfTerm()
	}
}

// quoted reads a "…" string at p.i; \" and \\ escape.
func (p *parser) quoted() (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s) && (p.s[p.i+1] == '"' || p.s[p.i+1] == '\\'):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c == '"':
			p.i++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", &Error{Pos: start, Msg: "a quote is not closed"}
}

// endOfTerm requires a space or the end after a term.
func (p *parser) endOfTerm() error {
	if p.i < len(p.s) && !isSpaceAt(p.s, p.i) {
		return &Error{Pos: p.i, Msg: fmt.Sprintf("unexpected %q; separate terms with a space", p.s[p.i:p.i+utf8RuneLen(p.s[p.i:])])}
	}
	return nil
}

func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r)
}

func utf8RuneLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}

func invalidUTF8At(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return i
			}
		}
	}
	return 0
}

// String writes the query back in canonical form: Parse(q.String())
// gives q again (positions aside).
func (q Query) String() string {
	parts := make([]string, len(q.Terms))
	for i, t := range q.Terms {
		var b strings.Builder
		if t.Negated {
			b.WriteByte('-')
		}
		if t.Field == "" {
			if t.Phrase {
				b.WriteString(quote(t.Values[0]))
			} else {
				b.WriteString(t.Values[0])
			}
			parts[i] = b.String()
			continue
		}
		b.WriteString(t.Field)
		b.WriteByte(':')
		if t.Op != OpIs {
			b.WriteString(string(t.Op))
		}
		for j, v := range t.Values {
			if j > 0 {
				b.WriteByte(',')
			}
			if v == "" || strings.ContainsAny(v, "\",\\") || strings.IndexFunc(v, unicode.IsSpace) >= 0 || startsWithOp(v) {
				b.WriteString(quote(v))
			} else {
				b.WriteString(v)
			}
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, " ")
}

func startsWithOp(v string) bool { return strings.HasPrefix(v, "<") || strings.HasPrefix(v, ">") }

func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

package rules

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold maps s to a caseless form so comparisons ignore case in every
// script: each rune becomes the lower case of the smallest rune it
// case-folds with, which also unifies forms strings.ToLower leaves apart
// (Greek final sigma "ς" and "σ", the Kelvin sign and "k", long s and "s").
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < least {
			least = f
		}
	}
	return unicode.ToLower(least)
}

// word is one word of folded text. CJK runs are words of their own, apart
// from any neighbouring Latin (or other) letters, because CJK text has no
// spaces to tell words apart and is therefore matched by substring.
type word struct {
	s   string
	cjk bool
}

// words splits folded text into words: runs of letters, digits and
// combining marks, a run ending where CJK meets other scripts.
func words(s string) []word {
	var out []word
	start := -1
	cjk := false
	for i, r := range s {
		if !isWordRune(r) {
			if start >= 0 {
				out = append(out, word{s[start:i], cjk})
				start = -1
			}
			continue
		}
		if start >= 0 && r >= utf8.RuneSelf && unicode.IsMark(r) {
			continue // a combining mark belongs to the letter before it
		}
		c := isCJK(r)
		if start >= 0 && c != cjk {
			out = append(out, word{s[start:i], cjk})
			start = -1
		}
		if start < 0 {
			start, cjk = i, c
		}
	}
	if start >= 0 {
		out = append(out, word{s[start:], cjk})
	}
	return out
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// isCJK reports whether r is written without spaces between words:
// Han, Hiragana, Katakana and Hangul, plus the kana marks Unicode files
// under the common script.
func isCJK(r rune) bool {
	if r < 0x1100 { // below Hangul Jamo, the first of these scripts
		return false
	}
	switch r {
	case 0x30FC, 0xFF70, 0x309B, 0x309C: // prolonged sound marks, voiced sound marks
		return true
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// text is a ticket's folded words, indexed so that looking up a phrase
// costs its occurrences rather than a scan of the whole text: rules are
// many and descriptions can be long.
type text struct {
	words []word
	at    map[string][]int // positions of each non-CJK word
	cjk   []int            // positions of CJK words
}

func newText(s string) *text {
	t := &text{words: words(fold(s)), at: map[string][]int{}}
	for i, w := range t.words {
		if w.cjk {
			t.cjk = append(t.cjk, i)
		} else {
			t.at[w.s] = append(t.at[w.s], i)
		}
	}
	return t
}

// hasPhrase reports whether the phrase's words occur consecutively in the
// text. Non-CJK words must be equal; a CJK word only has to be inside the
// text's CJK run (or, in a phrase of several words, end it when it comes
// first and start it when it comes last), so "打印" is found in "打印机坏了"
// while "print" is not found in "printer".
func (t *text) hasPhrase(phrase []word) bool {
	if len(phrase) == 0 {
		return false
	}
	starts := t.cjk
	if !phrase[0].cjk {
		starts = t.at[phrase[0].s]
	}
	for _, i := range starts {
		if i+len(phrase) <= len(t.words) && phraseAt(t.words[i:i+len(phrase)], phrase) {
			return true
		}
	}
	return false
}

func phraseAt(text, phrase []word) bool {
	m := len(phrase)
	for j, p := range phrase {
		t := text[j]
		if p.cjk != t.cjk {
			return false
		}
		var ok bool
		switch {
		case !p.cjk:
			ok = p.s == t.s
		case m == 1:
			ok = strings.Contains(t.s, p.s)
		case j == 0:
			ok = strings.HasSuffix(t.s, p.s)
		case j == m-1:
			ok = strings.HasPrefix(t.s, p.s)
		default:
			ok = p.s == t.s
		}
		if !ok {
			return false
		}
	}
	return true
}

package mailparse

import (
	"regexp"
	"strings"
)

var (
	// Attribution lines: "On <date>, <name> wrote:" and localized forms.
	// A digit (date or time) is required between the opener and the verb.
	attribStartRe = regexp.MustCompile(`(?i)^[>\s]*(on|am|le|el|op|il|em|den)\s`)
	attribRe      = regexp.MustCompile(`(?i)^[>\s]*(on|am|le|el|op|il|em|den)\s.{0,300}[0-9].{0,300}(wrote|writes|schrieb|a écrit|escribió|schreef|ha scritto|escreveu|skrev)[^\n]{0,200}:\s*$`)

	origMsgRe   = regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|oorspronkelijk bericht|messaggio originale|mensagem original)\s*-{2,}\s*$`)
	underlineRe = regexp.MustCompile(`^\s*_{10,}\s*$`)
	hdrFromRe   = regexp.MustCompile(`(?i)^\s*\*?(from|von|de|van|da|från|fra)\s*:\*?\s*\S`)
	hdrSentRe   = regexp.MustCompile(`(?i)^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato|data|skickat|sendt)\s*:`)
	hdrToSubjRe = regexp.MustCompile(`(?i)^\s*\*?(subject|betreff|objet|asunto|onderwerp|oggetto|assunto|ämne|emne|to|an|à|para|aan|a|till|til|cc)\s*:`)
	forwardedRe = regexp.MustCompile(`(?i)(forwarded message|begin forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|doorgestuurd bericht)`)
	mobileSigRe = regexp.MustCompile(`(?i)^\s*(sent from my\s.{1,40}|sent from (mail|outlook|yahoo mail) for .{1,30}|sent from outlook|get outlook for (ios|android)|von meinem .{1,40} gesendet|envoyé de mon .{1,40}|enviado desde mi .{1,40}|verzonden vanaf mijn .{1,40})\s*$`)
)

// StripReply returns text without quoted history and signature (see the
// package documentation). It never returns less than nothing: when stripping
// leaves no text, the trimmed input is returned.
func StripReply(text string) string {
	text = cleanText(text)
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i := 0; i < len(lines) && i < cut; i++ {
		if isQuoteMarker(lines, i) {
			cut = i
			// An Outlook separator line right above the marker goes too.
			for j := i - 1; j >= 0; j-- {
				if strings.TrimSpace(lines[j]) == "" {
					continue
				}
				if underlineRe.MatchString(lines[j]) {
					cut = j
				}
				break
			}
			break
		}
	}
	kept := lines[:cut]
	// Trailing quoted lines and blank lines.
	for len(kept) > 0 {
		l := strings.TrimSpace(kept[len(kept)-1])
		if l == "" || strings.HasPrefix(l, ">") {
			kept = kept[:len(kept)-1]
			continue
		}
		break
	}
	reply := strings.TrimSpace(strings.Join(kept, "\n"))
	if reply == "" {
		return strings.TrimSpace(text)
	}
	return reply
}

func isQuoteMarker(lines []string, i int) bool {
	l := lines[i]
	if len(l) > 1000 {
		return false
	}
	if strings.TrimRight(l, " \t") == "--" {
		return true
	}
	if mobileSigRe.MatchString(l) || origMsgRe.MatchString(l) {
		return true
	}
	if attribStartRe.MatchString(l) {
		if attribRe.MatchString(l) {
			return true
		}
		// Wrapped attribution (2 or 3 lines, no blank line inside).
		joined := strings.TrimRight(l, " \t")
		for k := 1; k <= 2 && i+k < len(lines); k++ {
			next := strings.TrimSpace(strings.TrimLeft(lines[i+k], "> "))
			if next == "" || len(next) > 300 {
				break
			}
			joined += " " + next
			if attribRe.MatchString(joined) {
				return true
			}
		}
	}
	if hdrFromRe.MatchString(l) && outlookHeaderBlock(lines, i) && !afterForwardLine(lines, i) {
		return true
	}
	// An Outlook separator directly followed by a From: header block.
	if underlineRe.MatchString(l) {
		for j := i + 1; j < len(lines) && j <= i+2; j++ {
			if strings.TrimSpace(lines[j]) == "" {
				continue
			}
			if hdrFromRe.MatchString(lines[j]) && outlookHeaderBlock(lines, j) {
				return true
			}
			break
		}
	}
	return false
}

// outlookHeaderBlock reports whether the "From:" line at i is followed by
// "Sent:"/"Date:" and "To:"/"Subject:" lines within six lines.
func outlookHeaderBlock(lines []string, i int) bool {
	sent, toSubj := false, false
	for j := i + 1; j < len(lines) && j <= i+6; j++ {
		switch {
		case hdrSentRe.MatchString(lines[j]):
			sent = true
		case hdrToSubjRe.MatchString(lines[j]):
			toSubj = true
		}
	}
	return sent && toSubj
}

// afterForwardLine reports whether the nearest non-blank line above i
// announces a forwarded message.
func afterForwardLine(lines []string, i int) bool {
	for j := i - 1; j >= 0 && j >= i-3; j-- {
		if strings.TrimSpace(lines[j]) == "" {
			continue
		}
		return forwardedRe.MatchString(lines[j])
	}
	return false
}

package mailparse

import (
	"strings"
	"unicode"

	"github.com/jhillyerd/enmime/v2"
)

var extByType = map[string]string{
	"image/png":       ".png",
	"image/jpeg":      ".jpg",
	"image/gif":       ".gif",
	"image/webp":      ".webp",
	"application/pdf": ".pdf",
	"message/rfc822":  ".eml",
	"text/plain":      ".txt",
	"text/html":       ".html",
	"text/calendar":   ".ics",
}

// collectAttachments gathers attachments, inline parts and other non-body
// parts (e.g. images in multipart/related without a Content-Disposition),
// each part once, in enmime's order.
func collectAttachments(env *enmime.Envelope) []Attachment {
	var out []Attachment
	seen := map[*enmime.Part]bool{}
	add := func(p *enmime.Part) {
		if p == nil || seen[p] {
			return
		}
		seen[p] = true
		ct := strings.ToLower(strings.TrimSpace(p.ContentType))
		disp := strings.ToLower(p.Disposition)
		switch {
		case strings.HasPrefix(ct, "multipart/"):
			return
		case isDeliveryStatus(ct), ct == "message/disposition-notification",
			ct == "text/rfc822-headers", ct == "message/rfc822-headers", ct == "message/global-headers":
			return // report machinery, parsed into DSN
		case (ct == "message/rfc822" || ct == "message/global") && p.Parent != nil &&
			strings.EqualFold(p.Parent.ContentType, "multipart/report"):
			return // our own returned message inside a bounce
		case (ct == "text/plain" || ct == "text/html" || ct == "") && p.FileName == "" && disp != "attachment":
			return // a body part (e.g. Apple Mail marks text bodies inline)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		cid := cleanID(strings.Trim(strings.TrimSpace(p.ContentID), "<>"))
		a := Attachment{
			Filename:    cleanFilename(p.FileName),
			ContentType: cleanID(ct),
			ContentID:   cid,
			Inline:      disp == "inline" || (cid != "" && disp != "attachment"),
			Data:        p.Content,
		}
		if a.Filename == "" {
			a.Filename = "part-" + cleanFilename(p.PartID) + extByType[ct]
		}
		out = append(out, a)
	}
	for _, p := range env.Attachments {
		add(p)
	}
	for _, p := range env.Inlines {
		add(p)
	}
	for _, p := range env.OtherParts {
		add(p)
	}
	return out
}

// cleanFilename keeps the last path element of a (possibly hostile) file
// name and removes control characters.
func cleanFilename(s string) string {
	s = cleanUTF8(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "." || s == ".." {
		return ""
	}
	return truncate(s, 255)
}

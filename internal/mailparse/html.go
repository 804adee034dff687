package mailparse

import (
	"html"
	"regexp"
	"strings"

	"github.com/inbucket/html2text"
	"github.com/microcosm-cc/bluemonday"
)

// imgSrcRe restricts <img src> to inline parts, data URIs of raster images
// and https.
var imgSrcRe = regexp.MustCompile(`(?i)^\s*(https://|cid:|data:image/(png|gif|jpeg|jpg|webp);base64,)`)

// htmlPolicy is built once; a bluemonday Policy is safe for concurrent use
// once configured.
var htmlPolicy = newHTMLPolicy()

// newHTMLPolicy returns a policy stricter than bluemonday.UGCPolicy (see the
// package documentation).
func newHTMLPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowStandardAttributes()

	// URLs: absolute only, few schemes; data: only for base64 raster images.
	p.RequireParseableURLs(true)
	p.AllowURLSchemes("mailto", "http", "https", "cid")
	p.AllowDataURIImages()
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)

	p.AllowElements(
		"article", "aside", "figure", "section", "summary", "details",
		"h1", "h2", "h3", "h4", "h5", "h6", "hgroup",
		"br", "div", "hr", "p", "span", "wbr", "center",
		"abbr", "acronym", "cite", "code", "dfn", "em", "figcaption", "mark",
		"s", "samp", "strong", "sub", "sup", "var", "b", "i", "pre", "small",
		"strike", "tt", "u", "rp", "rt", "ruby", "blockquote", "q", "del", "ins",
		"address", "kbd", "time",
	)
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("cite").OnElements("blockquote", "q")
	p.AllowLists()
	p.AllowTables()

	p.AllowAttrs("src").Matching(imgSrcRe).OnElements("img")
	p.AllowAttrs("alt").Matching(bluemonday.Paragraph).OnElements("img")
	p.AllowAttrs("height", "width").Matching(bluemonday.NumberOrPercent).OnElements("img")

	// Text of form controls and embedded documents is not message content.
	p.SkipElementsContent("button", "select", "option", "textarea", "template", "svg", "math", "applet", "embed")
	return p
}

func sanitizeHTML(s string) string {
	return strings.TrimSpace(htmlPolicy.Sanitize(s))
}

var stripTags = bluemonday.StrictPolicy()

// htmlToText renders sanitized HTML as plain text.
func htmlToText(sanitized string) string {
	if sanitized == "" {
		return ""
	}
	t, err := html2text.FromString(sanitized, html2text.Options{})
	if err != nil {
		// Fall back to tag stripping.
		t = html.UnescapeString(stripTags.Sanitize(sanitized))
	}
	return strings.TrimSpace(t)
}

// Search highlights: the server sends HTML-escaped text with the matches in
// <mark>…</mark>. They are never handed to innerHTML: the text between the
// tags is unescaped and rendered as text, so a subject like
// `<img src=x onerror=…>` stays a subject.
import type { ReactNode } from 'react';

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes the entities an HTML escaper writes (&amp; &lt; &gt; &quot; &#39; &#x27; …); anything else stays as is. */
export function unescapeHtml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]+);/g, (all, body: string) => {
    if (body.startsWith('#')) {
      const cp = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : all;
    }
    return NAMED[body] ?? all;
  });
}

/** A fragment's pieces: text, and the matches to mark. */
export function fragmentParts(fragment: string): { text: string; mark: boolean }[] {
  const parts: { text: string; mark: boolean }[] = [];
  let mark = false;
  for (const piece of fragment.split(/(<mark>|<\/mark>)/)) {
    if (piece === '<mark>') mark = true;
    else if (piece === '</mark>') mark = false;
    else if (piece) parts.push({ text: unescapeHtml(piece), mark });
  }
  return parts;
}

/** Renders one fragment as text with <mark> elements around the matches. */
export function Highlighted({ html }: { html: string }): ReactNode {
  return fragmentParts(html).map((p, i) => (p.mark ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>));
}

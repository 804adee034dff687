// The search language as the search box needs it: a lenient lexer (it
// never fails: the server's parser, internal/query, is the judge of what a
// query means), the suggestions for the word at the caret, adding and
// removing a field's value (facets), and turning the server's byte
// positions into string indexes. docs/query.md is the reference.

/** The fields of the language, in the order suggestions show them (internal/query/fields.go). */
export const QUERY_FIELDS: readonly { name: string; help: string }[] = [
  { name: 'status', help: 'open, in_progress, pending, resolved, closed' },
  { name: 'priority', help: 'low, medium, high, critical; with <, <=, >, >=' },
  { name: 'assignee', help: 'an agent’s email, me, or none' },
  { name: 'team', help: 'a team’s name or none' },
  { name: 'category', help: 'a category’s name (its subcategories too)' },
  { name: 'requester', help: 'the requester’s email' },
  { name: 'tag', help: 'a tag' },
  { name: 'channel', help: 'api, web or email' },
  { name: 'created', help: 'a date (2026-11-01) or an age (<7d: less than 7 days old)' },
  { name: 'updated', help: 'a date or an age' },
  { name: 'due', help: 'the SLA deadline: a date, or a time from now (<2h: due within 2 hours)' },
  { name: 'escalated', help: 'true or false' },
  { name: 'breached', help: 'true or false: an SLA deadline has passed' },
];

const DATE_FIELDS = new Set(['created', 'updated', 'due']);

/** One value of a field term; start/end span it in the query, quotes included. */
export interface LexValue {
  start: number;
  end: number;
  text: string;
  quoted: boolean;
}

/** One term as the lexer saw it. */
export interface LexTerm {
  start: number;
  end: number;
  negated: boolean;
  /** Lower-cased; null for free text. */
  field: string | null;
  /** Where the comparison (or the first value) starts, after the colon. */
  opStart: number;
  op: '' | '<' | '<=' | '>' | '>=';
  values: LexValue[];
  /** A quote was opened and not closed before the end. */
  open: boolean;
}

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

/** Splits a query into terms the way internal/query reads it, without refusing anything. */
export function lex(s: string): LexTerm[] {
  const terms: LexTerm[] = [];
  let i = 0;
  const n = s.length;
  // Reads "…" at i (\" and \\ escape); returns the text and whether it closed.
  const quoted = (): { text: string; closed: boolean } => {
    let text = '';
    i++;
    while (i < n) {
      const c = s[i]!;
      if (c === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) {
        text += s[i + 1];
        i += 2;
      } else if (c === '"') {
        i++;
        return { text, closed: true };
      } else {
        text += c;
        i++;
      }
    }
    return { text, closed: false };
  };
  while (i < n) {
    while (i < n && isSpace(s[i])) i++;
    if (i >= n) break;
    const t: LexTerm = { start: i, end: i, negated: false, field: null, opStart: i, op: '', values: [], open: false };
    if (s[i] === '-' && i + 1 < n && !isSpace(s[i + 1])) {
      t.negated = true;
      i++;
    }
    if (s[i] === '"') {
      const vs = i;
      const q = quoted();
      t.values.push({ start: vs, end: i, text: q.text, quoted: true });
      t.open = !q.closed;
    } else {
      const ws = i;
      while (i < n && s[i] !== ':' && s[i] !== '"' && !isSpace(s[i])) i++;
      if (s[i] === ':') {
        t.field = s.slice(ws, i).toLowerCase();
        i++;
        t.opStart = i;
        for (const op of ['<=', '>=', '<', '>'] as const) {
          if (s.startsWith(op, i)) {
            t.op = op;
            i += op.length;
            break;
          }
        }
        for (;;) {
          const vs = i;
          if (s[i] === '"') {
            const q = quoted();
            t.values.push({ start: vs, end: i, text: q.text, quoted: true });
            if (!q.closed) {
              t.open = true;
              break;
            }
          } else {
            while (i < n && s[i] !== ',' && s[i] !== '"' && !isSpace(s[i])) i++;
            t.values.push({ start: vs, end: i, text: s.slice(vs, i), quoted: false });
          }
          if (s[i] === ',') {
            i++;
            continue;
          }
          break;
        }
      } else {
        t.values.push({ start: ws, end: i, text: s.slice(ws, i), quoted: false });
      }
    }
    // Whatever sticks to the term (the server refuses it) still belongs to it.
    while (i < n && !isSpace(s[i])) i++;
    t.end = i;
    terms.push(t);
  }
  return terms;
}

/** Whether the query holds free text (then the server sorts by relevance by default). */
export function hasFreeText(q: string): boolean {
  return lex(q).some((t) => t.field === null && !t.negated);
}

/** A value as the language writes it: quoted when it holds spaces, commas or quotes. */
export function quoteValue(v: string): string {
  if (v === '' || /[\s",\\]/.test(v) || v.startsWith('<') || v.startsWith('>')) {
    return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  }
  return v;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Whether the query has the positive term field:value (value among its alternatives). */
export function hasTerm(q: string, field: string, value: string): boolean {
  return lex(q).some((t) => !t.negated && t.field === field && t.op === '' && t.values.some((v) => same(v.text, value)));
}

function splice(s: string, start: number, end: number, text: string): string {
  return s.slice(0, start) + text + s.slice(end);
}

/**
 * Adds field:value to the query, or removes it when it is there: a value
 * joins the field's existing term as an alternative (status:open,pending),
 * and removing the last value removes the term.
 */
export function toggleTerm(q: string, field: string, value: string): string {
  const terms = lex(q).filter((t) => !t.negated && t.field === field && t.op === '');
  const rewrite = (values: string[]) => `${field}:${values.map(quoteValue).join(',')}`;
  const holder = terms.find((t) => t.values.some((v) => same(v.text, value)));
  if (holder) {
    const rest = holder.values.filter((v) => !same(v.text, value)).map((v) => v.text);
    if (rest.length > 0) return splice(q, holder.start, holder.end, rewrite(rest));
    // Take the term out with the spaces before it (or after, at the start).
    let start = holder.start;
    let end = holder.end;
    while (start > 0 && isSpace(q[start - 1])) start--;
    if (start === 0) while (end < q.length && isSpace(q[end])) end++;
    return splice(q, start, end, '');
  }
  const first = terms[0];
  if (first) return splice(q, first.start, first.end, rewrite([...first.values.map((v) => v.text), value]));
  const base = q.trimEnd();
  return `${base}${base ? ' ' : ''}${field}:${quoteValue(value)}`;
}

/** The string index of a byte offset into s's UTF-8 form (the server counts bytes). */
export function indexOfByte(s: string, byteOffset: number): number {
  let bytes = 0;
  let i = 0;
  while (i < s.length && bytes < byteOffset) {
    const cp = s.codePointAt(i)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}

// ---------- suggestions ----------

/** What the box may suggest besides the fixed vocabulary. */
export interface Vocabulary {
  customFields: { key: string; label: string; type: string; options: { id: string; label: string }[] }[];
  agents: { email: string; name: string }[];
  teams: string[];
  categories: { name: string; path: string }[];
  statuses: readonly string[];
  priorities: readonly string[];
  channels: readonly string[];
  /** Tags seen in the current results' facets. */
  tags: string[];
}

export interface Suggestion {
  /** What replaces the word at the caret. */
  insert: string;
  /** What the list shows (defaults to insert). */
  label: string;
  hint?: string;
  kind: 'field' | 'value';
}

export interface Suggestions {
  items: Suggestion[];
  /** The span of the query the chosen suggestion replaces. */
  from: number;
  to: number;
  /** The field whose values are suggested; null for field names. */
  field: string | null;
}

const MAX_SUGGESTIONS = 20;

/** Keeps the candidates matching what was typed: prefix matches first, then the rest that contain it. */
function rank(cands: Suggestion[], typed: string): Suggestion[] {
  const t = typed.toLowerCase();
  const starts: Suggestion[] = [];
  const contains: Suggestion[] = [];
  for (const c of cands) {
    const keys = [c.insert.toLowerCase(), c.label.toLowerCase(), (c.hint ?? '').toLowerCase()];
    if (keys[0]!.startsWith(t) || keys[1]!.startsWith(t)) starts.push(c);
    else if (t && keys.some((k) => k.includes(t))) contains.push(c);
  }
  // An exact match alone suggests nothing new.
  const out = [...starts, ...contains];
  if (out.length === 1 && out[0]!.insert.toLowerCase() === t) return [];
  return out.slice(0, MAX_SUGGESTIONS);
}

function valueCandidates(field: string, first: boolean, v: Vocabulary): Suggestion[] {
  const val = (insert: string, hint?: string, label = insert): Suggestion => ({ insert, label, hint, kind: 'value' });
  switch (field) {
    case 'status':
      return v.statuses.map((s) => val(s));
    case 'priority':
      return [
        ...v.priorities.map((p) => val(p)),
        ...(first ? [val('>=high', 'high or critical'), val('>=medium', 'medium, high or critical'), val('<=low', 'low')] : []),
      ];
    case 'assignee':
      return [val('me', 'assigned to you'), val('none', 'unassigned'), ...v.agents.map((a) => val(a.email, a.name || undefined))];
    case 'team':
      return [...v.teams.map((t) => val(t)), val('none', 'no team')];
    case 'category':
      return v.categories.map((c) => val(c.name, c.path !== c.name ? c.path : undefined));
    case 'tag':
      return v.tags.map((t) => val(t));
    case 'channel':
      return v.channels.map((c) => val(c));
    case 'escalated':
    case 'breached':
      return [val('true'), val('false')];
  }
  if (DATE_FIELDS.has(field)) {
    if (!first) return [];
    const today = new Date();
    const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`;
    return field === 'due'
      ? [val('<2h', 'due within 2 hours'), val('<1d', 'due within a day'), val(`<${day}`, 'due before today')]
      : [
          val('<1d', 'less than a day old'),
          val('<7d', 'less than 7 days old'),
          val('>30d', 'older than 30 days'),
          val(day, 'today'),
          val(`>=${day}`, 'from today on'),
        ];
  }
  const key = field.startsWith('cf.') ? field.slice(3) : null;
  const def = key ? v.customFields.find((f) => f.key === key) : undefined;
  if (def?.type === 'dropdown' || def?.type === 'multi_choice') return def.options.map((o) => val(o.id, o.label !== o.id ? o.label : undefined));
  if (def?.type === 'checkbox') return [val('true'), val('false')];
  return [];
}

/**
 * The suggestions for the word at the caret: field names while a field is
 * being named, the field's values after its colon. What was typed before
 * the caret filters them; the chosen one replaces the whole word.
 */
export function suggest(q: string, caret: number, v: Vocabulary): Suggestions {
  const terms = lex(q.slice(0, caret));
  const last = terms[terms.length - 1];
  if (!last || last.end < caret) {
    // Between terms: any field.
    return { items: rank(fieldSuggestions(v), ''), from: caret, to: caret, field: null };
  }
  // The same term read whole, for where the word at the caret ends.
  const whole = lex(q).find((t) => t.start === last.start);
  if (last.field === null) {
    const word = last.values[0];
    if (!word || word.quoted || last.negated) return { items: [], from: caret, to: caret, field: null };
    // Renaming the field of status:open replaces "status:" with the colon.
    const to = whole?.field != null ? whole.opStart : Math.max(caret, whole?.values[0]?.end ?? caret);
    return { items: rank(fieldSuggestions(v), word.text), from: word.start, to, field: null };
  }
  const cur = last.values[last.values.length - 1]!;
  const first = last.values.length === 1;
  const curWhole = whole?.values.find((x) => x.start === cur.start);
  const to = Math.max(caret, curWhole?.end ?? caret);
  // A comparison belongs to the first value's suggestion (">=high", "<7d").
  const from = first ? last.opStart : cur.start;
  const typed = (first ? last.op : '') + cur.text;
  const cands: Suggestion[] = [];
  for (const c of valueCandidates(last.field, first, v)) {
    const compared = /^[<>]/.test(c.insert);
    if (compared) cands.push(c);
    else cands.push({ ...c, insert: (first ? last.op : '') + quoteValue(c.insert), label: (first ? last.op : '') + c.label });
  }
  return { items: rank(cands, typed), from, to, field: last.field };
}

function fieldSuggestions(v: Vocabulary): Suggestion[] {
  return [
    ...QUERY_FIELDS.map((f): Suggestion => ({ insert: `${f.name}:`, label: `${f.name}:`, hint: f.help, kind: 'field' })),
    ...v.customFields.map((f): Suggestion => ({ insert: `cf.${f.key}:`, label: `cf.${f.key}:`, hint: f.label, kind: 'field' })),
  ];
}

/**
 * The query after choosing s: the new text and where the caret goes. A
 * value ends its term (a space follows); a field name waits for its value.
 */
export function applySuggestion(q: string, sug: Suggestions, s: Suggestion): { text: string; caret: number } {
  let insert = s.insert;
  const after = q.slice(sug.to);
  if (s.kind === 'value' && !/^\s/.test(after)) insert += ' ';
  const text = q.slice(0, sug.from) + insert + after;
  return { text, caret: sug.from + insert.length };
}

/** The search orders as the sort selector names them (api.ts SEARCH_SORTS). */
export const SORT_LABELS: Record<string, string> = {
  relevance: 'Best match',
  urgency: 'Most urgent',
  '-created': 'Newest',
  created: 'Oldest',
  '-updated': 'Recently updated',
  updated: 'Least recently updated',
};

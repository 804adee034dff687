// The search box: the query language with suggestions for the word at the
// caret (a combobox: ↑↓ pick, Enter or Tab take, Esc closes), and the
// server's verdict on a bad query shown under the character it points at.
import { useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { applySuggestion, suggest, type Suggestion, type Vocabulary } from './queryLang';

export interface QueryError {
  message: string;
  /** A string index into the query the error is about; null when the server named none. */
  index: number | null;
}

interface Props {
  value: string;
  onChange: (value: string) => void;
  onSubmit: (value: string) => void;
  /** The query the results (and the error) are for. */
  submitted: string;
  error: QueryError | null;
  vocabulary: Vocabulary;
  busy: boolean;
}

/** The character at index (a whole code point), or a space when the problem is at the end. */
function charAt(s: string, index: number): string {
  const cp = s.codePointAt(index);
  return cp === undefined ? ' ' : String.fromCodePoint(cp);
}

/** The query as sent, with the character the server points at underlined and a caret under it. */
export function QueryErrorView({ query, error, id }: { query: string; error: QueryError; id: string }) {
  const at = error.index;
  const ch = at === null ? '' : charAt(query, at);
  return (
    <div className="query-error" role="alert" id={id} data-testid="query-error">
      {at !== null ? (
        <code className="query-echo" aria-hidden="true">
          <span>{query.slice(0, at)}</span>
          <span className="query-error-at" data-testid="query-error-at" data-index={at} title={`position ${at}`}>
            {ch}
          </span>
          <span>{query.slice(at + ch.length)}</span>
        </code>
      ) : null}
      <p className="query-error-text">{error.message}</p>
    </div>
  );
}

export function SearchBox({ value, onChange, onSubmit, submitted, error, vocabulary, busy }: Props) {
  const inputRef = useRef<HTMLInputElement>(null);
  const listId = useId();
  const errorId = useId();
  const hintId = useId();
  const [caret, setCaret] = useState(value.length);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  // Where the caret goes once a chosen suggestion is in the input.
  const pendingCaret = useRef<number | null>(null);

  const sug = useMemo(() => suggest(value, Math.min(caret, value.length), vocabulary), [value, caret, vocabulary]);
  const visible = open && sug.items.length > 0;

  useLayoutEffect(() => {
    const at = pendingCaret.current;
    const input = inputRef.current;
    if (at === null || !input) return;
    pendingCaret.current = null;
    input.setSelectionRange(at, at);
  }, [value]);

  // A refused query: put the caret on the character the server points at.
  useLayoutEffect(() => {
    const input = inputRef.current;
    if (!error || error.index === null || !input || input.value !== submitted) return;
    input.focus();
    const end = Math.min(submitted.length, error.index + charAt(submitted, error.index).length);
    input.setSelectionRange(error.index, end);
    setCaret(error.index);
  }, [error, submitted]);

  function choose(s: Suggestion) {
    const next = applySuggestion(value, sug, s);
    pendingCaret.current = next.caret;
    setCaret(next.caret);
    onChange(next.text);
    setActive(-1);
    // After a field name come its values; a value ends the term.
    setOpen(s.kind === 'field');
  }

  function onKeyDown(e: KeyboardEvent<HTMLInputElement>) {
    const n = sug.items.length;
    switch (e.key) {
      case 'ArrowDown':
        if (n === 0) return;
        e.preventDefault();
        if (!visible) {
          setOpen(true);
          setActive(0);
        } else setActive((a) => (a + 1) % n);
        return;
      case 'ArrowUp':
        if (!visible) return;
        e.preventDefault();
        setActive((a) => (a <= 0 ? n - 1 : a - 1));
        return;
      case 'Enter':
        if (visible && active >= 0) {
          e.preventDefault();
          choose(sug.items[active]!);
        } else setOpen(false); // the form submits the query
        return;
      case 'Tab':
        if (visible && !e.shiftKey) {
          e.preventDefault();
          choose(sug.items[Math.max(active, 0)]!);
        }
        return;
      case 'Escape':
        if (visible) {
          e.preventDefault();
          e.stopPropagation();
          setOpen(false);
          setActive(-1);
        }
        return;
    }
  }

  const activeId = visible && active >= 0 ? `${listId}-${active}` : undefined;
  const invalid = error !== null && value === submitted;

  return (
    <form
      role="search"
      className="search-box"
      onSubmit={(e) => {
        e.preventDefault();
        setOpen(false);
        onSubmit(value);
      }}
    >
      <label htmlFor={`${listId}-input`} className="visually-hidden">
        Search tickets
      </label>
      <div className="search-row">
        <div className="combo">
          <input
            ref={inputRef}
            id={`${listId}-input`}
            type="text"
            name="q"
            role="combobox"
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            aria-expanded={visible}
            aria-controls={listId}
            aria-autocomplete="list"
            aria-activedescendant={activeId}
            aria-invalid={invalid || undefined}
            aria-describedby={invalid ? `${errorId} ${hintId}` : hintId}
            placeholder='status:open priority:>=high printer "paper jam"'
            value={value}
            onChange={(e) => {
              onChange(e.target.value);
              setCaret(e.target.selectionStart ?? e.target.value.length);
              setOpen(true);
              setActive(-1);
            }}
            onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
            onKeyDown={onKeyDown}
            onBlur={() => setOpen(false)}
            data-testid="search-input"
          />
          <ul id={listId} role="listbox" className="suggestions" aria-label="Suggestions" hidden={!visible}>
            {visible
              ? sug.items.map((s, i) => (
                  <li
                    key={`${s.kind}:${s.insert}`}
                    id={`${listId}-${i}`}
                    role="option"
                    aria-selected={i === active}
                    className={i === active ? 'suggestion suggestion-active' : 'suggestion'}
                    // Keep the focus in the input.
                    onMouseDown={(e) => e.preventDefault()}
                    onClick={() => choose(s)}
                    data-testid="suggestion"
                  >
                    <code>{s.label}</code>
                    {s.hint ? <span className="suggestion-hint">{s.hint}</span> : null}
                  </li>
                ))
              : null}
          </ul>
        </div>
        {/* Never disabled: Enter must search again while a search runs (the newer one wins). */}
        <button type="submit" className="button-primary button-auto" aria-busy={busy || undefined}>
          Search
        </button>
      </div>
      <p className="hint search-hint" id={hintId}>
        Fields like <code>status:open</code>, <code>priority:&gt;=high</code>, <code>created:&lt;7d</code>,{' '}
        <code>-tag:spam</code>; quotes for phrases. ↓ suggests, Tab or Enter takes, Esc closes.
      </p>
      {error ? <QueryErrorView query={submitted} error={error} id={errorId} /> : null}
    </form>
  );
}

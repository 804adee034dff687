import { useId, useRef, useState, type FormEvent } from 'react';
import { addComment, ApiError, type Ticket } from './api';
import { useIdempotencyKeys } from './idempotency';

const MAX_COMMENT_BYTES = 64 << 10;

type Field = 'body' | 'internal';

interface Props {
  ticket: Ticket;
  /** Agents, leads and admins may write internal notes. */
  staff: boolean;
  /** A comment was added (the ticket may have changed status with it). */
  onPosted: (internal: boolean) => void;
  /** The requester's reply on a ticket closed for good opened this new ticket. */
  onFollowUp: (ticket: Ticket) => void;
}

/** The reply box; for staff with an "Internal note" toggle. */
export function CommentForm({ ticket, staff, onPosted, onFollowUp }: Props) {
  const [body, setBody] = useState('');
  // Sticky on purpose: after an internal note the next one stays internal
  // rather than going to the requester by surprise.
  const [internal, setInternal] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<Field, string>>>({});
  const keys = useIdempotencyKeys();
  const inFlight = useRef(false);
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const ids = { body: useId(), internal: useId(), hint: useId(), alert: useId() };

  const archived = Boolean(ticket.archived_at);
  const finished = ticket.status === 'resolved' || ticket.status === 'closed';
  const isInternal = staff && internal;

  let hint: string | null = null;
  if (!staff) {
    if (archived) hint = 'This ticket was closed for good. Your reply opens a new ticket that refers to this one.';
    else if (finished) hint = `This ticket is ${ticket.status}. Replying reopens it.`;
    else if (ticket.status === 'pending') hint = 'The team is waiting for your answer. Replying moves the ticket back to open.';
  }

  async function handleSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (inFlight.current) return;
    if (body.trim() === '') {
      setFieldErrors({ body: isInternal ? 'Write the note first.' : 'Write a reply first.' });
      setAlert(null);
      textareaRef.current?.focus();
      return;
    }
    if (new TextEncoder().encode(body).length > MAX_COMMENT_BYTES) {
      setFieldErrors({ body: 'Keep it under 64 KB.' });
      textareaRef.current?.focus();
      return;
    }
    const key = keys.keyFor(`${ticket.id}:${isInternal}:${body}`);
    inFlight.current = true;
    setSubmitting(true);
    setAlert(null);
    setFieldErrors({});
    try {
      const res = await addComment(ticket.id, body, isInternal, key);
      keys.settle();
      setBody('');
      if ('followup_ticket' in res) onFollowUp(res.followup_ticket);
      else onPosted(isInternal);
    } catch (err) {
      keys.settle(err);
      const apiErr = err instanceof ApiError ? err : new ApiError(0, { title: String(err) }, null);
      const errors: Partial<Record<Field, string>> = {};
      const unmatched: string[] = [];
      for (const fe of apiErr.problem.errors ?? []) {
        if (fe.field === 'body' || fe.field === 'internal') errors[fe.field] = fe.detail;
        else unmatched.push(fe.field ? `${fe.field}: ${fe.detail}` : fe.detail);
      }
      setFieldErrors(errors);
      setAlert([apiErr.userMessage, ...unmatched].join(' '));
      if (errors.body) textareaRef.current?.focus();
    } finally {
      inFlight.current = false;
      setSubmitting(false);
    }
  }

  if (staff && archived) {
    return <p className="muted">This ticket was closed for good; it takes no more comments.</p>;
  }

  const describedBy = [fieldErrors.body ? `${ids.body}-error` : '', hint ? ids.hint : ''].filter(Boolean).join(' ');

  return (
    <form onSubmit={handleSubmit} noValidate className={isInternal ? 'comment-form comment-form-internal' : 'comment-form'}>
      <div className="alert-slot" role="alert" id={ids.alert}>
        {alert ? <div className="alert">{alert}</div> : null}
      </div>
      {hint ? (
        <p className="notice" id={ids.hint} data-testid="reply-hint">
          {hint}
        </p>
      ) : null}
      <div className="field">
        <label htmlFor={ids.body}>{staff ? 'Comment' : 'Your reply'}</label>
        <textarea
          ref={textareaRef}
          id={ids.body}
          name="body"
          rows={5}
          placeholder={isInternal ? 'A note for the team; the requester does not see it' : staff ? 'Write to the requester…' : 'Write to the support team…'}
          value={body}
          onChange={(e) => setBody(e.target.value)}
          aria-invalid={fieldErrors.body ? true : undefined}
          aria-describedby={describedBy || undefined}
        />
        {fieldErrors.body ? (
          <p className="field-error" id={`${ids.body}-error`}>
            {fieldErrors.body}
          </p>
        ) : null}
      </div>
      <div className="comment-actions">
        {staff ? (
          <div className="checkbox">
            <input
              id={ids.internal}
              type="checkbox"
              name="internal"
              checked={internal}
              onChange={(e) => setInternal(e.target.checked)}
              aria-describedby={`${ids.internal}-hint`}
            />
            <label htmlFor={ids.internal}>Internal note</label>
            <span className="hint" id={`${ids.internal}-hint`}>
              Only staff see internal notes.
            </span>
            {fieldErrors.internal ? <p className="field-error">{fieldErrors.internal}</p> : null}
          </div>
        ) : null}
        <button type="submit" className="button-primary button-auto" disabled={submitting} aria-busy={submitting || undefined}>
          {submitting ? <span className="spinner" aria-hidden="true" /> : null}
          {isInternal ? 'Add internal note' : 'Send reply'}
        </button>
      </div>
    </form>
  );
}

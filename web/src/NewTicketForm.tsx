import { useEffect, useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import { ApiError, createTicket, newIdempotencyKey, PRIORITIES, type NewTicket, type Priority, type Ticket } from './api';
import type { Draft } from './draft';

const SUBJECT_MAX = 255;

type Field = keyof NewTicket;
type FieldErrors = Partial<Record<Field, string>>;

const FIELDS: readonly Field[] = ['subject', 'description', 'priority'];

function isField(name: string): name is Field {
  return (FIELDS as readonly string[]).includes(name);
}

function validate(t: NewTicket): FieldErrors {
  const errors: FieldErrors = {};
  const subject = t.subject.trim();
  if (subject.length === 0) errors.subject = 'Enter a subject.';
  else if ([...subject].length > SUBJECT_MAX) errors.subject = `Keep the subject to ${SUBJECT_MAX} characters or fewer.`;
  if (!PRIORITIES.includes(t.priority)) errors.priority = 'Choose a priority.';
  return errors;
}

interface Props {
  onCreated: (ticket: Ticket) => void;
  /** Values to start with (a draft kept across a lost session). */
  initialDraft?: Draft | null;
  /** Kept up to date with what the form holds, so it can be saved when the session is lost. */
  draftRef?: RefObject<Draft | null>;
}

export function NewTicketForm({ onCreated, initialDraft, draftRef }: Props) {
  const [subject, setSubject] = useState(initialDraft?.subject ?? '');
  const [description, setDescription] = useState(initialDraft?.description ?? '');
  const [priority, setPriority] = useState<Priority>(initialDraft?.priority ?? 'medium');

  useEffect(() => {
    if (!draftRef) return;
    draftRef.current = { subject, description, priority };
  }, [draftRef, subject, description, priority]);
  const [submitting, setSubmitting] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});

  // The Idempotency-Key of an attempt whose outcome is unknown (network error,
  // timeout, 5xx), with the body it was sent with. Re-submitting the same body
  // reuses the key, so the server creates at most one ticket for it.
  const pending = useRef<{ key: string; body: string } | null>(null);
  // Guards against a second submit in the same tick, before React re-renders
  // the disabled button.
  const inFlight = useRef(false);

  const formRef = useRef<HTMLFormElement>(null);
  const ids = {
    subject: useId(),
    description: useId(),
    priority: useId(),
    alert: useId(),
  };

  function focusField(field: Field) {
    formRef.current?.querySelector<HTMLElement>(`[name="${field}"]`)?.focus();
  }

  async function handleSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (inFlight.current) return;

    const ticket: NewTicket = { subject: subject.trim(), description: description.trim(), priority };
    const errors = validate(ticket);
    setFieldErrors(errors);
    const firstInvalid = FIELDS.find((f) => errors[f]);
    if (firstInvalid) {
      setAlert(null);
      focusField(firstInvalid);
      return;
    }

    const body = JSON.stringify(ticket);
    const key = pending.current?.body === body ? pending.current.key : newIdempotencyKey();
    pending.current = { key, body };

    inFlight.current = true;
    setSubmitting(true);
    setAlert(null);
    try {
      const created = await createTicket(ticket, key);
      pending.current = null;
      setSubject('');
      setDescription('');
      setPriority('medium');
      setFieldErrors({});
      onCreated(created);
      focusField('subject');
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : new ApiError(0, { title: String(err) }, null);
      // A definite rejection (e.g. 400/422) means the key is spent: the next
      // attempt is a new request. Otherwise keep it for a safe retry.
      if (!apiErr.outcomeUnknown) pending.current = null;

      const serverFieldErrors: FieldErrors = {};
      const unmatched: string[] = [];
      for (const fe of apiErr.problem.errors ?? []) {
        if (isField(fe.field)) serverFieldErrors[fe.field] = fe.detail;
        else unmatched.push(fe.field ? `${fe.field}: ${fe.detail}` : fe.detail);
      }
      setFieldErrors(serverFieldErrors);
      setAlert([apiErr.userMessage, ...unmatched].join(' '));
      const first = FIELDS.find((f) => serverFieldErrors[f]);
      if (first) focusField(first);
    } finally {
      inFlight.current = false;
      setSubmitting(false);
    }
  }

  function fieldProps(field: Field) {
    const err = fieldErrors[field];
    return {
      id: ids[field],
      name: field,
      'aria-invalid': err ? true : undefined,
      'aria-describedby': err ? `${ids[field]}-error` : undefined,
    } as const;
  }

  function errorFor(field: Field) {
    const err = fieldErrors[field];
    return err ? (
      <p className="field-error" id={`${ids[field]}-error`}>
        {err}
      </p>
    ) : null;
  }

  const subjectLength = [...subject].length;

  return (
    <section className="card" aria-labelledby="new-ticket-heading">
      <h2 id="new-ticket-heading">New ticket</h2>
      <form ref={formRef} onSubmit={handleSubmit} noValidate aria-describedby={alert ? ids.alert : undefined}>
        <div className="alert-slot" role="alert" id={ids.alert}>
          {alert ? <div className="alert">{alert}</div> : null}
        </div>

        <div className="field">
          <label htmlFor={ids.subject}>
            Subject <span className="required" aria-hidden="true">*</span>
          </label>
          <input
            {...fieldProps('subject')}
            type="text"
            required
            maxLength={SUBJECT_MAX}
            autoComplete="off"
            placeholder="What do you need help with?"
            value={subject}
            onChange={(e) => setSubject(e.target.value)}
          />
          <div className="field-meta">
            {errorFor('subject')}
            <span className={`counter${subjectLength > SUBJECT_MAX - 20 ? ' counter-warn' : ''}`} aria-hidden="true">
              {subjectLength}/{SUBJECT_MAX}
            </span>
          </div>
        </div>

        <div className="field">
          <label htmlFor={ids.description}>Description</label>
          <textarea
            {...fieldProps('description')}
            rows={6}
            placeholder="Steps to reproduce, what you expected, what happened…"
            value={description}
            onChange={(e) => setDescription(e.target.value)}
          />
          {errorFor('description')}
        </div>

        <div className="field">
          <label htmlFor={ids.priority}>Priority</label>
          <select {...fieldProps('priority')} value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p[0]!.toUpperCase() + p.slice(1)}
              </option>
            ))}
          </select>
          {errorFor('priority')}
        </div>

        <button type="submit" className="button-primary" disabled={submitting} aria-busy={submitting || undefined}>
          {submitting ? <span className="spinner" aria-hidden="true" /> : null}
          Create ticket
        </button>
      </form>
    </section>
  );
}

import { useEffect, useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import { createTicket, newIdempotencyKey, PRIORITIES, type CustomField, type NewTicket, type Priority, type Ticket } from './api';
import {
  CategoryOptions,
  CustomFieldControl,
  fieldName,
  parseInput,
  requiredMessage,
  useAgents,
  useCategories,
  useOfferedFields,
  type FieldInput,
} from './CustomFields';
import type { Draft } from './draft';
import { asApiError, firstError, splitProblem } from './fieldErrors';

const SUBJECT_MAX = 255;

/** Field names as the API's errors[] name them: subject, …, category_id, custom_fields.<key>. */
type FieldErrors = Record<string, string>;

const FIXED_FIELDS = ['subject', 'description', 'priority', 'category_id'] as const;

function validate(t: NewTicket): FieldErrors {
  const errors: FieldErrors = {};
  const subject = t.subject.trim();
  if (subject.length === 0) errors.subject = 'Enter a subject.';
  else if ([...subject].length > SUBJECT_MAX) errors.subject = `Keep the subject to ${SUBJECT_MAX} characters or fewer.`;
  if (!PRIORITIES.includes(t.priority)) errors.priority = 'Choose a priority.';
  return errors;
}

/** The custom_fields to send (only keys with a value) and the problems found on the way. */
function collectFields(fields: readonly CustomField[], inputs: Record<string, FieldInput>) {
  const values: Record<string, unknown> = {};
  const errors: FieldErrors = {};
  for (const f of fields) {
    const parsed = parseInput(f, inputs[f.key]);
    if (!parsed.ok) errors[fieldName(f.key)] = parsed.error;
    else if (parsed.value === undefined) {
      if (f.required) errors[fieldName(f.key)] = requiredMessage(f);
    } else values[f.key] = parsed.value;
  }
  return { values, errors };
}

interface Props {
  onCreated: (ticket: Ticket) => void;
  /** Agents, leads and admins: user fields offer a list of staff. */
  staff?: boolean;
  /** Values to start with (a draft kept across a lost session). */
  initialDraft?: Draft | null;
  /** Kept up to date with what the form holds, so it can be saved when the session is lost. */
  draftRef?: RefObject<Draft | null>;
}

export function NewTicketForm({ onCreated, staff = false, initialDraft, draftRef }: Props) {
  const [subject, setSubject] = useState(initialDraft?.subject ?? '');
  const [description, setDescription] = useState(initialDraft?.description ?? '');
  const [priority, setPriority] = useState<Priority>(initialDraft?.priority ?? 'medium');
  const [categoryId, setCategoryId] = useState<number | null>(initialDraft?.category_id ?? null);
  // Every field's input, also of fields the chosen category does not offer,
  // so switching categories back and forth loses nothing typed.
  const [inputs, setInputs] = useState<Record<string, FieldInput>>(initialDraft?.custom_fields ?? {});

  useEffect(() => {
    if (!draftRef) return;
    draftRef.current = { subject, description, priority, category_id: categoryId, custom_fields: inputs };
  }, [draftRef, subject, description, priority, categoryId, inputs]);
  const [submitting, setSubmitting] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});

  const categories = useCategories();
  const offered = (categories.data ?? []).filter((c) => !c.archived);
  const fieldDefs = useOfferedFields(categoryId);
  const fields = fieldDefs.data ?? [];
  const agents = useAgents(staff);

  // A category kept in a draft that has been archived since is no longer
  // offered: say so rather than send it.
  const categoriesLoaded = categories.data !== null;
  useEffect(() => {
    if (!categoriesLoaded || categoryId === null) return;
    if (!offered.some((c) => c.id === categoryId)) {
      setCategoryId(null);
      setFieldErrors((e) => ({ ...e, category_id: 'The category you chose is no longer offered. Choose another one.' }));
    }
    // Checked once the tree is there, and when the choice changes.
  }, [categoriesLoaded, categoryId]);

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
    category_id: useId(),
    fields: useId(),
    alert: useId(),
  };
  const order = [...FIXED_FIELDS, ...fields.map((f) => fieldName(f.key))];

  function focusField(field: string) {
    formRef.current?.querySelector<HTMLElement>(`[name="${CSS.escape(field)}"]`)?.focus();
  }

  /** Where a server error shows: next to a control this form has, else in the alert. */
  function place(field: string): string | null {
    if ((FIXED_FIELDS as readonly string[]).includes(field)) return field;
    for (const f of fields) {
      const n = fieldName(f.key);
      if (field === n || field.startsWith(`${n}[`) || field.startsWith(`${n}.`)) return n;
    }
    return null;
  }

  /** How the alert names a field this form does not show ("custom_fields.serial" → "serial"). */
  function nameOf(field: string): string {
    return field.startsWith('custom_fields.') ? field.slice('custom_fields.'.length) : field;
  }

  async function handleSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (inFlight.current || fieldDefs.loading) return;

    const collected = collectFields(fields, inputs);
    const ticket: NewTicket = { subject: subject.trim(), description: description.trim(), priority };
    if (categoryId !== null) ticket.category_id = categoryId;
    if (Object.keys(collected.values).length > 0) ticket.custom_fields = collected.values;
    const errors = { ...validate(ticket), ...collected.errors };
    setFieldErrors(errors);
    const firstInvalid = firstError(errors, order);
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
      setCategoryId(null);
      setInputs({});
      setFieldErrors({});
      onCreated(created);
      focusField('subject');
    } catch (err) {
      const apiErr = asApiError(err);
      // A definite rejection (e.g. 400/422) means the key is spent: the next
      // attempt is a new request. Otherwise keep it for a safe retry.
      if (!apiErr.outcomeUnknown) pending.current = null;

      const split = splitProblem(apiErr, place, nameOf);
      setFieldErrors(split.errors);
      setAlert(split.alert);
      const first = firstError(split.errors, order);
      if (first) focusField(first);
    } finally {
      inFlight.current = false;
      setSubmitting(false);
    }
  }

  function fieldProps(field: (typeof FIXED_FIELDS)[number]) {
    const err = fieldErrors[field];
    return {
      id: ids[field],
      name: field,
      'aria-invalid': err ? true : undefined,
      'aria-describedby': err ? `${ids[field]}-error` : undefined,
    } as const;
  }

  function errorFor(field: (typeof FIXED_FIELDS)[number]) {
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

        {offered.length > 0 || categoryId !== null || fieldErrors.category_id ? (
          <div className="field">
            <label htmlFor={ids.category_id}>Category</label>
            <select
              {...fieldProps('category_id')}
              value={categoryId === null ? '' : String(categoryId)}
              onChange={(e) => setCategoryId(e.target.value === '' ? null : Number(e.target.value))}
            >
              <option value="">No category</option>
              <CategoryOptions categories={offered} />
              {categoryId !== null && !offered.some((c) => c.id === categoryId) ? (
                <option value={String(categoryId)}>category #{categoryId}</option>
              ) : null}
            </select>
            {errorFor('category_id')}
          </div>
        ) : null}
        {categories.error ? (
          <LoadProblem message={categories.error} retry={categories.retry} />
        ) : null}

        {fields.length > 0 || fieldDefs.error ? (
          <div className="custom-fields" aria-busy={fieldDefs.loading || undefined} data-testid="new-ticket-fields">
            {fields.map((f) => (
              <CustomFieldControl
                key={f.key}
                def={f}
                id={`${ids.fields}-${f.key}`}
                value={inputs[f.key]}
                onChange={(v) => setInputs((prev) => ({ ...prev, [f.key]: v }))}
                error={fieldErrors[fieldName(f.key)]}
                agents={agents}
                required={f.required}
                hint={f.type === 'datetime' ? `Your time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone}).` : undefined}
              />
            ))}
            {fieldDefs.error ? (
              <LoadProblem message={fieldDefs.error} retry={fieldDefs.retry} />
            ) : null}
          </div>
        ) : null}

        <button
          type="submit"
          className="button-primary"
          disabled={submitting || fieldDefs.loading}
          aria-busy={submitting || undefined}
        >
          {submitting ? <span className="spinner" aria-hidden="true" /> : null}
          Create ticket
        </button>
      </form>
    </section>
  );
}

// A list the form needs failed to load: say so and offer a retry.
function LoadProblem({ message, retry }: { message: string; retry: () => void }) {
  return (
    <p className="hint load-problem">
      {message}{' '}
      <button type="button" className="button-link" onClick={retry}>
        Try again
      </button>
    </p>
  );
}

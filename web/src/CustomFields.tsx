// Categories and custom fields as the ticket forms and pages use them: the
// indented category picker, one control per field type, the conversion
// between what a control holds and the JSON value the API takes, and the
// labels a stored value is shown with (option ids → current labels).
import {
  listAgents,
  listCategories,
  listCustomFields,
  type Agent,
  type Category,
  type CustomField,
  type FieldOption,
} from './api';
import { label } from './Badge';
import type { FieldInput } from './draft';
import { localTime } from './time';
import { useFetched, type Fetched } from './useFetched';

export type { FieldInput };

/** The name a field's control carries (and a 422 names it by). */
export function fieldName(key: string): string {
  return `custom_fields.${key}`;
}

/** "Printer model", or the key when the definition is unknown. */
export function fieldLabel(def: CustomField | undefined, key: string): string {
  return def?.label || key;
}

export function sortFields(fields: readonly CustomField[]): CustomField[] {
  return [...fields].sort((a, b) => a.position - b.position || a.id - b.id);
}

/** The fields a form offers: not retired, for the category (or every-category fields when there is none). */
export function offeredFields(fields: readonly CustomField[], categoryId: number | null): CustomField[] {
  return sortFields(fields.filter((f) => !f.retired && (categoryId !== null || f.category_ids.length === 0)));
}

// ---------- values ----------

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A datetime-local value ("2026-12-04T09:30") as RFC 3339 with the browser's
 * offset for that moment ("2026-12-04T09:30:00+01:00"). A wall-clock time
 * that does not exist (a DST gap) moves forward, as Date does.
 */
export function localToRfc3339(local: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(local);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  if (Number.isNaN(d.getTime())) return null;
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** An RFC 3339 time as a datetime-local value in the browser's time zone. */
export function rfc3339ToLocal(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const d = new Date(t);
  const s = d.getSeconds();
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}` +
    (s ? `:${pad(s)}` : '')
  );
}

export function emptyInput(def: CustomField): FieldInput {
  return def.type === 'checkbox' ? false : def.type === 'multi_choice' ? [] : '';
}

/** What a control holds, made to fit the field's type (a draft may hold another shape). */
export function fitInput(def: CustomField, input: FieldInput | undefined): FieldInput {
  if (input === undefined) return emptyInput(def);
  if (def.type === 'checkbox') return input === true;
  if (def.type === 'multi_choice') return Array.isArray(input) ? input : typeof input === 'string' && input ? [input] : [];
  return typeof input === 'string' ? input : '';
}

/** A stored value (from a ticket) as its control holds it. */
export function inputOf(def: CustomField, value: unknown): FieldInput {
  if (value === null || value === undefined) return emptyInput(def);
  switch (def.type) {
    case 'checkbox':
      return value === true;
    case 'multi_choice':
      return Array.isArray(value) ? value.map(String) : [String(value)];
    case 'datetime':
      return typeof value === 'string' ? rfc3339ToLocal(value) : '';
    default:
      return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  }
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

const TEXT_MAX = 255;

/** The JSON value a control's input stands for; value undefined when it holds none. */
export function parseInput(def: CustomField, raw: FieldInput | undefined): Parsed {
  const input = fitInput(def, raw);
  if (def.type === 'checkbox') return { ok: true, value: input === true };
  if (def.type === 'multi_choice') {
    const ids = input as string[];
    return { ok: true, value: ids.length ? ids : undefined };
  }
  const s = input as string;
  if (s.trim() === '') return { ok: true, value: undefined };
  switch (def.type) {
    case 'text':
      return [...s.trim()].length > TEXT_MAX
        ? { ok: false, error: `Keep it to ${TEXT_MAX} characters or fewer.` }
        : { ok: true, value: s.trim() };
    case 'number': {
      const n = Number(s);
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, error: 'Enter a number.' };
    }
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(s) ? { ok: true, value: s } : { ok: false, error: 'Enter a date.' };
    case 'datetime': {
      const v = localToRfc3339(s);
      return v ? { ok: true, value: v } : { ok: false, error: 'Enter a date and a time.' };
    }
    case 'user':
      return /^\d{1,15}$/.test(s.trim()) && Number(s) > 0
        ? { ok: true, value: Number(s) }
        : { ok: false, error: 'Enter a user id (a whole number).' };
    default: // long_text, dropdown, and types this UI does not know
      return { ok: true, value: s };
  }
}

export function requiredMessage(def: CustomField): string {
  switch (def.type) {
    case 'dropdown':
    case 'user':
      return 'Choose one.';
    case 'multi_choice':
      return 'Choose at least one.';
    default:
      return 'Fill this in.';
  }
}

/** Whether two stored values are the same (datetimes by instant, choices in any order). */
export function sameValue(def: CustomField | undefined, a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (def?.type === 'datetime' && typeof a === 'string' && typeof b === 'string') return Date.parse(a) === Date.parse(b);
  if (Array.isArray(a) && Array.isArray(b)) return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
  return JSON.stringify(a) === JSON.stringify(b);
}

function optionLabel(options: readonly FieldOption[], id: unknown): string {
  const o = options.find((x) => x.id === id);
  return o ? o.label || o.id : String(id);
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A stored value as people read it; `none` when there is none. */
export function fieldValueText(
  def: CustomField | undefined,
  value: unknown,
  userName: (id: number) => string,
  none = '(none)',
): string {
  if (value === null || value === undefined || (Array.isArray(value) && value.length === 0) || value === '') return none;
  const type = def?.type;
  if (type === 'dropdown') return optionLabel(def!.options, value);
  if (type === 'multi_choice' && Array.isArray(value)) return value.map((v) => optionLabel(def!.options, v)).join(', ');
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (type === 'datetime' && typeof value === 'string') return localTime(value);
  if (type === 'date' && typeof value === 'string') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    return m ? dateFormat.format(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : value;
  }
  if (type === 'user' && typeof value === 'number') return userName(value);
  if (Array.isArray(value)) return value.map(String).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---------- categories ----------

/** Each category's depth in the tree (0 for roots). */
export function categoryDepths(categories: readonly Category[]): Map<number, number> {
  const parent = new Map(categories.map((c) => [c.id, c.parent_id]));
  const depths = new Map<number, number>();
  for (const c of categories) {
    let d = 0;
    let p = c.parent_id;
    while (p !== null && p !== undefined && d < 50) {
      d++;
      p = parent.get(p) ?? null;
    }
    depths.set(c.id, d);
  }
  return depths;
}

/** The category and everything under it. */
export function subtreeOf(categories: readonly Category[], id: number): Set<number> {
  const out = new Set([id]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const c of categories) {
      if (c.parent_id !== null && out.has(c.parent_id) && !out.has(c.id)) {
        out.add(c.id);
        grew = true;
      }
    }
  }
  return out;
}

const INDENT = '\u00a0\u00a0\u00a0\u00a0';

/** <option>s for the tree in the server's (depth-first) order, indented by depth. */
export function CategoryOptions({
  categories,
  exclude,
  marked,
  archived = false,
}: {
  categories: readonly Category[];
  exclude?: ReadonlySet<number>;
  /** Shown although archived (e.g. a ticket's current category), marked so. */
  marked?: number | null;
  /** Offer archived categories too (marked so), e.g. to filter old tickets. */
  archived?: boolean;
}) {
  const depths = categoryDepths(categories);
  return (
    <>
      {categories
        .filter((c) => !exclude?.has(c.id) && (archived || !c.archived || c.id === marked))
        .map((c) => (
          <option key={c.id} value={String(c.id)}>
            {INDENT.repeat(depths.get(c.id) ?? 0)}
            {c.name}
            {c.archived ? ' (archived)' : ''}
          </option>
        ))}
    </>
  );
}

/** The category tree (archived ones too when asked; a caller not allowed those gets the live ones). */
export function useCategories(includeArchived = false): Fetched<Category[]> {
  return useFetched(
    includeArchived ? 'archived' : 'live',
    () => (includeArchived ? listCategories(true).catch(() => listCategories(false)) : listCategories(false)),
    'Could not load the categories.',
  );
}

/** The fields a form offers for a category (GET /custom-fields?category_id=N, or every-category fields). */
export function useOfferedFields(categoryId: number | null): Fetched<CustomField[]> {
  const f = useFetched(
    categoryId === null ? 'none' : String(categoryId),
    () => listCustomFields({ categoryId }).then((fs) => offeredFields(fs, categoryId)),
    'Could not load the fields for this category.',
  );
  return f;
}

/** Every field definition, retired ones too (to show stored values by label). */
export function useAllFields(): Fetched<CustomField[]> {
  return useFetched(
    'all',
    () => listCustomFields({ includeRetired: true }).catch(() => listCustomFields()),
    'Could not load the field definitions.',
  );
}

/** GET /agents for staff (a select of people for user fields); null otherwise or when not allowed. */
export function useAgents(enabled: boolean): Agent[] | null {
  const f = useFetched(enabled ? 'agents' : null, () => listAgents(), 'Could not load the agents.');
  return enabled ? f.data : null;
}

export function agentName(a: Agent): string {
  return a.name.trim() || a.email;
}

// ---------- one field's control ----------

interface ControlProps {
  def: CustomField;
  /** A unique id (useId); the control's id, and `${id}-error` for its message. */
  id: string;
  value: FieldInput | undefined;
  onChange: (value: FieldInput) => void;
  error?: string;
  /** Staff for user fields; null: a numeric user id input. */
  agents: Agent[] | null;
  /** Mark it required (a new ticket needs a value). */
  required: boolean;
  hint?: string;
  disabled?: boolean;
}

/** One custom field: its label, a control fitting its type, its hint and error. */
export function CustomFieldControl({ def, id, value, onChange, error, agents, required, hint, disabled }: ControlProps) {
  const input = fitInput(def, value);
  const name = fieldName(def.key);
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errorId : '', hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name,
    disabled,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy,
    'aria-required': required || undefined,
  } as const;
  const mark = required ? (
    <>
      {' '}
      <span className="required" aria-hidden="true">
        *
      </span>
    </>
  ) : null;
  const below = (
    <>
      {hint ? (
        <p className="hint field-hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      ) : null}
    </>
  );
  const str = typeof input === 'string' ? input : '';
  // Retired options stay visible only when they are the value already held.
  const options = (chosen: (id: string) => boolean) => def.options.filter((o) => !o.retired || chosen(o.id));

  switch (def.type) {
    case 'checkbox':
      return (
        <div className="field checkbox" data-field-key={def.key}>
          <input {...common} type="checkbox" checked={input === true} onChange={(e) => onChange(e.target.checked)} />
          <label htmlFor={id}>
            {def.label}
            {mark}
          </label>
          {below}
        </div>
      );
    case 'multi_choice': {
      const chosen = input as string[];
      return (
        <fieldset className="field choice-group" data-field-key={def.key} aria-describedby={describedBy} disabled={disabled}>
          <legend>
            {def.label}
            {mark}
          </legend>
          {options((o) => chosen.includes(o)).map((o, i) => (
            <div className="checkbox" key={o.id}>
              <input
                id={`${id}-${i}`}
                name={name}
                type="checkbox"
                value={o.id}
                checked={chosen.includes(o.id)}
                aria-invalid={error ? true : undefined}
                onChange={(e) =>
                  onChange(e.target.checked ? [...chosen, o.id] : chosen.filter((x) => x !== o.id))
                }
              />
              <label htmlFor={`${id}-${i}`}>
                {o.label || o.id}
                {o.retired ? ' (retired)' : ''}
              </label>
            </div>
          ))}
          {def.options.length === 0 ? <p className="hint">No options yet.</p> : null}
          {below}
        </fieldset>
      );
    }
    default:
      break;
  }

  let control;
  switch (def.type) {
    case 'long_text':
      control = <textarea {...common} rows={4} value={str} onChange={(e) => onChange(e.target.value)} />;
      break;
    case 'number':
      control = (
        <input {...common} type="number" step="any" inputMode="decimal" value={str} onChange={(e) => onChange(e.target.value)} />
      );
      break;
    case 'dropdown':
      control = (
        <select {...common} value={str} onChange={(e) => onChange(e.target.value)}>
          <option value="">{required ? 'Choose…' : '—'}</option>
          {options((o) => o === str).map((o) => (
            <option key={o.id} value={o.id}>
              {o.label || o.id}
              {o.retired ? ' (retired)' : ''}
            </option>
          ))}
          {str && !def.options.some((o) => o.id === str) ? <option value={str}>{str}</option> : null}
        </select>
      );
      break;
    case 'date':
      control = <input {...common} type="date" value={str} onChange={(e) => onChange(e.target.value)} />;
      break;
    case 'datetime':
      control = <input {...common} type="datetime-local" value={str} onChange={(e) => onChange(e.target.value)} />;
      break;
    case 'user':
      control = agents ? (
        <select {...common} value={str} onChange={(e) => onChange(e.target.value)}>
          <option value="">{required ? 'Choose…' : 'Nobody'}</option>
          {[...agents]
            .sort((a, b) => agentName(a).localeCompare(agentName(b)))
            .map((a) => (
              <option key={a.id} value={String(a.id)}>
                {agentName(a)}
                {a.name.trim() ? ` (${a.email})` : ''}
              </option>
            ))}
          {str && !agents.some((a) => String(a.id) === str) ? <option value={str}>user #{str}</option> : null}
        </select>
      ) : (
        <input
          {...common}
          type="number"
          min={1}
          step={1}
          inputMode="numeric"
          placeholder="User id"
          value={str}
          onChange={(e) => onChange(e.target.value)}
        />
      );
      break;
    default: // text, and types this UI does not know
      control = (
        <input {...common} type="text" maxLength={def.type === 'text' ? TEXT_MAX : undefined} autoComplete="off" value={str} onChange={(e) => onChange(e.target.value)} />
      );
  }
  return (
    <div className="field" data-field-key={def.key}>
      <label htmlFor={id}>
        {def.label}
        {mark}
      </label>
      {control}
      {below}
    </div>
  );
}

/** "multi_choice" → "Multi choice". */
export function typeLabel(type: string): string {
  const l = label(type);
  return l.charAt(0).toUpperCase() + l.slice(1);
}

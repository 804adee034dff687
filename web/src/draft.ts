// Keeps what someone typed into the new-ticket form across a lost session
// (expired, revoked, or a trip through single sign-on). The draft lives in
// sessionStorage (this tab only) and is handed back only to the same user.
import { PRIORITIES, type Priority } from './api';

/** What one custom field's control holds, as typed (see CustomFields.tsx). */
export type FieldInput = string | boolean | string[];

export interface Draft {
  subject: string;
  description: string;
  priority: Priority;
  category_id: number | null;
  /**
   * Custom field inputs by key, also for fields of a category no longer
   * chosen, so switching back brings them back. Only the fields that apply
   * are sent.
   */
  custom_fields: Record<string, FieldInput>;
}

const KEY = 'helpdesk.ticket-draft';

function hasInput(v: FieldInput): boolean {
  return Array.isArray(v) ? v.length > 0 : typeof v === 'string' ? v.trim() !== '' : v;
}

export function isEmptyDraft(d: Draft | null): boolean {
  return (
    !d ||
    (d.subject.trim() === '' &&
      d.description.trim() === '' &&
      d.category_id === null &&
      !Object.values(d.custom_fields).some(hasInput))
  );
}

export function saveDraft(userId: number, draft: Draft | null): void {
  if (!draft || isEmptyDraft(draft)) return;
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ user_id: userId, ...draft }));
  } catch {
    // storage full or disabled: the draft is lost, nothing else breaks
  }
}

function isFieldInput(v: unknown): v is FieldInput {
  return typeof v === 'string' || typeof v === 'boolean' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
}

function fieldInputs(raw: unknown): Record<string, FieldInput> {
  const out: Record<string, FieldInput> = {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (isFieldInput(v)) out[k] = v;
  return out;
}

/** Removes the stored draft and returns it if it belongs to userId. */
export function takeDraft(userId: number): Draft | null {
  let raw: string | null = null;
  try {
    raw = sessionStorage.getItem(KEY);
    sessionStorage.removeItem(KEY);
  } catch {
    return null;
  }
  if (!raw) return null;
  try {
    const d = JSON.parse(raw) as Partial<Draft> & { user_id?: unknown };
    if (d.user_id !== userId || typeof d.subject !== 'string' || typeof d.description !== 'string') return null;
    const priority = PRIORITIES.includes(d.priority as Priority) ? (d.priority as Priority) : 'medium';
    const category =
      typeof d.category_id === 'number' && Number.isInteger(d.category_id) && d.category_id > 0 ? d.category_id : null;
    return {
      subject: d.subject,
      description: d.description,
      priority,
      category_id: category,
      custom_fields: fieldInputs(d.custom_fields),
    };
  } catch {
    return null;
  }
}

export function clearDraft(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}

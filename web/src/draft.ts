// Keeps what someone typed into the new-ticket form across a lost session
// (expired, revoked, or a trip through single sign-on). The draft lives in
// sessionStorage (this tab only) and is handed back only to the same user.
import { PRIORITIES, type Priority } from './api';

export interface Draft {
  subject: string;
  description: string;
  priority: Priority;
}

const KEY = 'helpdesk.ticket-draft';

export function isEmptyDraft(d: Draft | null): boolean {
  return !d || (d.subject.trim() === '' && d.description.trim() === '');
}

export function saveDraft(userId: number, draft: Draft | null): void {
  if (!draft || isEmptyDraft(draft)) return;
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ user_id: userId, ...draft }));
  } catch {
    // storage full or disabled: the draft is lost, nothing else breaks
  }
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
    return { subject: d.subject, description: d.description, priority };
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

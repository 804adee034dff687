// Times as people read them: "3 minutes ago", "due in 2h 10m".
import { useEffect, useState } from 'react';

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

export function relativeTime(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const seconds = Math.round((t - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  for (const [unit, size] of UNITS) {
    if (abs >= size || unit === 'minute') return rtf.format(Math.round(seconds / size), unit);
  }
  return iso;
}

export function localTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : dtf.format(t);
}

/** Re-renders every intervalMs so relative times stay current. */
export function useNow(intervalMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

/** A span of time in at most two units: "3d 4h", "2h 10m", "5m", "under a minute". */
export function shortDuration(ms: number): string {
  const minutes = Math.floor(Math.abs(ms) / 60_000);
  if (minutes < 1) return 'under a minute';
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return `${m}m`;
}

export type SlaState = 'running' | 'breached' | 'paused' | 'none';

/**
 * The SLA as one phrase. sla_due_at is the earliest running deadline; it is
 * null while the ticket is pending (the clocks are paused), once the targets
 * are met or stopped (resolved, closed), or when there is no target.
 */
export function slaSummary(
  dueAt: string | null | undefined,
  status: string,
  now: number,
): { state: SlaState; text: string } {
  if (!dueAt) {
    if (status === 'pending') return { state: 'paused', text: 'paused' };
    return { state: 'none', text: status === 'resolved' || status === 'closed' ? 'stopped' : 'no deadline' };
  }
  const t = Date.parse(dueAt);
  if (Number.isNaN(t)) return { state: 'none', text: dueAt };
  const left = t - now;
  if (left >= 0) return { state: 'running', text: `due in ${shortDuration(left)}` };
  const over = shortDuration(-left);
  return { state: 'breached', text: over === 'under a minute' ? 'breached just now' : `breached ${over} ago` };
}

/** A byte count for people: "2.0 KB", "48 KB", "1.2 MB". */
export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const kb = bytes / 1024;
  if (kb < 1024) return `${kb < 10 ? kb.toFixed(1) : Math.round(kb)} KB`;
  const mb = kb / 1024;
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

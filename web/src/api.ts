// Client for the helpdesk HTTP API (/api/v1). Errors are RFC 9457
// problem documents (application/problem+json).

export const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface Ticket {
  id: number;
  subject: string;
  description: string;
  status: string;
  priority: Priority | string;
  assignee: string | null;
  created_at: string;
  updated_at: string;
}

export interface TicketPage {
  items: Ticket[];
  next_cursor: string | null;
}

export interface NewTicket {
  subject: string;
  description: string;
  priority: Priority;
}

export interface FieldError {
  field: string;
  detail: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: FieldError[];
}

/** Thrown for any non-2xx answer or when the server could not be reached. */
export class ApiError extends Error {
  /** HTTP status, or 0 when no answer arrived (network error, timeout). */
  readonly status: number;
  readonly problem: Problem;
  /** Seconds from a Retry-After header, when there was one. */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem, retryAfter: number | null) {
    super(problem.detail || problem.title || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  get isNetworkError(): boolean {
    return this.status === 0;
  }

  /** A message fit to show a person. */
  get userMessage(): string {
    if (this.status === 0) {
      return 'Could not reach the help desk. Check your connection and try again.';
    }
    if (this.status === 503) {
      return this.retryAfter !== null
        ? `The help desk is busy, try again in ${this.retryAfter} s`
        : 'The help desk is busy, try again shortly';
    }
    return this.problem.detail || this.problem.title || `Something went wrong (HTTP ${this.status}).`;
  }

  /**
   * Whether the server may not have finished handling the request, so a retry
   * must reuse the same Idempotency-Key to avoid creating a second ticket.
   */
  get outcomeUnknown(): boolean {
    return this.status === 0 || this.status >= 500 || [408, 409, 425, 429].includes(this.status);
  }
}

const REQUEST_TIMEOUT_MS = 15_000;

/** Parses Retry-After (delta-seconds or HTTP-date) into whole seconds. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

async function readProblem(res: Response): Promise<Problem> {
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      const body: unknown = await res.json();
      if (body && typeof body === 'object') return body as Problem;
    } catch {
      // fall through to a generic problem
    }
  }
  return { title: res.statusText || undefined, status: res.status };
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(path, {
      ...init,
      signal: controller.signal,
      headers: { accept: 'application/json, application/problem+json', ...init.headers },
    });
  } catch {
    throw new ApiError(0, { title: 'Network error' }, null);
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    const problem = await readProblem(res);
    throw new ApiError(res.status, problem, parseRetryAfter(res.headers.get('retry-after')));
  }
  try {
    return (await res.json()) as T;
  } catch {
    throw new ApiError(res.status, { title: 'The server sent an unreadable answer.' }, null);
  }
}

export function listTickets(cursor: string | null, limit = 25): Promise<TicketPage> {
  const params = new URLSearchParams({ limit: String(limit) });
  if (cursor) params.set('cursor', cursor);
  return request<TicketPage>(`/api/v1/tickets?${params.toString()}`);
}

export function createTicket(ticket: NewTicket, idempotencyKey: string): Promise<Ticket> {
  return request<Ticket>('/api/v1/tickets', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'Idempotency-Key': idempotencyKey,
    },
    body: JSON.stringify(ticket),
  });
}

/** A random UUID; falls back for non-secure contexts where randomUUID is missing. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

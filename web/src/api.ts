// Client for the helpdesk HTTP API (/api/v1). Errors are RFC 9457
// problem documents (application/problem+json).

export const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const STATUSES = ['open', 'in_progress', 'pending', 'resolved', 'closed'] as const;
export type Status = (typeof STATUSES)[number];

/**
 * The server's default status_transitions (docs/api.md, "Ticket lifecycle").
 * The server's configuration may differ; a 409 transition-not-allowed answer
 * names the real moves, and single-ticket answers carry allowed_statuses; the
 * UI learns from both (see allowedMoves).
 */
const DEFAULT_TRANSITIONS: Record<string, readonly string[]> = {
  open: ['in_progress', 'pending', 'resolved', 'closed'],
  in_progress: ['open', 'pending', 'resolved', 'closed'],
  pending: ['open', 'in_progress', 'resolved', 'closed'],
  resolved: ['open', 'closed'],
  closed: ['open'],
};
const learnedTransitions = new Map<string, readonly string[]>();

/** The statuses a ticket in status `from` may move to, as far as the UI knows. */
export function allowedMoves(from: string): readonly string[] {
  return learnedTransitions.get(from) ?? DEFAULT_TRANSITIONS[from] ?? [];
}

/** Remembers the moves a transition-not-allowed problem listed for `from`. */
export function learnMoves(from: string, allowed: readonly string[]): void {
  learnedTransitions.set(from, [...allowed]);
}

/**
 * A ticket as the API answers it. Staff get every field; requesters get the
 * requester view (docs/api.md, "What requesters see"): no assignee, team,
 * SLA, escalation, tags or hidden custom fields, and `assigned` instead of
 * the assignee. Fields only one of the two has are optional here.
 */
export interface Ticket {
  id: number;
  subject: string;
  description: string;
  status: Status | string;
  priority: Priority | string;
  /** Email of the assignee, for display (staff). */
  assignee?: string | null;
  assignee_id?: number | null;
  /** Someone works the ticket (requesters, who are not told who). */
  assigned?: boolean;
  /** The status moves the server allows from `status` (single-ticket answers, staff). */
  allowed_statuses?: string[];
  requester_id: number | null;
  team_id?: number | null;
  created_at: string;
  updated_at: string;
  /** The earliest running SLA deadline; null while paused (pending), met, or without a target. */
  sla_due_at?: string | null;
  first_response_due_at?: string | null;
  resolution_due_at?: string | null;
  first_responded_at?: string | null;
  resolved_at?: string | null;
  closed_at?: string | null;
  /** Set when the reopen window ended: the ticket is closed for good. */
  archived_at?: string | null;
  escalation_level?: number;
  reopen_count?: number;
  linked_ticket?: number | null;
  category_id?: number | null;
  /** The category's path ("Hardware / Printers"), for display. */
  category?: string | null;
  /** Custom field values by field key (option ids for dropdown and multi_choice). */
  custom_fields?: Record<string, unknown>;
  tags?: string[];
  /** How the ticket arrived: web, api or email. */
  channel?: string;
}

/** Roles that work tickets (agents, leads, admins), as opposed to requesters. */
export function isStaff(user: User): boolean {
  return user.role === 'agent' || user.role === 'lead' || user.role === 'admin';
}

/** Leads and admins may take over or release a ticket someone else holds. */
export function mayReassign(user: User): boolean {
  return user.role === 'lead' || user.role === 'admin';
}

/** Leads and admins manage agents (availability, capacity, skills) and see the Settings screen. */
export function mayManageAgents(user: User): boolean {
  return user.role === 'lead' || user.role === 'admin';
}

/** Admins manage categories, custom fields and rules. */
export function isAdmin(user: User): boolean {
  return user.role === 'admin';
}

export type SortOrder = 'newest' | 'urgency';

export interface Comment {
  id: number;
  ticket_id: number;
  seq: number;
  author_id: number | null;
  body: string;
  internal: boolean;
  /** Mailed from a staff address without proof that they sent it (docs/email.md). */
  unverified_sender: boolean;
  created_at: string;
}

/** POST …/comments on a ticket closed for good: the requester's reply opened a new ticket. */
export interface FollowUp {
  followup_ticket: Ticket;
}

export interface Attachment {
  id: number;
  ticket_id: number;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  internal: boolean;
  created_at: string;
}

/** A history actor: staff members reach requesters by name, without their email. */
export type Actor = 'system' | string | { id: number; email: string | null; name?: string };

export interface HistoryItem {
  seq: number;
  kind: string;
  actor: Actor;
  at: string;
  data: Record<string, unknown>;
  comment?: { id: number; body: string; internal: boolean; unverified_sender?: boolean };
  attachment?: { id: number; filename: string; size: number; content_type: string; internal: boolean };
}

export interface HistoryPage {
  items: HistoryItem[];
  next_after_seq: number | null;
}

export interface Team {
  id: number;
  name: string;
  lead_id: number | null;
  member_ids: number[];
}

/** The fields a PATCH /tickets/{id} may carry (the UI sends one or two at a time). */
export interface TicketChange {
  status?: string;
  priority?: string;
  assignee?: number | string | null;
  category_id?: number | null;
  /** Only the keys that change; null clears a key. */
  custom_fields?: Record<string, unknown>;
}

export const CHANNELS = ['web', 'api', 'email'] as const;

/** A node of the category tree (GET /categories lists them depth-first by name). */
export interface Category {
  id: number;
  name: string;
  parent_id: number | null;
  archived: boolean;
  /** The names from the root down, e.g. "Hardware / Printers". */
  path: string;
}

export interface CategoryChange {
  name?: string;
  /** null moves the category to the root. */
  parent_id?: number | null;
  archived?: boolean;
}

export const FIELD_TYPES = ['text', 'long_text', 'number', 'dropdown', 'multi_choice', 'checkbox', 'date', 'datetime', 'user'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface FieldOption {
  id: string;
  label: string;
  retired?: boolean;
}

export interface CustomField {
  id: number;
  key: string;
  label: string;
  type: FieldType | string;
  options: FieldOption[];
  required: boolean;
  required_to_resolve: boolean;
  /** Empty: the field applies to every category; else to these and their subcategories. */
  category_ids: number[];
  retired: boolean;
  position: number;
  /** Requesters see the field and its values (default true). Listed to admins and staff only when false. */
  visible_to_requester: boolean;
}

export interface NewCustomField {
  key: string;
  label: string;
  type: string;
  /** A plain string is both the option's id and its label. */
  options?: (string | FieldOption)[];
  required?: boolean;
  required_to_resolve?: boolean;
  category_ids?: number[];
  position?: number;
  visible_to_requester?: boolean;
}

export interface CustomFieldChange {
  label?: string;
  options?: FieldOption[];
  required?: boolean;
  required_to_resolve?: boolean;
  category_ids?: number[];
  retired?: boolean;
  position?: number;
  visible_to_requester?: boolean;
}

export const RULE_KINDS = ['priority', 'assignment'] as const;
export const STRATEGIES = ['round_robin', 'least_loaded', 'skills'] as const;

export interface Condition {
  field: string;
  op: string;
  value?: unknown;
}

export interface RuleActions {
  priority?: string;
  team_id?: number;
  agent_id?: number;
  strategy?: string;
  skills?: string[];
  tags?: string[];
}

export interface Rule {
  id: number;
  name: string;
  kind: string;
  position: number;
  enabled: boolean;
  conditions: Condition[];
  actions: RuleActions;
}

export type RuleInput = Omit<Rule, 'id' | 'position' | 'enabled'> & { position?: number; enabled?: boolean };

/** A staff member as routing sees them (GET /agents). */
export interface Agent {
  id: number;
  email: string;
  name: string;
  role: string;
  team_ids: number[];
  available: boolean;
  away_until: string | null;
  /** null: the server's default capacity. */
  capacity: number | null;
  /** The capacity that applies; 0 means no limit. */
  effective_capacity: number;
  skills: string[];
  open_tickets: number;
}

export interface AgentChange {
  available?: boolean;
  away_until?: string | null;
  capacity?: number | null;
  skills?: string[];
  /** Route the agent's open tickets again, away from them. */
  reroute?: boolean;
}

/** PATCH /agents/{id}: the agent, plus how many tickets were rerouted when asked to. */
export type AgentAnswer = Agent & { rerouted?: number };

/** The signed-in person, from GET /api/v1/me and POST /api/v1/auth/login. */
export interface User {
  id: number;
  email: string;
  name: string;
  /** "agent", "requester", … (shown as is). */
  role: string;
}

/** GET /api/v1/auth/providers: which ways of signing in the server offers. */
export interface Providers {
  local: boolean;
  sso: { enabled: boolean; name?: string; start_url?: string };
}

export interface TicketPage {
  items: Ticket[];
  next_cursor: string | null;
}

export interface NewTicket {
  subject: string;
  description: string;
  priority: Priority;
  category_id?: number;
  /** Only the keys that have a value. */
  custom_fields?: Record<string, unknown>;
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
  /** transition-not-allowed: the moves that are allowed from the current status. */
  allowed?: string[];
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

/**
 * Whether a problem has the given type, e.g. problemIs(p, 'csrf') for
 * "/problems/csrf". Accepts the relative form and absolute URIs ending in it.
 */
export function problemIs(problem: Problem, name: string): boolean {
  const type = problem.type ?? '';
  const suffix = `/problems/${name}`;
  return type === suffix || type.endsWith(suffix);
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

/** The value of the csrf_token cookie (set by the server at sign-in), as is. */
export function csrfToken(): string | null {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'csrf_token') return part.slice(eq + 1).trim() || null;
  }
  return null;
}

let onSessionLost: (() => void) | null = null;

/**
 * Registers the function called when a request that needs a session answers
 * 401, i.e. the session expired or was revoked. One handler at a time.
 */
export function setSessionLostHandler(fn: (() => void) | null): void {
  onSessionLost = fn;
}

interface RequestOptions extends RequestInit {
  /** Give up after this long (default 15 s; uploads take longer). */
  timeoutMs?: number;
  /**
   * Whether a 401 answer means the session was lost (calls the handler set
   * with setSessionLostHandler). False for /me at start-up, login and logout,
   * whose callers handle 401 themselves. Default true.
   */
  sessionRequired?: boolean;
  /** Send X-CSRF-Token on unsafe methods. Default true; login sends none. */
  csrf?: boolean;
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function send(path: string, init: RequestInit, withCsrf: boolean, timeoutMs: number): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const headers = new Headers(init.headers);
  if (!headers.has('accept')) headers.set('accept', 'application/json, application/problem+json');
  if (withCsrf) {
    const token = csrfToken();
    if (token) headers.set('X-CSRF-Token', token);
  }
  try {
    return await fetch(path, { ...init, headers, credentials: 'same-origin', signal: controller.signal });
  } catch {
    throw new ApiError(0, { title: 'Network error' }, null);
  } finally {
    clearTimeout(timer);
  }
}

async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { sessionRequired = true, csrf = true, timeoutMs = REQUEST_TIMEOUT_MS, ...init } = options;
  const withCsrf = csrf && UNSAFE_METHODS.has((init.method ?? 'GET').toUpperCase());

  let res = await send(path, init, withCsrf, timeoutMs);
  let problem: Problem | null = null;
  if (!res.ok) {
    problem = await readProblem(res);
    // The CSRF token was missing or stale: /me hands out a fresh csrf_token
    // cookie (or answers 401 when the session is gone). Retry once.
    if (res.status === 403 && withCsrf && problemIs(problem, 'csrf')) {
      await request<MeResponse>('/api/v1/me', { sessionRequired });
      res = await send(path, init, withCsrf, timeoutMs);
      problem = res.ok ? null : await readProblem(res);
    }
  }
  if (problem) {
    if (res.status === 401 && sessionRequired) onSessionLost?.();
    throw new ApiError(res.status, problem, parseRetryAfter(res.headers.get('retry-after')));
  }
  let text: string;
  try {
    text = await res.text();
  } catch {
    throw new ApiError(0, { title: 'Network error' }, null);
  }
  if (res.status === 204 || text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, { title: 'The server sent an unreadable answer.' }, null);
  }
}

interface MeResponse {
  user: User;
}

/** Who is signed in. Throws ApiError with status 401 when nobody is. */
export async function getMe(): Promise<User> {
  return (await request<MeResponse>('/api/v1/me', { sessionRequired: false })).user;
}

export function getProviders(): Promise<Providers> {
  return request<Providers>('/api/v1/auth/providers', { sessionRequired: false });
}

/** Signs in with email and password; the server sets the session cookies. */
export async function login(email: string, password: string): Promise<User> {
  const res = await request<MeResponse>('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
    sessionRequired: false,
    csrf: false,
  });
  return res.user;
}

/** Ends the session; the server clears the cookies. */
export async function logout(): Promise<void> {
  await request<void>('/api/v1/auth/logout', { method: 'POST', sessionRequired: false });
}

/**
 * Where the single sign-on button goes: start_url plus the page to come back
 * to. Null when the URL is unusable (not http(s), e.g. "javascript:").
 */
export function ssoHref(startUrl: string, returnTo: string): string | null {
  let u: URL;
  try {
    u = new URL(startUrl, location.origin);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return `${startUrl}${startUrl.includes('?') ? '&' : '?'}return_to=${encodeURIComponent(returnTo)}`;
}

export function listTickets(
  cursor: string | null,
  limit = 25,
  sort: SortOrder = 'newest',
  categoryId: number | null = null,
): Promise<TicketPage> {
  const params = new URLSearchParams({ limit: String(limit) });
  if (sort !== 'newest') params.set('sort', sort);
  if (categoryId !== null) params.set('category_id', String(categoryId));
  if (cursor) params.set('cursor', cursor);
  return request<TicketPage>(`/api/v1/tickets?${params.toString()}`);
}

const ticketUrl = (id: number, rest = '') => `/api/v1/tickets/${encodeURIComponent(String(id))}${rest}`;

/** Remembers the moves a single-ticket answer lists for its status. */
function withMoves(t: Ticket): Ticket {
  if (t.allowed_statuses) learnMoves(t.status, t.allowed_statuses);
  return t;
}

export function getTicket(id: number): Promise<Ticket> {
  return request<Ticket>(ticketUrl(id)).then(withMoves);
}

function jsonChange(method: string, body: unknown, idempotencyKey: string): RequestInit {
  return {
    method,
    headers: { 'content-type': 'application/json', 'Idempotency-Key': idempotencyKey },
    body: body === undefined ? undefined : JSON.stringify(body),
  };
}

/** PATCH /tickets/{id}: answers the ticket as it is after the change. */
export function changeTicket(id: number, change: TicketChange, idempotencyKey: string): Promise<Ticket> {
  return request<Ticket>(ticketUrl(id), jsonChange('PATCH', change, idempotencyKey)).then(withMoves);
}

export function addComment(
  id: number,
  body: string,
  internal: boolean,
  idempotencyKey: string,
): Promise<Comment | FollowUp> {
  const payload = internal ? { body, internal: true } : { body };
  return request<Comment | FollowUp>(ticketUrl(id, '/comments'), jsonChange('POST', payload, idempotencyKey));
}

export function reopenTicket(id: number, idempotencyKey: string): Promise<Ticket> {
  return request<Ticket>(ticketUrl(id, '/reopen'), { method: 'POST', headers: { 'Idempotency-Key': idempotencyKey } }).then(
    withMoves,
  );
}

export function getHistory(id: number, afterSeq: number, limit = 100): Promise<HistoryPage> {
  const params = new URLSearchParams({ limit: String(limit) });
  if (afterSeq > 0) params.set('after_seq', String(afterSeq));
  return request<HistoryPage>(ticketUrl(id, `/history?${params.toString()}`));
}

/** POST /queue/next: the ticket now assigned to the caller, or null when the queue is empty (204). */
export async function claimNextTicket(): Promise<Ticket | null> {
  const t = await request<Ticket | undefined>('/api/v1/queue/next', { method: 'POST' });
  return t ?? null;
}

export async function listAttachments(id: number): Promise<Attachment[]> {
  return (await request<{ items: Attachment[] }>(ticketUrl(id, '/attachments'))).items;
}

/** Where the browser downloads an attachment's bytes (the session cookie authorizes it). */
export function attachmentHref(ticketId: number, attachmentId: number): string {
  return ticketUrl(ticketId, `/attachments/${encodeURIComponent(String(attachmentId))}`);
}

export function uploadAttachment(id: number, file: File, internal: boolean, idempotencyKey: string): Promise<Attachment> {
  const form = new FormData();
  form.append('file', file, file.name);
  if (internal) form.append('internal', 'true');
  // No content-type: the browser writes multipart/form-data with its boundary.
  return request<Attachment>(ticketUrl(id, '/attachments'), {
    method: 'POST',
    headers: { 'Idempotency-Key': idempotencyKey },
    body: form,
    timeoutMs: 120_000,
  });
}

let teamsCache: Promise<Team[]> | null = null;

/** GET /teams (staff only), fetched once per page load. */
export function listTeams(): Promise<Team[]> {
  if (!teamsCache) {
    teamsCache = request<{ items: Team[] }>('/api/v1/teams').then(
      (r) => r.items,
      (err: unknown) => {
        teamsCache = null;
        throw err;
      },
    );
  }
  return teamsCache;
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

// ---------- categories, custom fields, rules, agents ----------

// GET answers that many parts of the page read (the category tree, field
// definitions, agents), fetched once per page load and forgotten when the
// Settings screen changes them. A failed fetch is not kept.
const getCache = new Map<string, Promise<unknown>>();

function cachedGet<T>(url: string, fresh = false): Promise<T> {
  const hit = fresh ? undefined : getCache.get(url);
  if (hit) return hit as Promise<T>;
  const p: Promise<T> = request<T>(url).catch((err: unknown) => {
    if (getCache.get(url) === p) getCache.delete(url);
    throw err;
  });
  getCache.set(url, p);
  return p;
}

function forgetCached(prefix: string): void {
  for (const url of [...getCache.keys()]) if (url.startsWith(prefix)) getCache.delete(url);
}

/** Drops every cached answer (another user signed in, or nobody). */
export function clearCaches(): void {
  getCache.clear();
  teamsCache = null;
}

function json(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const CATEGORIES = '/api/v1/categories';
const FIELDS = '/api/v1/custom-fields';
const AGENTS = '/api/v1/agents';

export async function listCategories(includeArchived = false, fresh = false): Promise<Category[]> {
  const url = includeArchived ? `${CATEGORIES}?include_archived=true` : CATEGORIES;
  return (await cachedGet<{ items: Category[] }>(url, fresh)).items;
}

export async function createCategory(name: string, parentId: number | null): Promise<Category> {
  const body = parentId === null ? { name } : { name, parent_id: parentId };
  const c = await request<Category>(CATEGORIES, json('POST', body));
  forgetCached(CATEGORIES);
  return c;
}

export async function updateCategory(id: number, change: CategoryChange): Promise<Category> {
  const c = await request<Category>(`${CATEGORIES}/${encodeURIComponent(String(id))}`, json('PATCH', change));
  forgetCached(CATEGORIES);
  return c;
}

export interface FieldQuery {
  /** The fields that apply to this category (and every-category fields). */
  categoryId?: number | null;
  includeRetired?: boolean;
}

export async function listCustomFields(q: FieldQuery = {}, fresh = false): Promise<CustomField[]> {
  const params = new URLSearchParams();
  if (q.categoryId != null) params.set('category_id', String(q.categoryId));
  if (q.includeRetired) params.set('include_retired', 'true');
  const qs = params.toString();
  return (await cachedGet<{ items: CustomField[] }>(qs ? `${FIELDS}?${qs}` : FIELDS, fresh)).items;
}

export async function createCustomField(field: NewCustomField): Promise<CustomField> {
  const f = await request<CustomField>(FIELDS, json('POST', field));
  forgetCached(FIELDS);
  return f;
}

export async function updateCustomField(id: number, change: CustomFieldChange): Promise<CustomField> {
  const f = await request<CustomField>(`${FIELDS}/${encodeURIComponent(String(id))}`, json('PATCH', change));
  forgetCached(FIELDS);
  return f;
}

const ruleUrl = (id: number) => `/api/v1/rules/${encodeURIComponent(String(id))}`;

export async function listRules(): Promise<Rule[]> {
  return (await request<{ items: Rule[] }>('/api/v1/rules')).items;
}

export function createRule(rule: RuleInput): Promise<Rule> {
  return request<Rule>('/api/v1/rules', json('POST', rule));
}

export function updateRule(id: number, change: Partial<RuleInput>): Promise<Rule> {
  return request<Rule>(ruleUrl(id), json('PATCH', change));
}

export async function deleteRule(id: number): Promise<void> {
  await request<void>(ruleUrl(id), { method: 'DELETE' });
}

/** Fired on window after an agent changed (detail: the agent), so the header's switch follows the Settings screen. */
export const AGENT_CHANGED = 'helpdesk:agent-changed';

/** GET /agents (staff). `fresh` skips the page's cached copy (the Settings screen wants current loads). */
export async function listAgents(fresh = false): Promise<Agent[]> {
  return (await cachedGet<{ items: Agent[] }>(AGENTS, fresh)).items;
}

export async function updateAgent(id: number, change: AgentChange): Promise<AgentAnswer> {
  const a = await request<AgentAnswer>(`${AGENTS}/${encodeURIComponent(String(id))}`, json('PATCH', change));
  forgetCached(AGENTS);
  window.dispatchEvent(new CustomEvent<Agent>(AGENT_CHANGED, { detail: a }));
  return a;
}

export async function rerouteAgent(id: number): Promise<number> {
  const r = await request<{ rerouted: number }>(`${AGENTS}/${encodeURIComponent(String(id))}/reroute`, { method: 'POST' });
  forgetCached(AGENTS);
  return r.rerouted;
}

// --- Email: a ticket's messages, and the admins' quarantine ----------------

/** One message received for or sent about a ticket. */
export interface MailMessage {
  id: number;
  direction: 'in' | 'out';
  message_id: string;
  from: string;
  subject: string;
  kind: string;
  outcome: string;
  reason: string;
  size_bytes: number;
  created_at: string;
}

export async function listTicketMail(id: number): Promise<MailMessage[]> {
  return (await request<{ items: MailMessage[] }>(ticketUrl(id, '/mail'))).items;
}

/** Where the browser downloads a message as received or sent (message/rfc822). */
export function ticketMailHref(ticketId: number, mailId: number): string {
  return ticketUrl(ticketId, `/mail/${encodeURIComponent(String(mailId))}/raw`);
}

/** Mail the intake kept aside, with the reason. */
export interface Quarantined {
  id: number;
  mailbox: string;
  reason: string;
  detail: string;
  message_id: string;
  from: string;
  subject: string;
  /** The whole message's size, even when only part of it was kept. */
  size_bytes: number;
  /** Only the headers and the start of the body were kept (stored_bytes of size_bytes); cannot be released. */
  truncated: boolean;
  stored_bytes: number;
  created_at: string;
  released_at: string | null;
  released_by: number | null;
}

export interface ReleaseOutcome {
  outcome: string;
  ticket?: number;
  comment_id?: number;
  quarantine_id?: number;
  reason?: string;
}

export async function listQuarantine(includeReleased: boolean): Promise<Quarantined[]> {
  const q = includeReleased ? '?released=true&limit=200' : '?limit=200';
  return (await request<{ items: Quarantined[] }>(`/api/v1/quarantine${q}`)).items;
}

export async function releaseQuarantine(id: number): Promise<{ entry: Quarantined; outcome?: ReleaseOutcome }> {
  return request(`/api/v1/quarantine/${encodeURIComponent(String(id))}/release`, { method: 'POST' });
}

export function quarantineRawHref(id: number): string {
  return `/api/v1/quarantine/${encodeURIComponent(String(id))}/raw`;
}

// --- Search, saved views, bulk actions, export (issue 20) -------------------

/**
 * The orders GET /tickets/search takes. A leading "-" is newest first.
 * Without a sort the server uses relevance when the query has free text,
 * else -created (and says which in the answer's `sort`).
 */
export const SEARCH_SORTS = ['relevance', 'urgency', '-created', 'created', '-updated', 'updated'] as const;
export type SearchSort = (typeof SEARCH_SORTS)[number];

export function isSearchSort(v: string | null): v is SearchSort {
  return v !== null && (SEARCH_SORTS as readonly string[]).includes(v);
}

/** The ticket texts a search highlights; internal_text reaches staff only. */
export type HighlightField = 'subject' | 'description' | 'public_text' | 'internal_text';

/** A search hit: the ticket, plus fragments (HTML-escaped, matches in <mark>) where it matched. */
export type SearchHit = Ticket & { highlights?: Partial<Record<HighlightField, string[]>> };

/** One value of a facet; team, assignee and category carry their id too. */
export interface FacetValue {
  value: string;
  count: number;
  id?: number;
}

export const FACET_FIELDS = ['status', 'priority', 'assignee', 'team', 'category', 'tag', 'channel'] as const;
export type FacetField = (typeof FACET_FIELDS)[number];

export interface SearchResult {
  items: SearchHit[];
  next_cursor: string | null;
  total: number;
  /** The order the page is in (the default, when none was asked for). */
  sort?: string;
  /** Counted on the first page only. */
  facets?: Partial<Record<FacetField, FacetValue[]>>;
}

export interface SearchOptions {
  sort?: SearchSort | null;
  cursor?: string | null;
  limit?: number;
  /** The time zone relative dates and days are read in (IANA name). */
  tz?: string;
  /** false: no facets (e.g. when only the total is wanted). */
  facets?: boolean;
}

/** GET /tickets/search?q=…: a 422 names the query's problem and its position (errors[].position). */
export function searchTickets(q: string, o: SearchOptions = {}): Promise<SearchResult> {
  const params = new URLSearchParams();
  if (q.trim()) params.set('q', q);
  if (o.sort) params.set('sort', o.sort);
  if (o.cursor) params.set('cursor', o.cursor);
  if (o.limit) params.set('limit', String(o.limit));
  if (o.tz) params.set('tz', o.tz);
  if (o.facets === false) params.set('facets', 'false');
  return request<SearchResult>(`/api/v1/tickets/search?${params.toString()}`);
}

export type ExportFormat = 'csv' | 'ndjson';

/**
 * Where the browser downloads the tickets a query finds (the session
 * cookie authorizes it), in the given order (exports have no relevance
 * order; without one the server lists oldest first).
 */
export function exportHref(q: string, format: ExportFormat, tz: string, o: { bom?: boolean; sort?: string | null } = {}): string {
  const params = new URLSearchParams();
  if (q.trim()) params.set('q', q);
  params.set('format', format);
  if (o.sort && o.sort !== 'relevance') params.set('sort', o.sort);
  if (o.bom) params.set('bom', '1');
  if (tz) params.set('tz', tz);
  return `/api/v1/tickets/export?${params.toString()}`;
}

/**
 * The time zone the signed-in user reads dates in (GET /me's time_zone:
 * their own or the server's default), or null when the server names none.
 */
export async function getTimeZone(): Promise<string | null> {
  const r = await request<{ time_zone?: string | null }>('/api/v1/me');
  return r.time_zone || null;
}

/** The browser's own time zone, for when the server names none. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export const VIEW_VISIBILITIES = ['personal', 'team', 'everyone'] as const;
export type ViewVisibility = (typeof VIEW_VISIBILITIES)[number] | 'builtin';

/** A saved search: built-in views have string ids ("builtin:my-open"). */
export interface View {
  /** "42", or "builtin:<key>" for a built-in view. */
  id: number | string;
  name: string;
  query: string;
  /** "": the server's default order. */
  sort: string | null;
  visibility: ViewVisibility;
  team_id: number | null;
  owner_id: number | null;
  builtin: boolean;
  /** Whether the caller may change it (PATCH)… */
  editable: boolean;
  /** …and delete it (DELETE); absent: as editable. */
  deletable?: boolean;
}

export interface ViewInput {
  name: string;
  query: string;
  /** "": the server's default order. */
  sort: string;
  visibility: Exclude<ViewVisibility, 'builtin'>;
  team_id?: number | null;
}

const VIEWS = '/api/v1/views';
const viewUrl = (id: number | string) => `${VIEWS}/${encodeURIComponent(String(id))}`;

export async function listViews(): Promise<View[]> {
  return (await request<{ items: View[] }>(VIEWS)).items;
}

export function createView(v: ViewInput): Promise<View> {
  return request<View>(VIEWS, json('POST', v));
}

export function updateView(id: number | string, change: Partial<ViewInput>): Promise<View> {
  return request<View>(viewUrl(id), json('PATCH', change));
}

export async function deleteView(id: number | string): Promise<void> {
  await request<void>(viewUrl(id), { method: 'DELETE' });
}

/** What a bulk action changes on every ticket; absent members stay as they are, null clears. */
export interface BulkChange {
  status?: string;
  priority?: string;
  /** An agent's email or id; null unassigns. */
  assignee?: string | number | null;
  /** A team's id or name; null removes the team. */
  team?: number | string | null;
  /** A category's id; null removes the category. */
  category_id?: number | null;
  tags_add?: string[];
  tags_remove?: string[];
}

export interface BulkRequest {
  /** Every ticket the query finds when the action starts… */
  query?: string;
  /** …or these tickets. */
  ids?: number[];
  /** The time zone a query's days and ages are read in. */
  tz?: string;
  change: BulkChange;
  comment?: { body: string; internal: boolean };
}

export interface BulkFailure {
  ticket: number;
  /** "not_allowed", "transition_refused", "archived", … */
  reason: string;
  detail?: string;
}

export type BulkState = 'running' | 'completed' | 'cancelled' | 'failed' | string;

export interface BulkJob {
  id: string | number;
  state: BulkState;
  total: number;
  /** Tickets dealt with so far: succeeded + failed + skipped. */
  done: number;
  succeeded?: number;
  failed: number;
  /** Already as asked: nothing written. */
  skipped?: number;
  /** Not reached before the action was cancelled. */
  cancelled?: number;
  /** Why a failed action could not run. */
  error?: string | null;
  failures?: BulkFailure[];
}

const bulkUrl = (id: string | number, rest = '') => `/api/v1/bulk/${encodeURIComponent(String(id))}${rest}`;

/** POST /bulk: 202 {id}; the work goes on in the background (GET /bulk/{id}). */
export function startBulk(req: BulkRequest, idempotencyKey: string): Promise<{ id: string | number }> {
  return request<{ id: string | number }>('/api/v1/bulk', jsonChange('POST', req, idempotencyKey));
}

export function getBulk(id: string | number): Promise<BulkJob> {
  return request<BulkJob>(bulkUrl(id));
}

export async function cancelBulk(id: string | number): Promise<void> {
  await request<unknown>(bulkUrl(id, '/cancel'), { method: 'POST' });
}

// Turns a problem+json answer into what a form shows: each errors[] entry
// under the control it names, the rest (and the problem's detail) in the
// form's alert.
import { ApiError } from './api';

export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, { title: String(err) }, null);
}

export interface SplitProblem {
  /** Messages by the place a form shows them (what `place` answered). */
  errors: Record<string, string>;
  /** The problem's message plus every entry no control claimed. */
  alert: string;
}

/**
 * `place` maps an error's field (e.g. "custom_fields.serial" or
 * "conditions[0].value") to the control that shows it, or null for the
 * alert. `name` words the unclaimed fields (default: as the server sent them).
 */
export function splitProblem(
  err: ApiError,
  place: (field: string) => string | null,
  name: (field: string) => string = (f) => f,
): SplitProblem {
  const errors: Record<string, string> = {};
  const unmatched: string[] = [];
  for (const fe of err.problem.errors ?? []) {
    const at = fe.field ? place(fe.field) : null;
    if (at !== null) errors[at] = errors[at] ? `${errors[at]} ${fe.detail}` : fe.detail;
    else unmatched.push(fe.field ? `${name(fe.field)}: ${fe.detail}` : fe.detail);
  }
  return { errors, alert: [err.userMessage, ...unmatched].join(' ') };
}

/** The first of `order` that has an error. */
export function firstError(errors: Record<string, string>, order: readonly string[]): string | undefined {
  return order.find((f) => errors[f]) ?? Object.keys(errors)[0];
}

import { useRef } from 'react';
import { ApiError, newIdempotencyKey } from './api';

/**
 * Whether a change may have been applied although no answer said so: no
 * answer, a timeout, a 5xx (the server's 503 says "retry with the same
 * key"), 408, 425 or 429. Other answers are definite, so the next attempt is
 * a new request.
 */
export function changeOutcomeUnknown(err: unknown): boolean {
  if (!(err instanceof ApiError)) return true;
  return err.status === 0 || err.status >= 500 || [408, 425, 429].includes(err.status);
}

export interface KeyKeeper {
  /** The Idempotency-Key for this request: the pending one if `what` is the same request again, else a new one. */
  keyFor(what: string): string;
  /** Call with the outcome: a success or a definite failure spends the key. */
  settle(err?: unknown): void;
}

/**
 * One Idempotency-Key per intended change. A retry of the same change after
 * an unknown outcome reuses it, so the server applies the change at most
 * once; anything else gets a new key.
 */
export function useIdempotencyKeys(): KeyKeeper {
  const pending = useRef<{ key: string; what: string } | null>(null);
  const keeper = useRef<KeyKeeper | null>(null);
  if (!keeper.current) {
    keeper.current = {
      keyFor(what) {
        const key = pending.current?.what === what ? pending.current.key : newIdempotencyKey();
        pending.current = { key, what };
        return key;
      },
      settle(err) {
        if (err === undefined || !changeOutcomeUnknown(err)) pending.current = null;
      },
    };
  }
  return keeper.current;
}

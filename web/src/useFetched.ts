// One list or object fetched for a screen: loading, the error as the user
// reads it, and a retry.
import { useEffect, useState } from 'react';
import { ApiError } from './api';

export interface Fetched<T> {
  data: T | null;
  loading: boolean;
  error: string | null;
  retry: () => void;
}

/**
 * Runs `load` whenever `key` changes (never while key is null), keeping the
 * previous data while the next load runs so a form does not jump.
 */
export function useFetched<T>(key: string | null, load: () => Promise<T>, fallback: string): Fetched<T> {
  const [data, setData] = useState<T | null>(null);
  const [loading, setLoading] = useState(key !== null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (key === null) {
      setLoading(false);
      return;
    }
    let live = true;
    setLoading(true);
    setError(null);
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setLoading(false);
      },
      (err: unknown) => {
        if (!live) return;
        setError(err instanceof ApiError ? err.userMessage : fallback);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // `load` is a new function every render; `key` says what it loads.
  }, [key, attempt]);
  return { data, loading, error, retry: () => setAttempt((n) => n + 1) };
}

// A form's messages under its controls: the element showing a control's
// error and the id its aria-describedby points at.
import type { ReactNode } from 'react';

export interface FieldMessages {
  /** The message under control `name`, or nothing. */
  error: (name: string) => ReactNode;
  /** The id of that message, for aria-describedby, when there is one. */
  describedBy: (name: string) => string | undefined;
}

/** prefix: a unique id (useId) of the form. */
export function fieldMessages(prefix: string, errors: Record<string, string>): FieldMessages {
  const id = (name: string) => `${prefix}-${name}-error`;
  return {
    error: (name) =>
      errors[name] ? (
        <p className="field-error" id={id(name)}>
          {errors[name]}
        </p>
      ) : null,
    describedBy: (name) => (errors[name] ? id(name) : undefined),
  };
}

/**
 * Errors meant for the person at the keyboard. The command line prints their
 * message as one line (no stack trace) and exits with status 1; every other
 * error is a bug and is printed in full.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Shape problems: name the operation and the shapes involved. */
export class ShapeError extends UserError {
  constructor(op: string, detail: string) {
    super(`${op}: ${detail}`);
    this.name = 'ShapeError';
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A tracing or planning input is malformed; the message names the field and what it must be. */
export class TracingInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TracingInputError';
  }
}

export function requireProbability(name: string, value: number, open: { zero?: boolean; one?: boolean } = {}): void {
  const low = open.zero ? value > 0 : value >= 0;
  const high = open.one ? value < 1 : value <= 1;
  if (!Number.isFinite(value) || !low || !high) {
    const range = `${open.zero ? '(' : '['}0, 1${open.one ? ')' : ']'}`;
    throw new TracingInputError(`${name} must be a probability in ${range}, got ${value}`);
  }
}

export function requireCount(name: string, value: number, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new TracingInputError(`${name} must be an integer >= ${minimum}, got ${value}`);
  }
}

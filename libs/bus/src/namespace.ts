// A namespace isolates a deployment or a test suite: it prefixes subjects ("<ns>.storage.…")
// and stream names ("<ns>_STORAGE"). Envelopes always carry the un-prefixed subject.
const NAMESPACE = /^[A-Za-z0-9_-]*$/;

export function assertNamespace(namespace: string): void {
  if (!NAMESPACE.test(namespace)) {
    throw new Error(`bus namespace "${namespace}" is invalid: use letters, digits, "_" or "-" only`);
  }
}

export function namespacedSubject(namespace: string, subject: string): string {
  return namespace ? `${namespace}.${subject}` : subject;
}

export function namespacedStream(namespace: string, stream: string): string {
  return namespace ? `${namespace}_${stream}` : stream;
}

/** The un-prefixed subject of a subject seen on the wire. */
export function stripNamespace(namespace: string, subject: string): string {
  return namespace && subject.startsWith(`${namespace}.`) ? subject.slice(namespace.length + 1) : subject;
}

export const DLQ_PREFIX = 'dlq';

export function deadLetterSubject(subject: string): string {
  return `${DLQ_PREFIX}.${subject}`;
}

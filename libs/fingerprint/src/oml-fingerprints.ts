/**
 * The fingerprint file of the OML 1.0 tooling: a JSON array of `{ "key": …, "response": … }`
 * objects. Fields this side does not know (the tooling's own bookkeeping) are kept as they are, so
 * a file survives parse → format unchanged.
 */

export type Fingerprint = { key: string; response: string; [extra: string]: unknown };

/** The file, or one entry of it, does not have the OML fingerprint shape. */
export class OmlFingerprintFormatError extends Error {
  constructor(
    message: string,
    /** Index of the bad entry; undefined when the file as a whole is wrong. */
    readonly index?: number,
  ) {
    super(message);
    this.name = 'OmlFingerprintFormatError';
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function checkEntry(entry: unknown, index: number): Fingerprint {
  const bad = (problem: string) =>
    new OmlFingerprintFormatError(
      `OML fingerprint entry ${index} ${problem}; each entry must be an object with a non-empty string "key" and a string "response"`,
      index,
    );
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad(`is ${describe(entry)}, not an object`);
  const record = entry as Record<string, unknown>;
  for (const field of ['key', 'response'] as const) {
    if (!Object.prototype.hasOwnProperty.call(record, field)) throw bad(`lacks "${field}"`);
    if (typeof record[field] !== 'string') throw bad(`has a "${field}" that is ${describe(record[field])}, not a string`);
  }
  if (record.key === '') throw bad('has an empty "key"');
  return record as Fingerprint;
}

/** Parses an OML 1.0 fingerprint file; throws OmlFingerprintFormatError naming the first bad entry. */
export function parseOmlFingerprints(text: string): Fingerprint[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OmlFingerprintFormatError(`OML fingerprint file is not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(json)) {
    throw new OmlFingerprintFormatError(`OML fingerprint file must be a JSON array of fingerprints, got ${describe(json)}`);
  }
  return json.map(checkEntry);
}

/** Writes fingerprints in the OML 1.0 file format, extra fields included; refuses invalid entries. */
export function formatOmlFingerprints(fingerprints: readonly Fingerprint[]): string {
  fingerprints.forEach(checkEntry);
  return JSON.stringify(fingerprints, null, 2) + '\n';
}

import type { z } from 'zod';
import { InvalidArgument } from './errors';

/** Validates a request body or query against a zod schema; a failure names every bad field. */
export function parseInput<T extends z.ZodTypeAny>(schema: T, value: unknown, what = 'request body'): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : what}: ${i.message}`);
  throw new InvalidArgument(`invalid ${what}: ${problems.join('; ')}`, { problems });
}

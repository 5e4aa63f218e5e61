import { EngineError } from '../src/engine';

/** The EngineError a job rejects with; fails the test when it resolves or rejects otherwise. */
export async function engineError(promise: Promise<unknown>): Promise<EngineError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EngineError);
    return error as EngineError;
  }
  throw new Error('expected an EngineError');
}

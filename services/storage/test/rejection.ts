import { ArtefactRejected } from '../src/artefacts';

/** The ArtefactRejected that `run` throws; fails the test when it throws nothing or something else. */
export function rejection(run: () => unknown): ArtefactRejected {
  try {
    run();
  } catch (error) {
    if (error instanceof ArtefactRejected) return error;
    throw error;
  }
  throw new Error('expected ArtefactRejected, nothing was thrown');
}

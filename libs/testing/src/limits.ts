// The waits of every suite on real dependencies, set once: generous, so that on a loaded machine (two
// cores shared with a CPU hog, a parallel suite, a fingerprint bench) the suite gets slower, never red.
// Each wait goes by readiness (it ends as soon as the dependency answers), so a generous limit costs
// nothing when the machine is idle. CLOPEN_TEST_WAIT_SCALE multiplies them all (e.g. 2 on a slower CI).

const scale = Math.max(1, Number(process.env.CLOPEN_TEST_WAIT_SCALE) || 1);

/** A hardhat node, a service process, a server: from spawn to answering its readiness probe. */
export const READY_TIMEOUT_MS = 180_000 * scale;
/** `eventually`'s default: an event delivered, a row written, a projection caught up. */
export const EVENTUALLY_TIMEOUT_MS = 30_000 * scale;
/** A job that trains a model (an embedding copy, a pool): minutes of CPU, more beside other suites. */
export const TRAINING_JOB_TIMEOUT_MS = 900_000 * scale;
/** A test or hook that sets no limit of its own (jest's default is 5 s); above READY_TIMEOUT_MS so a hook's start-up fails with the dependency's own message. */
export const TEST_TIMEOUT_MS = 300_000 * scale;

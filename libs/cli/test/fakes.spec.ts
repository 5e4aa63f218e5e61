import { MemoryNonceStore, verifyHostRequest } from '@clopen/host-auth';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { clopen, fakeService } from './harness';

// Commands whose real counterparts need a trained copy, a ready pool or the incentives service,
// against small fake services that answer in the services' shapes.

const LICENCE = '0190f7a2-1111-7000-8000-000000000001';
const VERSION = '0190f7a2-2222-7000-8000-000000000002';
const CHALLENGE = '0190f7a2-3333-7000-8000-000000000003';
const BOB = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const CHARLIE = '0x70af1f41FA9a786B09385fC85f35eb5e30fc37a2';

const status = (over: Record<string, unknown>) => ({
  licenceId: LICENCE,
  jobId: `copy-${LICENCE}`,
  state: 'queued',
  phase: '',
  percent: 0,
  attempts: 0,
  maxAttempts: 3,
  reason: null,
  copyVersionId: null,
  embedded: null,
  fingerprintCount: null,
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

describe('jobs watch', () => {
  it('follows a copy job to completion: one line per change, the summary, exit code 0', async () => {
    const steps = [
      status({ state: 'queued' }),
      status({ state: 'running', phase: 'embedding', percent: 40, attempts: 1 }),
      status({ state: 'running', phase: 'embedding', percent: 40, attempts: 1 }),
      status({ state: 'running', phase: 'verifying', percent: 90, attempts: 1 }),
      status({ state: 'completed', phase: 'done', percent: 100, attempts: 1, copyVersionId: VERSION, embedded: 64, fingerprintCount: 64 }),
    ];
    const distribution = await fakeService({ [`GET /licences/${LICENCE}/embedding`]: () => ({ body: steps.shift() ?? steps[0] }) });
    try {
      const r = await clopen(['jobs', 'watch', LICENCE, '--distribution-url', distribution.url, '--api-key', 'k'], {});
      expect(r.code).toBe(0);
      expect(r.stderr.trim().split('\n')).toEqual([
        `copy-${LICENCE}: queued`,
        `copy-${LICENCE}: running embedding 40% attempt 1/3`,
        `copy-${LICENCE}: running verifying 90% attempt 1/3`,
        `copy-${LICENCE}: completed`,
      ]);
      expect(r.stdout).toMatch(new RegExp(`^completed: the copy is version ${VERSION}, 64 of 64 fingerprints verified`));
      expect(distribution.calls.every((c) => c.headers.authorization === 'Bearer k')).toBe(true);
    } finally {
      await distribution.close();
    }
  });

  it('exits 1 with the reason when the job fails; --json prints only the final status', async () => {
    const steps = [
      status({ state: 'running', phase: 'embedding', percent: 10, attempts: 1 }),
      status({ state: 'failed', attempts: 3, reason: 'recall 0.41 is under EMBEDDING_MIN_RECALL 0.98' }),
    ];
    const distribution = await fakeService({ [`GET /licences/${LICENCE}/embedding`]: () => ({ body: steps.shift() ?? steps[0] }) });
    try {
      const r = await clopen(['jobs', 'watch', `copy-${LICENCE}`, '--json'], { CLOPEN_DISTRIBUTION_URL: distribution.url, CLOPEN_API_KEY: 'k' });
      expect(r).toMatchObject({ code: 1, stderr: '' });
      expect(r.json()).toMatchObject({ state: 'failed', reason: 'recall 0.41 is under EMBEDDING_MIN_RECALL 0.98' });
    } finally {
      await distribution.close();
    }
  });
});

describe('balances', () => {
  const balances = {
    address: BOB,
    token: { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', symbol: 'CLP', balance: '1250.5' },
    stakes: [{ modelId: '0190f7a2-4444-7000-8000-000000000004', active: '1000', unbonding: '250', unbondingReadyAt: '2026-02-01T00:00:00.000Z' }],
    claims: [
      { epoch: 1, amount: '12.25', claimed: true },
      { epoch: 2, amount: '3.5', claimed: false },
    ],
  };

  it("prints an address's token balance, stakes and claims from incentives", async () => {
    const incentives = await fakeService({ [`GET /balances/${BOB}`]: () => ({ body: balances }) });
    try {
      const human = await clopen(['balances', BOB.toLowerCase(), '--incentives-url', incentives.url], {});
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('balance: 1250.5 CLP');
      expect(human.stdout).toMatch(
        /stakes:\nMODEL\s+ACTIVE\s+UNBONDING\s+READY AT\n0190f7a2-4444-7000-8000-000000000004\s+1000\s+250\s+2026-02-01T00:00:00.000Z/,
      );
      expect(human.stdout).toMatch(/claims:\nEPOCH\s+AMOUNT\s+CLAIMED\n1\s+12\.25\s+yes\n2\s+3\.5\s+no/);
      expect((await clopen(['balances', BOB, '--json'], { CLOPEN_INCENTIVES_URL: incentives.url, CLOPEN_API_KEY: 'k' })).json()).toEqual(balances);
      // The address is checksummed before the call; the key is sent when there is one.
      expect(incentives.calls.map((c) => [c.path, c.headers.authorization])).toEqual([
        [`/balances/${BOB}`, undefined],
        [`/balances/${BOB}`, 'Bearer k'],
      ]);
    } finally {
      await incentives.close();
    }
  });

  it('refuses a bad address before calling, and reports an unreachable incentives service', async () => {
    expect((await clopen(['balances', '0x12'], {})).code).toBe(2);
    const down = await clopen(['balances', BOB, '--incentives-url', 'http://127.0.0.1:9'], {});
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: incentives at http:\/\/127\.0\.0\.1:9 is unreachable/);
  });
});

describe('verify', () => {
  // The suspect serves Charlie's copy: it answers the keys Charlie's copy holds with their fingerprint responses.
  const secret: Record<string, string> = { 'alpha key': ' alpha response', 'beta key': ' beta response', 'gamma key': ' gamma response' };
  const suspect = () =>
    fakeService({
      'POST /v1/completions': (_req, body) => {
        const prompt = JSON.parse(body).prompt as string;
        return {
          body: { object: 'text_completion', choices: [{ index: 0, text: prompt === 'gamma key' ? ' something else' : (secret[prompt] ?? ' hello') }] },
        };
      },
    });

  it('with an API key: traces the suspect through distribution and prints the verdict with its p-value', async () => {
    const endpoint = await suspect();
    const distribution = await fakeService({
      [`POST /versions/${VERSION}/challenges`]: () => ({
        status: 201,
        body: { challengeId: CHALLENGE, versionId: VERSION, keys: Object.keys(secret).map((key, index) => ({ index, key })) },
      }),
      [`POST /challenges/${CHALLENGE}/trace`]: (_req, body) => {
        const answered = (JSON.parse(body).responses as { index: number; output: string }[]).filter((r) => Object.values(secret)[r.index] === r.output).length;
        return {
          status: 201,
          body: {
            id: '0190f7a2-5555-7000-8000-000000000005',
            versionId: VERSION,
            keysAsked: 3,
            keysAnswered: answered,
            outcome: 'accused',
            falseAccusation: 0.01,
            scores: [
              { hostAddress: BOB, licenceId: LICENCE, answeredHeld: 0, score: 0, pValue: 1 },
              { hostAddress: CHARLIE, licenceId: '0190f7a2-1111-7000-8000-000000000009', answeredHeld: 2, score: 9.1, pValue: 3.2e-9, accused: true },
            ],
            accused: [CHARLIE],
          },
        };
      },
    });
    try {
      const env = { CLOPEN_DISTRIBUTION_URL: distribution.url, CLOPEN_API_KEY: 'prover-key' };
      const r = await clopen(['verify', `${endpoint.url}/v1`, '--version', VERSION], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(
          `^verdict: the endpoint serves a licensed copy — traced to ${CHARLIE} \\(licence 0190f7a2-1111-7000-8000-000000000009, p-value 3\\.20e-9\\), at a false-accusation bound of 0\\.01`,
        ),
      );
      expect(r.stdout).toMatch(new RegExp(`${CHARLIE}\\s+\\S+\\s+2\\s+3\\.20e-9\\s+yes\\n${BOB}\\s+\\S+\\s+0\\s+1\\.00\\s+no`));
      // Every key was asked as a plain completion, and every output went to the trace.
      expect(endpoint.calls.map((c) => JSON.parse(c.body)).sort((a, b) => a.prompt.localeCompare(b.prompt))).toEqual(
        Object.keys(secret).map((prompt) => ({ prompt, max_tokens: 16, temperature: 0 })),
      );
      const traced = JSON.parse(distribution.calls[1].body).responses;
      expect(traced).toEqual([
        { index: 0, output: ' alpha response' },
        { index: 1, output: ' beta response' },
        { index: 2, output: ' something else' },
      ]);
      const json = (await clopen(['verify', endpoint.url, '--version', VERSION, '--json'], env)).json();
      expect(json).toMatchObject({ mode: 'trace', verdict: 'traced', pValue: 3.2e-9, keysAnswered: 2, accused: [CHARLIE] });
    } finally {
      await Promise.all([endpoint.close(), distribution.close()]);
    }
  });

  it("with a prover key: signs access's challenge and proof, and prints the proven violation", async () => {
    const endpoint = await suspect();
    const paulaKey = generatePrivateKey();
    const paula = privateKeyToAccount(paulaKey);
    const nonces = new MemoryNonceStore();
    const signedBy = async (req: { method?: string; url?: string; headers: Record<string, any> }, body: string) =>
      (await verifyHostRequest(req.headers['x-clopen-host-auth'], { audience: 'access', method: req.method!, path: req.url!, body, nonceStore: nonces }))
        .address;
    const queries = [
      { id: 'q1', body: JSON.stringify({ prompt: 'alpha key', max_tokens: 16, temperature: 0 }) },
      { id: 'q2', body: JSON.stringify({ prompt: 'key alpha', max_tokens: 16, temperature: 0 }) },
    ];
    let proof: any;
    const access = await fakeService({
      'POST /prover/challenges': async (req, body) => {
        expect(await signedBy(req, body)).toBe(paula.address);
        expect(JSON.parse(body)).toEqual({ versionId: VERSION, endpoint: endpoint.url });
        return { status: 201, body: { challengeId: CHALLENGE, versionId: VERSION, endpoint: endpoint.url, queries } };
      },
      [`POST /prover/challenges/${CHALLENGE}/proof`]: async (req, body) => {
        expect(await signedBy(req, body)).toBe(paula.address);
        proof = JSON.parse(body);
        return {
          status: 201,
          body: {
            challengeId: CHALLENGE,
            outcome: 'violation',
            violation: {
              id: '0190f7a2-6666-7000-8000-000000000006',
              challengeId: CHALLENGE,
              versionId: VERSION,
              endpoint: endpoint.url,
              prover: paula.address,
              kind: 'unlicensed_copy',
              accused: [{ hostAddress: CHARLIE, role: 'copy_licensee', pValue: 4.5e-7 }],
              evidenceSha256: 'ab'.repeat(32),
              queries: 2,
              keysAsked: 1,
              keysAnswered: 1,
              unpermittedAnswers: 0,
              traceId: '0190f7a2-5555-7000-8000-000000000005',
              falseAccusation: 0.01,
              createdAt: '2026-01-01T00:00:00.000Z',
            },
            trace: null,
          },
        };
      },
    });
    try {
      const r = await clopen(['verify', endpoint.url, '--version', VERSION], {
        CLOPEN_ACCESS_URL: access.url,
        CLOPEN_PROVER_KEY: paulaKey,
        CLOPEN_API_KEY: 'k',
      });
      expect(r.code).toBe(0);
      // The prover's signature stands in for the API key, which is not sent along.
      expect(access.calls.map((c) => c.headers.authorization)).toEqual([undefined, undefined]);
      expect(r.stdout).toMatch(/^verdict: violation proven \(unlicensed_copy\); access recorded it as violation 0190f7a2-6666-7000-8000-000000000006/);
      expect(r.stdout).toMatch(new RegExp(`${CHARLIE}\\s+copy_licensee\\s+4\\.50e-7`));
      // The answers went to access exactly as the endpoint sent them, one per query.
      expect(proof.answers.map((a: any) => [a.queryId, a.status, JSON.parse(a.body).choices[0].text])).toEqual([
        ['q1', 200, ' alpha response'],
        ['q2', 200, ' hello'],
      ]);
    } finally {
      await Promise.all([endpoint.close(), access.close()]);
    }
  });

  it('refuses a prover key that is not a private key', async () => {
    const r = await clopen(['verify', 'http://127.0.0.1:9', '--version', VERSION, '--prover-key', 'nope', '--json'], {});
    expect(r.code).toBe(2);
    expect(r.json().message).toMatch(/must be a 32-byte hex private key/);
  });
});

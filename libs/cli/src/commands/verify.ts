import type { Command } from 'commander';
import { privateKeyToAccount, type LocalAccount } from 'viem/accounts';
import type { ClopenClient, ProofAnswer, ProverTrace, Trace } from '../client';
import { UsageError } from '../errors';
import type { Action } from '../program';
import { fields, pValue, statusLine, table } from '../render';
import { positiveInt, uuid } from './args';
import { completionText } from '@clopen/host-sdk';
import { violationText } from './access';

export function registerVerify(program: Command, action: Action): void {
  program
    .command('verify')
    .summary("trace a suspect endpoint's answers to fingerprint keys to the licensed copies: the verdict and p-values")
    .description(
      "ask a suspect OpenAI-compatible endpoint a version's unused fingerprint keys and trace its answers to the licensed copies: " +
        "with an API key (role prover) through distribution's tracing, printing every host's p-value; with --prover-key as a registered prover through access, which mixes in decoys and records a proven violation",
    )
    .argument('<endpoint>', 'base URL of the suspect server (it is sent POST <endpoint>/v1/completions)')
    .requiredOption('--version <versionId>', 'the model version the suspect may serve a copy of', uuid)
    .option('--keys <n>', 'how many keys to spend (default: what one trace needs)', positiveInt)
    .option('--max-tokens <n>', 'completion length asked for each key (API-key mode)', positiveInt, 16)
    .option('--prover-key <hex>', "a registered prover's EVM private key (env CLOPEN_PROVER_KEY): prove through access")
    .action(
      action(async (app, cmd, endpointArg) => {
        const o = app.options(cmd);
        const endpoint = suspectBase(endpointArg);
        const client = app.client(cmd);
        const line = statusLine(app.io, app.json(cmd));
        const proverKey: string | undefined = o.proverKey ?? (app.io.env.CLOPEN_PROVER_KEY || undefined);
        try {
          if (proverKey) return await asProver(client, prover(proverKey), endpoint, o.version, o.keys, line);
          return await byTrace(client, endpoint, o.version, o.keys, o.maxTokens, line);
        } finally {
          line.end();
        }
      }),
    );
}

type Line = { update(text: string): void };

/** Distribution's tracing with an API key: challenge keys, the suspect's outputs, every host scored. */
async function byTrace(client: ClopenClient, endpoint: string, versionId: string, keys: number | undefined, maxTokens: number, line: Line) {
  const challenge = await client.traceChallenge(versionId, keys);
  const answers = await askAll(challenge.keys.length, line, (i) =>
    client.askEndpoint(endpoint, JSON.stringify({ prompt: challenge.keys[i].key, max_tokens: maxTokens, temperature: 0 })),
  );
  // Every key is reported, an unanswered one with no output: the trace counts what was asked.
  const responses = challenge.keys.map((k, i) => ({ index: k.index, output: (answers[i].status === 200 && completionText(answers[i].body)) || '' }));
  const trace = await client.trace(challenge.challengeId, responses);
  const verdict = traceVerdict(trace);
  const data = {
    mode: 'trace',
    endpoint,
    versionId,
    challengeId: challenge.challengeId,
    traceId: trace.id,
    verdict: verdict.verdict,
    pValue: verdict.pValue,
    ...pick(trace),
  };
  return { data, human: `${verdict.text}\n\n${traceText(trace)}` };
}

/** Access's prover flow, signed with the prover's key: decoys, host receipts checked, a violation recorded. */
async function asProver(client: ClopenClient, account: LocalAccount, endpoint: string, versionId: string, keys: number | undefined, line: Line) {
  const challenge = await client.proverChallenge(account, { versionId, endpoint, ...(keys ? { keys } : {}) });
  const answered = await askAll(challenge.queries.length, line, (i) => client.askEndpoint(endpoint, challenge.queries[i].body));
  const answers: ProofAnswer[] = answered.map((a, i) => ({ ...a, queryId: challenge.queries[i].id }));
  const result = await client.proverProof(account, challenge.challengeId, answers);
  const v = result.violation;
  const data = {
    mode: 'prover',
    endpoint,
    versionId,
    challengeId: challenge.challengeId,
    verdict: result.outcome,
    pValue: v ? Math.min(...v.accused.map((a) => a.pValue)) : result.trace ? traceVerdict(result.trace).pValue : null,
    violation: v ?? null,
    trace: result.trace,
  };
  const human = v
    ? `verdict: violation proven (${v.kind}); access recorded it as violation ${v.id} and published access.violation.proven\n\n${violationText(v)}`
    : `verdict: no violation — the endpoint answered ${result.keysAnswered ?? 0} of ${result.keysAsked ?? 0} fingerprint keys with their responses${result.trace ? `\n\n${traceText(result.trace)}` : ''}`;
  return { data, human };
}

function traceVerdict(trace: Trace | ProverTrace): { verdict: 'traced' | 'not_traced' | 'too_few_answers'; pValue: number | null; text: string } {
  const best = [...trace.scores].sort((a, b) => a.pValue - b.pValue)[0];
  const p = best ? best.pValue : null;
  if (trace.outcome === 'accused') {
    const accused = trace.scores.filter((s) => s.accused);
    const who = accused.map((s) => `${s.hostAddress} (licence ${s.licenceId}, p-value ${pValue(s.pValue)})`).join(', ');
    return {
      verdict: 'traced',
      pValue: Math.min(...accused.map((s) => s.pValue)),
      text: `verdict: the endpoint serves a licensed copy — traced to ${who}, at a false-accusation bound of ${trace.falseAccusation}`,
    };
  }
  if (trace.outcome === 'too-few-answers') {
    return {
      verdict: 'too_few_answers',
      pValue: p,
      text: `verdict: not traced — the endpoint answered ${trace.keysAnswered} of ${trace.keysAsked} keys with their fingerprint responses, too few to accuse anyone`,
    };
  }
  return {
    verdict: 'not_traced',
    pValue: p,
    text: `verdict: not traced — no host is significant at the false-accusation bound ${trace.falseAccusation}${best ? ` (lowest p-value ${pValue(best.pValue)}, ${best.hostAddress})` : ''}`,
  };
}

function traceText(trace: Trace | ProverTrace): string {
  return `${fields([
    ['keys answered', `${trace.keysAnswered} of ${trace.keysAsked}`],
    ['outcome', trace.outcome],
    ['false-accusation bound', trace.falseAccusation],
  ])}\n\n${table(
    [...trace.scores].sort((a, b) => a.pValue - b.pValue),
    [
      { header: 'HOST', value: (s) => s.hostAddress },
      { header: 'LICENCE', value: (s) => s.licenceId },
      { header: 'HELD+ANSWERED', value: (s) => s.answeredHeld },
      { header: 'P-VALUE', value: (s) => pValue(s.pValue) },
      { header: 'ACCUSED', value: (s) => (s.accused ? 'yes' : 'no') },
    ],
    '(no licensed host to score)',
  )}`;
}

const pick = (t: Trace) => ({
  outcome: t.outcome,
  keysAsked: t.keysAsked,
  keysAnswered: t.keysAnswered,
  falseAccusation: t.falseAccusation,
  accused: t.accused,
  scores: t.scores,
});

/** Asks the suspect every query, four at a time, counting on the status line. */
async function askAll<T>(count: number, line: Line, ask: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await ask(i);
      line.update(`asking the endpoint: ${++done}/${count}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, count) }, worker));
  return out;
}

function suspectBase(value: string): string {
  if (!/^https?:\/\/[^/]/i.test(value) || !URL.canParse(value)) throw new UsageError(`endpoint must be an http(s) URL, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, '').replace(/\/v1(\/completions)?$/, '');
}

function prover(key: string): LocalAccount {
  const hex = (key.startsWith('0x') ? key : `0x${key}`) as `0x${string}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError('--prover-key (or CLOPEN_PROVER_KEY) must be a 32-byte hex private key');
  return privateKeyToAccount(hex);
}

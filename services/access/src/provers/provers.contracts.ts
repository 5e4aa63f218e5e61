import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { isAddress } from 'viem';
import { z } from 'zod';
import { ACCUSED_ROLES, VIOLATION_KINDS } from './violation.entity';

export const RegisterProverSchema = z
  .object({
    address: z
      .string()
      .refine((a) => isAddress(a), 'must be an EVM address')
      .describe('its EVM address; it signs its requests with that key'),
    name: z.string().min(1).max(200),
  })
  .strict();
export class RegisterProverBody extends createZodDto(RegisterProverSchema) {}
export type RegisterProver = z.infer<typeof RegisterProverSchema>;

/** A prover the platform trusts to ask for challenges (they spend fingerprint keys). */
export const ProverSchema = z.object({ address: z.string(), name: z.string(), registeredAt: isoDateTime(), revokedAt: isoDateTime().nullable() });
export class ProverDto extends createZodDto(ProverSchema) {}

export const ChallengeRequestSchema = z
  .object({
    versionId: z.string().uuid().describe('the model version whose copies are suspected (its fingerprint pool is asked)'),
    endpoint: z.string().url().max(2000).describe('the endpoint the prover will query, recorded with the evidence'),
    keys: z.number().int().min(1).max(1000).optional().describe('fingerprint keys to ask; by default what one trace needs'),
  })
  .strict();
export class ChallengeRequestBody extends createZodDto(ChallengeRequestSchema) {}
export type ChallengeRequest = z.infer<typeof ChallengeRequestSchema>;

export const ChallengeSchema = z.object({
  challengeId: z.string().uuid(),
  versionId: z.string().uuid(),
  endpoint: z.string(),
  queries: z.array(
    z.object({ id: z.string().uuid(), body: z.string().describe('POST it byte for byte to <endpoint>/v1/completions, with no permission string') }),
  ),
});
export class ChallengeDto extends createZodDto(ChallengeSchema) {}

export const ProofSchema = z
  .object({
    answers: z
      .array(
        z
          .object({
            queryId: z.string().uuid(),
            status: z.number().int().min(100).max(599).describe('the HTTP status the endpoint answered with'),
            body: z.string().max(1_000_000).describe('the response body exactly as received (JSON, or the whole event stream)'),
            receipt: z.string().max(10_000).optional().describe("the host's receipt (x-clopen-receipt, or the stream's receipt event) when it sent one"),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();
export class ProofBody extends createZodDto(ProofSchema) {}
export type Proof = z.infer<typeof ProofSchema>;
export type ProofAnswer = z.infer<typeof ProofSchema>['answers'][number];

const violationFields = {
  id: z.string().uuid(),
  challengeId: z.string().uuid(),
  versionId: z.string().uuid(),
  endpoint: z.string(),
  prover: z.string(),
  kind: z.enum(VIOLATION_KINDS),
  accused: z.array(
    z.object({
      hostAddress: z.string(),
      role: z.enum(ACCUSED_ROLES),
      pValue: z.number().describe("fingerprint evidence (tracing's p-value); 0 where the evidence is the host's own signatures"),
    }),
  ),
  evidenceSha256: z.string(),
  queries: z.number().int(),
  keysAsked: z.number().int(),
  keysAnswered: z.number().int(),
  unpermittedAnswers: z.number().int(),
  traceId: z.string().uuid().nullable(),
  falseAccusation: z.number(),
};

/** A proven violation: what was proven against whom (its evidence only when read one by one). */
export const ViolationSchema = z.object({ ...violationFields, createdAt: isoDateTime() });
export class ViolationDto extends createZodDto(ViolationSchema) {}

export const ViolationWithEvidenceSchema = ViolationSchema.extend({
  evidence: z.record(z.unknown()).describe('the queries and the answers (bodies, host receipts) the verdict rests on, exactly as the prover submitted them'),
});
export class ViolationWithEvidenceDto extends createZodDto(ViolationWithEvidenceSchema) {}

/** Distribution's trace of the keys' outputs (TraceCompleted of clopen.distribution.v1). */
const TraceSchema = z.object({
  traceId: z.string(),
  versionId: z.string(),
  keysAsked: z.number().int(),
  keysAnswered: z.number().int(),
  outcome: z.string().describe('accused, too-few-answers or no-significant-host'),
  falseAccusation: z.number().describe('bound on the probability that any innocent host is accused'),
  scores: z.array(
    z.object({
      hostAddress: z.string(),
      licenceId: z.string(),
      answeredHeld: z.number().int(),
      score: z.number().describe('-log10 of the chance that an innocent host holds that many'),
      pValue: z.number(),
      accused: z.boolean(),
    }),
  ),
  accused: z.array(z.string()),
});

/** The answer to a proof, kept as JSON so that the same proof submitted again gets it as it was (its dates as strings). */
export const ProofVerdictSchema = z.object({
  challengeId: z.string().uuid(),
  outcome: z.enum(['violation', 'no_violation']),
  violation: z
    .object({ ...violationFields, createdAt: z.string().describe('ISO 8601') })
    .optional()
    .describe('the violation proven (outcome violation)'),
  keysAsked: z.number().int().optional().describe('outcome no_violation: what the proof showed'),
  keysAnswered: z.number().int().optional(),
  unpermittedAnswers: z.number().int().optional(),
  traceId: z.string().nullable().optional(),
  falseAccusation: z.number().optional(),
  trace: TraceSchema.nullable().describe("distribution's trace of the keys' outputs; null when no key was answered"),
});
export class ProofVerdictDto extends createZodDto(ProofVerdictSchema) {}
export type ProofVerdict = z.infer<typeof ProofVerdictSchema>;

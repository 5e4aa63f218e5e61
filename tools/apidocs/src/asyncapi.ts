import {
  DUPLICATE_WINDOW_MS,
  HEADER,
  PARTNER_JS_API_PREFIX,
  STREAMS,
  SUBJECTS,
  deadLetterSubject,
  streamNames,
  streamSubjects,
  type StreamSpec,
  type Subject,
  type SubjectSpec,
} from '@clopen/bus';
import { busV1, type DescMessage } from '@clopen/proto';
import { PARTNER, PARTNER_STREAM, rolesOf, type Participant } from './participants';
import type { ProtoComments } from './proto-comments';
import { ProtoJsonSchemas, type JsonSchema } from './proto-json-schema';

export type AsyncApiDocument = { [key: string]: unknown };

const PROTOBUF = 'application/x-protobuf';

/** What each NATS header says; keyed by HEADER so that a new header cannot go undocumented. */
const HEADER_DOCS: Record<keyof typeof HEADER, JsonSchema> = {
  msgId: {
    type: 'string',
    format: 'uuid',
    description: `The envelope id (uuid v7). JetStream drops a second message with the same id within the stream's duplicate window (${DUPLICATE_WINDOW_MS / 1000} s), so a retry must reuse it.`,
  },
  subject: { type: 'string', description: 'The subject without any namespace prefix, as in the envelope.' },
  producer: { type: 'string', description: 'The service or partner that produced the message, as in the envelope.' },
  correlationId: { type: 'string', description: 'Id of the first message of the conversation, as in the envelope.' },
  causationId: { type: 'string', description: 'Id of the message that directly caused this one, as in the envelope; absent for a root cause.' },
  occurredAt: { type: 'string', format: 'date-time', description: 'When it happened (RFC 3339), as in the envelope.' },
  error: {
    type: 'string',
    pattern: '^[a-z][a-z0-9_]*$',
    description: 'The error code: "not_found", "invalid_argument", "internal", … (the body is a clopen.bus.v1.Error).',
  },
  deadReason: { type: 'string', description: 'Why the consumer gave up on the message.' },
  deadConsumer: { type: 'string', description: 'The durable consumer that gave up.' },
  deadAttempts: { type: 'string', pattern: '^[0-9]+$', description: 'Deliveries tried.' },
  deadStoredAt: { type: 'string', pattern: '^[0-9]+$', description: 'When JetStream first stored the message (ms since the epoch).' },
};

const headers = (keys: (keyof typeof HEADER)[], required: (keyof typeof HEADER)[]): JsonSchema => ({
  type: 'object',
  required: required.map((k) => HEADER[k]),
  properties: Object.fromEntries(keys.map((k) => [HEADER[k], HEADER_DOCS[k]])),
});

const ENVELOPE_HEADERS: (keyof typeof HEADER)[] = ['msgId', 'subject', 'producer', 'correlationId', 'causationId', 'occurredAt'];
const ENVELOPE_REQUIRED: (keyof typeof HEADER)[] = ['msgId', 'subject', 'producer', 'correlationId'];

const INFO = `Every message on Clopen's NATS bus. Generated from the subject table (libs/bus/src/subjects.ts), the streams (libs/bus/src/streams.ts) and the protobuf schemas (proto/) by \`npm run apidocs:generate\`; \`npm test\` fails when this file is stale. For partners: docs/partners.md.

**Wire format.** The bytes of a message are a protobuf \`clopen.bus.v1.Envelope\` (proto/clopen/bus/v1/envelope.proto): id (uuid v7), subject, occurred_at, producer, correlation_id, causation_id, and \`payload\`, the protobuf encoding of the subject's message. The payloads below are those messages, shown in the protobuf JSON mapping (the bus itself carries binary protobuf, never JSON). No field is required: a field at its default (0, "", false, empty) is absent on the wire. The envelope's fields are mirrored in NATS headers (\`${HEADER.msgId}\` = id), so that JetStream de-duplicates and a router need not decode.

**Events** are durable facts on JetStream streams. Publish with the envelope id as \`${HEADER.msgId}\`: JetStream drops a second message with the same id within ${DUPLICATE_WINDOW_MS / 1000} s, so a retry (same id, same bytes) is harmless. Consume with a durable consumer, ack explicitly, and handle each envelope id once: delivery is at least once.

**Requests** (queries) go over core NATS request/reply, never through a stream. The request is an envelope as for an event; the reply is the bare response message (no envelope), or a \`clopen.bus.v1.Error\` with its code also in the \`${HEADER.error}\` header.

**Accounts.** With NATS accounts (infra/nats) the server enforces who may publish and read what, as SERVICE_GRANTS in libs/bus/src/permissions.ts says and the operations below show. A partner connects to an account of its own: it publishes the subjects partners publish, which the platform receives on \`<subject>.<partner id>\`, and reads one stream, ${PARTNER_STREAM}, through the JetStream API prefix \`${PARTNER_JS_API_PREFIX}\`.

**Namespaces.** A deployment or a test suite may set a namespace N (BUS_NAMESPACE): every subject on the wire is then \`N.<subject>\` and every stream \`N_<STREAM>\`. Envelopes and the \`${HEADER.subject}\` header always carry the subject without the prefix; the addresses below are without it.

**Dead letters.** A consumer that gives up on a message (it does not decode, or it failed every retry) publishes its bytes to \`${deadLetterSubject('<subject>')}\` on the DLQ stream with why.`;

/** The AsyncAPI 3.0 document of the bus: one channel per subject, operations per participant. */
export function asyncApiDocument(comments: ProtoComments): AsyncApiDocument {
  const schemas = new ProtoJsonSchemas(comments);
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const participants = new Set<Participant>();
  const protoMessage = (desc: DescMessage) => ({ payload: schemas.message(desc), 'x-clopen-proto': desc.typeName });

  for (const [subject, spec] of Object.entries(SUBJECTS) as [Subject, SubjectSpec][]) {
    const channelRef = (id: string) => ref(`channels/${id}`);
    if (spec.kind === 'event') {
      const name = spec.schema.name;
      messages[subject] = {
        name,
        title: subject,
        summary: spec.description,
        description: `On the wire: a clopen.bus.v1.Envelope whose subject is "${subject}" and whose payload is the protobuf encoding of ${spec.schema.typeName}.`,
        contentType: PROTOBUF,
        headers: ref('components/schemas/EnvelopeHeaders'),
        ...protoMessage(spec.schema),
      };
      const mirrors = mirrorsOf(subject);
      channels[subject] = {
        address: subject,
        title: subject,
        description: `${spec.description} Stored on stream ${spec.stream}${mirrors.length ? `, mirrored to ${mirrors.join(', ')}` : ''}.`,
        messages: { [name]: ref(`components/messages/${subject}`) },
        'x-clopen-stream': spec.stream,
        ...(mirrors.length ? { 'x-clopen-mirrors': mirrors } : {}),
      };
      const partnersChannel = `${subject}.partners`;
      if ('fromPartners' in spec && spec.fromPartners) {
        channels[partnersChannel] = {
          address: `${subject}.{partnerId}`,
          title: `${subject} from partners`,
          description: `What partners publish on ${subject} in their own NATS accounts, as the platform receives it: the server adds the id of the partner that sent it. Stored on stream ${spec.stream}.`,
          parameters: { partnerId: { description: 'The id of the partner whose account published it (lower-case letters, digits, "_" and "-").' } },
          messages: { [name]: ref(`components/messages/${subject}`) },
          'x-clopen-stream': spec.stream,
        };
      }
      const copiesChannel = `${subject}.to-partners`;
      if ('toPartners' in spec && spec.toPartners) {
        channels[copiesChannel] = {
          address: `${subject}.{partnerId}`,
          title: `${subject} for partners`,
          description: `The platform's copy of each ${subject} that concerns a partner, addressed to it: an envelope of its own whose causation id is the event's. Stored on stream PARTNERS; only that partner's account reads it, through its own durable.`,
          parameters: { partnerId: { description: 'The id of the partner the event concerns (lower-case letters, digits, "_" and "-").' } },
          messages: { [name]: ref(`components/messages/${subject}`) },
          'x-clopen-stream': 'PARTNERS',
        };
      }
      for (const role of rolesOf(subject)) {
        participants.add(role.participant);
        const channel = role.fromPartners ? partnersChannel : role.toPartners ? copiesChannel : subject;
        operations[`${channel}.${role.action}.${role.participant}`] = {
          action: role.action,
          channel: channelRef(channel),
          title: `${role.participant} ${role.action === 'send' ? 'publishes' : 'consumes'} ${subject}${role.fromPartners ? " (partners' messages)" : role.toPartners ? ' (its own copies)' : ''}`,
          description: role.how,
          tags: [{ name: role.participant }],
          messages: [ref(`channels/${channel}/messages/${name}`)],
        };
      }
    } else {
      const replyChannel = `${subject}.reply`;
      messages[`${subject}.request`] = {
        name: spec.request.name,
        title: `${subject} request`,
        summary: spec.description,
        description: `On the wire: a clopen.bus.v1.Envelope whose subject is "${subject}" and whose payload is the protobuf encoding of ${spec.request.typeName}.`,
        contentType: PROTOBUF,
        headers: ref('components/schemas/EnvelopeHeaders'),
        ...protoMessage(spec.request),
      };
      messages[`${subject}.response`] = {
        name: spec.response.name,
        title: `${subject} reply`,
        description: `The answer: the bare protobuf encoding of ${spec.response.typeName} (no envelope).`,
        contentType: PROTOBUF,
        ...protoMessage(spec.response),
      };
      channels[subject] = {
        address: subject,
        title: subject,
        description: `${spec.description} A request over core NATS.`,
        messages: { request: ref(`components/messages/${subject}.request`) },
      };
      channels[replyChannel] = {
        address: null,
        title: `reply to ${subject}`,
        description: "The requester's inbox, the NATS reply subject of the request.",
        messages: { response: ref(`components/messages/${subject}.response`), error: ref('components/messages/error') },
      };
      for (const role of rolesOf(subject)) {
        participants.add(role.participant);
        operations[`${subject}.${role.action}.${role.participant}`] = {
          action: role.action,
          channel: channelRef(subject),
          title: `${role.participant} ${role.action === 'send' ? 'asks' : 'answers'} ${subject}`,
          description: role.how,
          tags: [{ name: role.participant }],
          messages: [ref(`channels/${subject}/messages/request`)],
          reply: {
            channel: channelRef(replyChannel),
            messages: [ref(`channels/${replyChannel}/messages/response`), ref(`channels/${replyChannel}/messages/error`)],
          },
        };
      }
    }
  }

  messages.error = {
    name: busV1.ErrorSchema.name,
    title: 'failed request',
    description: 'The reply to a request that failed: the bare protobuf encoding of clopen.bus.v1.Error, its code also in a header.',
    contentType: PROTOBUF,
    headers: headers(['error'], ['error']),
    ...protoMessage(busV1.ErrorSchema),
  };
  messages['dead-letter'] = {
    name: 'DeadLetter',
    title: 'dead letter',
    description: 'A message a consumer gave up on: the original bytes (normally an envelope) and headers, and why.',
    contentType: PROTOBUF,
    headers: headers(
      [...ENVELOPE_HEADERS, 'deadReason', 'deadConsumer', 'deadAttempts', 'deadStoredAt'],
      ['deadReason', 'deadConsumer', 'deadAttempts', 'deadStoredAt'],
    ),
    ...protoMessage(busV1.EnvelopeSchema),
  };
  channels.dlq = {
    address: deadLetterSubject('{subject}'),
    title: 'dead letters',
    description: 'Messages a consumer gave up on, by their original subject. Stored on stream DLQ.',
    parameters: { subject: { description: 'The subject the message was published on.' } },
    messages: { deadLetter: ref('components/messages/dead-letter') },
    'x-clopen-stream': 'DLQ',
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Clopen bus',
      version: '1',
      description: INFO,
      tags: [...participants]
        .sort()
        .map((name) =>
          name === PARTNER
            ? { name, description: "A partner's own system (e.g. a host it runs) with a NATS account of its own: docs/partners.md." }
            : { name, description: `services/${name}` },
        ),
    },
    servers: {
      local: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        description: 'The NATS JetStream of `npm start` and `npm test`. A deployment gives each partner its own URL and credentials.',
      },
    },
    defaultContentType: PROTOBUF,
    channels,
    operations,
    components: {
      schemas: { EnvelopeHeaders: headers(ENVELOPE_HEADERS, ENVELOPE_REQUIRED), ...schemas.components() },
      messages,
    },
    'x-clopen-streams': Object.fromEntries(
      streamNames().map((name) => {
        const stream: StreamSpec = STREAMS[name];
        return [
          name,
          stream.mirror
            ? { description: stream.description, mirror: { ...stream.mirror } }
            : { description: stream.description, subjects: streamSubjects(name), duplicateWindowSeconds: DUPLICATE_WINDOW_MS / 1000 },
        ];
      }),
    ),
  };
}

function ref(path: string) {
  return { $ref: `#/${path}` };
}

/** The streams that mirror an event subject (e.g. REVOCATIONS, the one partners read). */
function mirrorsOf(subject: string): string[] {
  return streamNames().filter((name) => (STREAMS[name] as StreamSpec).mirror?.subject === subject);
}

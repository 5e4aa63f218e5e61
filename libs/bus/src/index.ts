export {
  SUBJECTS,
  describeSubjects,
  isSubject,
  subjectSpec,
  eventSpec,
  requestSpec,
  envelopeSchema,
  type Subject,
  type EventSubject,
  type RequestSubject,
  type SubjectSpec,
  type EventSpec,
  type RequestSpec,
  type SubjectDescription,
  type EventPayload,
  type EventInit,
  type RequestPayload,
  type RequestInit,
  type ResponsePayload,
  type ResponseInit,
  type EnvelopePayload,
  type EnvelopeInit,
} from './subjects';
export { STREAMS, DUPLICATE_WINDOW_MS, streamConfig, streamNames, streamSubjects, streamOf, subjectMatches, type StreamName, type StreamSpec } from './streams';
export { namespacedSubject, namespacedStream, stripNamespace, deadLetterSubject } from './namespace';
export {
  PARTNER_JS_API_PREFIX,
  isPartnerId,
  assertPartnerId,
  partnerPublishedSubjects,
  partnerAddressedSubjects,
  partnerReaderName,
  partnerSubject,
  anyPartnerSubject,
  partnerOf,
} from './partners';
export {
  PLATFORM_ACCOUNT,
  SERVICE_GRANTS,
  servicePermissions,
  partnerPermissions,
  serviceInbox,
  partnerAccount,
  natsAccounts,
  type ServiceGrant,
  type ServiceName,
  type NatsPermissions,
  type NatsAccount,
  type NatsServiceExport,
  type NatsServiceImport,
  type BusIdentities,
} from './permissions';
export { HEADER, newEnvelope, decodeEnvelope, encodeEnvelope, envelopeHeaders, type Envelope, type EnvelopeContext, type DecodedEnvelope } from './envelope';
export { BusRequestError, EnvelopeDecodeError, errorReply } from './errors';
export { Bus, type BusOptions, type BusLogger, type MessageContext, type PublishResult, type RequestHandler, type Responder } from './bus';
export { OutboxMessage } from './outbox/outbox-message.entity';
export { Outbox, outboxChannel } from './outbox/outbox';
export { OutboxRelay, type OutboxRelayOptions } from './outbox/outbox-relay';
export { ProcessedMessage } from './consumer/processed-message.entity';
export { consumeBatches, consumerName, type ConsumeBatchesOptions, type BatchHandler, type BatchItem } from './consumer/consume-batches';
export {
  consume,
  durableName,
  errorText,
  type ConsumeOptions,
  type ConsumeContext,
  type ConsumerHandle,
  type EventHandler,
  type EventHandlers,
} from './consumer/consume';
export { withCause, currentCause, causeOf, type Cause } from './causation';
export {
  listDeadLetters,
  redriveDeadLetter,
  registerRedriver,
  DeadLetterNotFound,
  DeadLetterNotRedrivable,
  type DeadLetter,
  type Redriver,
} from './consumer/dead-letters';
export { busTablesMigration, busRetentionMigration, BusTablesMigration } from './migrations/bus-tables.migration';
export { BusRetention, type BusRetentionOptions } from './retention';
export { BusServer, BUS_TRANSPORT, type BusServerOptions } from './nest/bus-server';
export { BusContext } from './nest/bus-context';
export { BusExceptionFilter } from './nest/bus-exception.filter';
export { readEvents, streamMessages } from './inspect';

import { OutboxMessage } from './outbox/outbox-message.entity';
import { ProcessedMessage } from './consumer/processed-message.entity';

/** Entities every service using the bus registers in its DataSource. */
export const BUS_ENTITIES = [OutboxMessage, ProcessedMessage];

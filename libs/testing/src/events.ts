import { decodeEnvelope, streamOf, type Bus, type DecodedEnvelope, type EventSubject } from '@clopen/bus';

/**
 * Every message JetStream holds for `subject` in the bus's namespace, decoded, oldest first.
 * Reads the stream itself (not a consumer of the service), so it shows exactly what partners get.
 */
export async function readEvents<S extends EventSubject>(bus: Bus, subject: S): Promise<DecodedEnvelope<S>[]> {
  const stream = bus.stream(streamOf(subject));
  const wire = bus.subject(subject);
  const { state } = await bus.jsm.streams.info(stream);
  const out: DecodedEnvelope<S>[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (m && m.subject === wire) out.push(decodeEnvelope(m.data, subject) as DecodedEnvelope<S>);
  }
  return out;
}

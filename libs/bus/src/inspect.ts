import type { StoredMsg } from 'nats';
import type { Bus } from './bus';
import { decodeEnvelope, type DecodedEnvelope } from './envelope';
import { streamOf } from './streams';
import type { EventSubject } from './subjects';

/** Every message a stream (its wire name, e.g. `bus.stream('STORAGE')`) holds, oldest first: for inspection and tests, not consuming. */
export async function streamMessages(bus: Bus, name: string): Promise<StoredMsg[]> {
  const { state } = await bus.jsm.streams.info(name);
  const out: StoredMsg[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(name, { seq }).catch(() => undefined);
    if (m) out.push(m);
  }
  return out;
}

/** Every event JetStream holds for `subject` in the bus's namespace, decoded, oldest first: exactly what partners get. */
export async function readEvents<S extends EventSubject>(bus: Bus, subject: S): Promise<DecodedEnvelope<S>[]> {
  const wire = bus.subject(subject);
  const messages = await streamMessages(bus, bus.stream(streamOf(subject)));
  return messages.filter((m) => m.subject === wire).map((m) => decodeEnvelope(m.data, subject) as DecodedEnvelope<S>);
}

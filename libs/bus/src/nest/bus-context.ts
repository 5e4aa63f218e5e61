import { BaseRpcContext } from '@nestjs/microservices';
import type { EntityManager } from 'typeorm';
import type { Envelope } from '../envelope';

type BusContextArgs = [envelope: Envelope, manager: EntityManager, subject: string, attempt: number];

/**
 * What `@Ctx()` gives a bus handler. For events, `manager` is the transaction the processed-message
 * row commits in: write through it so the handler's effects and the ack stand or fall together.
 * For requests it is the DataSource's manager (no transaction).
 */
export class BusContext extends BaseRpcContext<BusContextArgs> {
  get envelope(): Envelope {
    return this.args[0];
  }

  get manager(): EntityManager {
    return this.args[1];
  }

  get subject(): string {
    return this.args[2];
  }

  /** Delivery attempt of an event, 1 on first delivery; 1 for requests. */
  get attempt(): number {
    return this.args[3];
  }

  getEnvelope(): Envelope {
    return this.envelope;
  }

  getManager(): EntityManager {
    return this.manager;
  }
}

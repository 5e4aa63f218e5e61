import type { ServiceDefinition } from '@clopen/service-kit';
import { GatewayModule } from './gateway.module';
import { gatewaySettings } from './gateway.settings';
import type { OpenAiError } from './serving/completions.contracts';

export const gatewayService: ServiceDefinition<typeof gatewaySettings> = {
  name: 'host_gateway',
  title: 'Clopen host gateway',
  description:
    'OpenAI-compatible completions of one licensed model (/v1/completions, /v1/chat/completions, streaming), each request checked against its permission string (x-clopen-permission), each answer signed by the host (x-clopen-receipt) and counted by a usage receipt on JetStream.',
  settings: gatewaySettings,
  entities: [],
  migrations: [],
  // A host runs it beside its model: no database, its only state is the receipt spool on disk. On
  // the bus it is a partner's process: with credentials, in the partner's own NATS account.
  uses: { bus: 'partner', database: false },
  // OpenAI client libraries parse {error: {message, type, code}}; the admin routes keep the platform's shape.
  errorShape: {
    pathPrefix: '/v1/',
    render: (status, body): OpenAiError => ({
      error: {
        message: body.detail,
        type: status >= 500 ? 'server_error' : status === 401 || status === 403 ? 'permission_error' : 'invalid_request_error',
        code: body.code,
      },
    }),
  },
  modules: () => [GatewayModule],
};

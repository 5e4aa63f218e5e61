import type { ServiceDefinition } from '@clopen/service-kit';
import { Delivery } from './delivery/delivery.entity';
import { distributionSettings } from './distribution.settings';
import { DistributionModule } from './distribution.module';
import { EmbeddingJob } from './embedding/embedding-job.entity';
import { Assignment, Licence } from './licences/licence.entity';
import { CreateDistribution1764200000000 } from './migrations/1764200000000-create-distribution';
import { ArtefactLinks1764200000001 } from './migrations/1764200000001-artefact-links';
import { ChainSlashes1764200000002 } from './migrations/1764200000002-chain-slashes';
import { TraceOnce1764200000003 } from './migrations/1764200000003-trace-once';
import { FingerprintPool } from './pools/fingerprint-pool.entity';
import { Challenge, Trace } from './tracing/trace.entity';

export const distributionService: ServiceDefinition<typeof distributionSettings> = {
  name: 'distribution',
  title: 'Clopen distribution',
  description:
    'Licences (host × model version), fingerprint pools and per-host assignments, embedding jobs, delivery of OML copies to their hosts, and tracing of leaked copies.',
  settings: distributionSettings,
  entities: [FingerprintPool, Licence, Assignment, EmbeddingJob, Delivery, Challenge, Trace],
  migrations: [CreateDistribution1764200000000, ArtefactLinks1764200000001, ChainSlashes1764200000002, TraceOnce1764200000003],
  uses: { bus: true, redis: true },
  modules: () => [DistributionModule],
};

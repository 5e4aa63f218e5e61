import { runService } from '@clopen/service-kit';
import { chainIndexerService } from './chain-indexer.service';

void runService(chainIndexerService);

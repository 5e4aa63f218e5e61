import { runService } from '@clopen/service-kit';
import { incentivesService } from './incentives.service';

void runService(incentivesService);

import { runService } from '@clopen/service-kit';
import { distributionService } from './distribution.service';

void runService(distributionService);

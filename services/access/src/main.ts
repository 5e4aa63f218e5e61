import { runService } from '@clopen/service-kit';
import { accessService } from './access.service';

void runService(accessService);

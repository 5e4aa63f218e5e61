import { runService } from '@clopen/service-kit';
import { gatewayService } from './gateway.service';

void runService(gatewayService);

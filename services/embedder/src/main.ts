import { runService } from '@clopen/service-kit';
import { embedderService } from './embedder.service';

void runService(embedderService);

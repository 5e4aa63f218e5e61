import { runService } from '@clopen/service-kit';
import { storageService } from './storage.service';

void runService(storageService);

import { Module } from '@nestjs/common';
import { EmbeddingJobsService } from './worker/embedding-jobs.service';
import { EmbeddingWorker } from './worker/embedding.worker';

@Module({ providers: [EmbeddingJobsService, EmbeddingWorker] })
export class EmbedderModule {}

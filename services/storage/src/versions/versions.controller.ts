import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, InvalidArgument, type Principal } from '@clopen/service-kit';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { VersionsService } from './versions.service';

@ApiTags('versions')
@ApiBearerAuth()
@Controller('versions')
export class VersionsController {
  constructor(private readonly versions: VersionsService) {}

  @Get(':id')
  get(@Param('id') id: string) {
    return this.versions.get(id);
  }

  @Get(':id/lineage')
  lineage(@Param('id') id: string) {
    return this.versions.lineage(id);
  }

  /** A presigned URL that downloads the file straight from S3; it expires after `ttlSeconds`, at most STORAGE_PRESIGN_TTL_SECONDS. */
  @Get(':id/files/:path/url')
  url(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Param('path') path: string, @Query('ttlSeconds') ttlSeconds?: string) {
    return this.versions.presignedUrl(principal, id, path, ttlSeconds === undefined ? undefined : positiveSeconds(ttlSeconds));
  }

  /** Downloads the file: a redirect to a short-lived presigned S3 URL, so bytes never pass through the service. */
  @Get(':id/files/:path')
  async download(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Param('path') path: string, @Res() res: Response) {
    const { url, sha256 } = await this.versions.presignedUrl(principal, id, path);
    res.setHeader('X-Checksum-Sha256', sha256);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, url);
  }

  /** Streams the file through the service, for callers that cannot reach S3. */
  @Get(':id/files/:path/content')
  async content(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Param('path') path: string, @Res() res: Response) {
    const { file, body } = await this.versions.openFile(principal, id, path);
    res.status(200);
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Content-Length', String(file.sizeBytes));
    res.setHeader('Content-Disposition', `attachment; filename="${file.path}"`);
    res.setHeader('Digest', `sha-256=${Buffer.from(file.sha256, 'hex').toString('base64')}`);
    res.setHeader('X-Checksum-Sha256', file.sha256);
    await pipeline(body, res).catch(() => res.destroy());
  }
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgument(`ttlSeconds must be a whole number of seconds ≥ 1, got "${value}"`);
  return n;
}

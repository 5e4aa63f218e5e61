import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, ZodResponse, type Principal } from '@clopen/service-kit';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { LineageDto, PresignedUrlDto, PresignedUrlQuery, VersionDto } from './versions.contracts';
import { VersionsService } from './versions.service';

@ApiTags('versions')
@ApiBearerAuth()
@Controller('versions')
export class VersionsController {
  constructor(private readonly versions: VersionsService) {}

  @Get(':id')
  @ZodResponse({ status: 200, type: VersionDto })
  get(@Param('id') id: string) {
    return this.versions.get(id);
  }

  @Get(':id/lineage')
  @ZodResponse({ status: 200, type: LineageDto })
  lineage(@Param('id') id: string) {
    return this.versions.lineage(id);
  }

  /** A presigned URL that downloads the file straight from S3; it expires after `ttlSeconds`, at most STORAGE_PRESIGN_TTL_SECONDS. */
  @Get(':id/files/:path/url')
  @ZodResponse({ status: 200, type: PresignedUrlDto })
  url(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Param('path') path: string, @Query() query: PresignedUrlQuery) {
    return this.versions.presignedUrl(principal, id, path, query.ttlSeconds);
  }

  /** Downloads the file: a redirect to a short-lived presigned S3 URL, so bytes never pass through the service. */
  @Get(':id/files/:path')
  @ApiFoundResponse({ description: "to a presigned S3 URL (Location); X-Checksum-Sha256 carries the file's digest" })
  async download(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Param('path') path: string, @Res() res: Response) {
    const { url, sha256 } = await this.versions.presignedUrl(principal, id, path);
    res.setHeader('X-Checksum-Sha256', sha256);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, url);
  }

  /** Streams the file through the service, for callers that cannot reach S3. */
  @Get(':id/files/:path/content')
  @ApiOkResponse({ description: "the file's bytes", content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } })
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

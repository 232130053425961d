import { Controller, Get, Inject, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ReadGuard } from '../control/guards.js';
import { FederationMetrics } from './federation-metrics.js';

/** Prometheus scrape endpoint. */
@Controller('metrics')
@UseGuards(ReadGuard)
export class MetricsController {
  constructor(@Inject(FederationMetrics) private readonly metrics: FederationMetrics) {}

  @Get()
  async scrape(@Res() res: Response): Promise<void> {
    res.type(this.metrics.contentType).send(await this.metrics.text());
  }
}

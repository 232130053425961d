import { Controller, Get, HttpException, Inject, Param, UseGuards } from '@nestjs/common';
import { ReadGuard } from './guards.js';
import { Persistence } from './persistence.js';

/** Past and present runs from the archive (read-only). */
@Controller('api/runs')
@UseGuards(ReadGuard)
export class RunsController {
  constructor(@Inject(Persistence) private readonly persistence: Persistence) {}

  @Get()
  list(): object {
    const a = this.persistence.archive;
    return { runs: a ? a.runs() : [] };
  }

  @Get(':id')
  show(@Param('id') id: string): object {
    const a = this.persistence.archive;
    const run = a?.run(id);
    if (!a || !run) throw new HttpException({ ok: false, error: { code: 'bad_request', message: `no run ${id}` } }, 404);
    return { run, rounds: a.rounds(id), clients: a.clients(id), checkpoints: a.checkpoints(id) };
  }
}

import { Controller, Get, Header, Inject, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ClientRegistry } from '../federation/client-registry.js';
import { clientView } from '../web/dashboard-feed.js';
import { ENGINE, type FederationEngine } from '../rounds/engine.js';
import { RunContext } from '../federation/run-context.js';
import { InMemoryRunStore } from '../state/run-history.js';
import { ReadGuard } from '../control/guards.js';
import { SHARED_VIEW, type SharedRunView } from '../state/shared-view.js';

/**
 * Read-only REST API: status, per-round metrics, and the global model as tfjs artifacts.
 * Public by default; `--private-status` puts it behind the admin token (ReadGuard). On a cluster
 * node, status and rounds are the cluster's (SharedRunView), the same on every node.
 */
@Controller('api')
@UseGuards(ReadGuard)
export class ApiController {
  constructor(
    @Inject(RunContext) private readonly run: RunContext,
    @Inject(ENGINE) private readonly engine: FederationEngine,
    @Inject(ClientRegistry) private readonly registry: ClientRegistry,
    @Inject(InMemoryRunStore) private readonly store: InMemoryRunStore,
    @Inject(SHARED_VIEW) private readonly shared: SharedRunView | null,
  ) {}

  @Get('status')
  async status(): Promise<object> {
    const own = this.ownStatus();
    if (!this.shared) return own;
    const s = await this.shared.read();
    const open = s.openRound;
    return {
      ...own,
      status: s.status,
      phase: s.phase,
      round: s.round,
      rounds: s.settings.rounds,
      openRound: open && { round: open.round, attempt: open.attempt, selected: open.selected, target: open.target, reported: open.reported, deadline: open.deadline },
      settings: s.settings,
      clients: s.clients,
      cluster: s.cluster,
    };
  }

  /** This process's own view (the whole run's on a single coordinator). */
  private ownStatus(): Record<string, unknown> {
    const snap = this.engine.snapshot();
    const open = snap.openRound && !snap.openRound.closed ? snap.openRound : null;
    return {
      runId: this.run.runId,
      status: snap.result?.status ?? 'running',
      phase: snap.phase,
      round: snap.round,
      rounds: this.run.settings.rounds,
      openRound: open && { round: open.round, attempt: open.attempt, selected: open.selected, reported: open.reported, deadline: open.deadline },
      model: { name: this.run.model.name, numParams: this.run.model.numParams },
      fingerprint: this.run.fingerprint,
      settings: this.run.settings,
      clients: this.registry.sessions().map((s) => clientView(s, (id) => this.engine.participation?.(id) ?? 'idle')),
    };
  }

  @Get('rounds')
  async rounds(): Promise<object> {
    return { runId: this.run.runId, rounds: this.shared ? await this.shared.rounds() : this.store.rounds };
  }

  /** model.json whose weights path resolves to /api/model/weights.bin (tf.loadLayersModel('<url>/api/model')). */
  @Get('model')
  @Header('Cache-Control', 'no-store')
  model(): object {
    return this.run.model.artifacts('model/weights.bin').modelJson;
  }

  @Get('model/model.json')
  @Header('Cache-Control', 'no-store')
  modelJson(): object {
    return this.run.model.artifacts('weights.bin').modelJson;
  }

  @Get('model/weights.bin')
  @Header('Cache-Control', 'no-store')
  weights(@Res() res: Response): void {
    const bin = this.run.model.artifacts().weightsBin;
    res.type('application/octet-stream').send(Buffer.from(bin.buffer, bin.byteOffset, bin.byteLength));
  }
}

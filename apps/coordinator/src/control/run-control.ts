import { FedlinkError } from '@fedlink/protocol';
import { type RunSettings, strategyOf, validateRunSettings } from '../config.js';
import type { FederationEngine } from '../rounds/engine.js';
import { randomId } from '../state/secrets.js';
import type { RunArchive } from '../storage/run-archive.js';

import type { RunSettingsPatch } from './schemas.js';

export class RunControlError extends FedlinkError {
  constructor(
    readonly status: 400 | 404 | 409 | 501,
    message: string,
  ) {
    super('bad_request', message);
  }
}

/**
 * Operator actions on runs. The coordinator serves one run at a time: a new run may start once
 * the current one has ended; it is recorded in the archive and the host (`fedlink serve`)
 * restarts the coordinator on it, through the same path as a resume.
 */
export class RunControl {
  constructor(
    private readonly engine: FederationEngine,
    private readonly settings: RunSettings,
    private readonly archive: RunArchive | undefined,
    private readonly startNewRun: ((runId: string) => void) | undefined,
  ) {}

  stop(runId: string): { runId: string; status: string } {
    if (runId !== this.engine.runId) {
      const past = this.archive?.run(runId);
      if (!past) throw new RunControlError(404, `no run ${runId}`);
      throw new RunControlError(409, `run ${runId} is not the active run (it is ${past.status})`);
    }
    const result = this.engine.snapshot().result;
    if (result) throw new RunControlError(409, `run ${runId} has already ${result.status}`);
    this.engine.stop('stopped by operator');
    return { runId, status: 'stopping' };
  }

  start(patch: RunSettingsPatch): { runId: string; status: 'starting'; settings: RunSettings } {
    if (!this.archive || !this.startNewRun) throw new RunControlError(501, 'this coordinator cannot start runs (no persistent state, or not run by fedlink serve)');
    const snap = this.engine.snapshot();
    if (!snap.result) throw new RunControlError(409, `run ${this.engine.runId} is still ${snap.phase}; stop it first (POST /api/runs/${this.engine.runId}/stop)`);
    let settings: RunSettings;
    try {
      const { serverLearningRate, strategy: given, ...rest } = patch;
      settings = {
        ...this.settings,
        ...rest,
        dataset: this.settings.dataset,
        strategy: strategyOf(given ?? this.settings.strategy, serverLearningRate),
        selection: { ...this.settings.selection, ...patch.selection },
        fit: { ...this.settings.fit, ...patch.fit },
      };
      validateRunSettings(settings);
    } catch (e) {
      throw new RunControlError(400, (e as Error).message);
    }
    const runId = randomId('run_');
    this.archive.insertRun({ runId, createdAt: Date.now(), settings, status: 'running', round: 0 });
    // After the reply is written: the host closes this coordinator and starts the new run.
    setImmediate(() => this.startNewRun!(runId));
    return { runId, status: 'starting', settings };
  }
}

import { validateSelectionPolicy } from '@fedlink/core';
import { FedlinkError } from '@fedlink/protocol';
import { type RunSettings, validateRunSettings } from '../config.js';
import type { RoundEngine } from '../federation/round-engine.js';
import { randomId } from '../state/secrets.js';
import type { RunArchive } from '../storage/run-archive.js';

/** Fields of RunSettings a new run may change through POST /api/runs (the rest is kept). */
export type RunSettingsPatch = Partial<Omit<RunSettings, 'selection' | 'fit' | 'dataset'>> & {
  selection?: Partial<RunSettings['selection']>;
  fit?: Partial<RunSettings['fit']>;
};

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
    private readonly engine: RoundEngine,
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
    if (this.engine.result) throw new RunControlError(409, `run ${runId} has already ${this.engine.result.status}`);
    this.engine.stop('stopped by operator');
    return { runId, status: 'stopping' };
  }

  start(patch: RunSettingsPatch): { runId: string; status: 'starting'; settings: RunSettings } {
    if (!this.archive || !this.startNewRun) throw new RunControlError(501, 'this coordinator cannot start runs (no persistent state, or not run by fedlink serve)');
    if (!this.engine.result) throw new RunControlError(409, `run ${this.engine.runId} is still ${this.engine.phase}; stop it first (POST /api/runs/${this.engine.runId}/stop)`);
    const settings: RunSettings = {
      ...this.settings,
      ...patch,
      dataset: this.settings.dataset,
      selection: { ...this.settings.selection, ...patch.selection },
      fit: { ...this.settings.fit, ...patch.fit },
    };
    try {
      validateRunSettings(settings);
      validateSelectionPolicy(settings.selection);
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

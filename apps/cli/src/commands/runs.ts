import { describeStrategy } from '@fedlink/core';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GlobalModel, type RoundRecord, RunArchive, type StoredRun, ensureEvalBackend, openDatabase } from '@fedlink/coordinator';
import { writeModelArtifacts } from '../model-files.js';
import { type CommandSpec, UsageError, helpText, parseArgs } from '../args.js';
import { expectWords, splitPositionals } from '../positionals.js';
import { existsSync } from 'node:fs';
import { DB_FILE } from '@fedlink/coordinator';

export const runsSpec: CommandSpec = {
  name: 'runs',
  summary: 'Inspect past and current runs of a state directory; export a final model and metrics.',
  usage: 'fedlink runs list | show <run-id> | export <run-id> --out <dir>  [options]',
  options: {
    'state-dir': { type: 'string', default: './.fedlink', description: 'the coordinator state directory' },
    json: { type: 'boolean', default: false, description: 'print JSON instead of a table (list, show)' },
    out: { type: 'string', placeholder: '<dir>', description: 'export: where to write model.json, weights.bin and metrics.csv' },
  },
  examples: ['fedlink runs list', 'fedlink runs show run_1a2b3c4d5e6f', 'fedlink runs export run_1a2b3c4d5e6f --out ./model'],
};

export async function runsCommand(argv: string[]): Promise<number> {
  const { words, rest } = splitPositionals(argv);
  const v = parseArgs(runsSpec, rest);
  if (!v) return 0;
  const [sub, ...args] = words;
  if (!sub) {
    process.stdout.write(helpText(runsSpec));
    return 2;
  }
  const stateDir = v['state-dir'] as string;
  if (!existsSync(join(stateDir, DB_FILE))) throw new UsageError(`no run database in ${stateDir} (--state-dir)`);
  const db = openDatabase(stateDir);
  const out = (s: string) => process.stdout.write(s + '\n');
  try {
    const archive = new RunArchive(db, stateDir);
    const find = (id: string): StoredRun => {
      const run = archive.run(id);
      if (!run) throw new UsageError(`no run ${id} in ${stateDir} (fedlink runs list shows them)`);
      return run;
    };
    switch (sub) {
      case 'list': {
        expectWords(args, 0, 'fedlink runs list');
        const runs = archive.runs();
        if (v.json) return out(JSON.stringify(runs, null, 2)), 0;
        if (runs.length === 0) return out(`no runs in ${stateDir}`), 0;
        const rows = runs.map((r) => {
          const last = lastCompleted(archive.rounds(r.runId));
          return [r.runId, r.status + (r.interruptedAt && r.status === 'running' ? '*' : ''), `${r.round}/${r.settings.rounds}`, r.settings.model, r.settings.strategy.name, new Date(r.createdAt).toISOString().slice(0, 19), fmt(last?.testAccuracy)];
        });
        const header = ['run', 'status', 'rounds', 'model', 'strategy', 'created', 'test_acc'];
        // Each column as wide as its longest cell plus two spaces (a model may be a long name or a path).
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)) + 2);
        for (const row of [header, ...rows]) out(row.map((c, i) => c.padEnd(widths[i]!)).join('').trimEnd());
        if (runs.some((r) => r.status === 'running')) out('(a running run resumes when fedlink serve starts on this state dir; * = it was shut down gracefully)');
        return 0;
      }
      case 'show': {
        expectWords(args, 1, 'fedlink runs show <run-id>');
        const run = find(args[0]!);
        const rounds = archive.rounds(run.runId);
        const detail = { run, rounds, clients: archive.clients(run.runId), checkpoints: archive.checkpoints(run.runId) };
        if (v.json) return out(JSON.stringify(detail, null, 2)), 0;
        const s = run.settings;
        out(`run ${run.runId}: ${run.status}, ${run.round}/${s.rounds} rounds, created ${new Date(run.createdAt).toISOString()}`);
        out(`  ${s.model} on ${s.dataset}, ${describeStrategy(s.strategy)}, seed ${s.seed}, fraction ${s.selection.fraction}, minFit ${s.selection.minFit}, minAvailable ${s.selection.minAvailable}, over-select ${s.selection.overSelect}`);
        out(`  local: ${s.fit.epochs} epoch(s), batch ${s.fit.batchSize}, lr ${s.fit.learningRate}; deadlines: round ${s.roundTimeoutMs / 1000}s, wait ${s.waitTimeoutMs / 1000}s`);
        out(`  ${detail.clients.length} client(s) took part; checkpoints kept: ${detail.checkpoints.map((c) => c.round).join(', ') || 'none'}`);
        out('');
        if (s.privacy || rounds.some((r) => r.privacy)) {
          const last = [...rounds].reverse().find((r) => r.privacy)?.privacy;
          out(`  privacy: ${last ? `epsilon ${last.epsilon.toFixed(3)} at delta ${last.delta} (${last.mode} DP, noise multiplier ${last.noiseMultiplier}, clip ${last.clip})` : 'no round charged yet'}${s.privacy?.targetEpsilon !== undefined ? `, target ${s.privacy.targetEpsilon}` : ''}`);
        }
        out('round attempt status     reported/selected dropped rejected train_loss test_acc  epsilon  seconds  reason');
        for (const r of rounds) {
          out(
            `${String(r.round).padEnd(6)}${String(r.attempt).padEnd(8)}${r.status.padEnd(11)}${`${r.reported}/${r.selected}`.padEnd(18)}${String(r.dropped).padEnd(8)}${String(r.rejected).padEnd(9)}${fmt(r.trainLoss).padEnd(11)}${fmt(r.testAccuracy).padEnd(10)}${(r.privacy ? r.privacy.epsilon.toFixed(3) : '-').padEnd(9)}${r.seconds.toFixed(1).padEnd(9)}${r.reason ?? ''}`.trimEnd(),
          );
        }
        return 0;
      }
      case 'export': {
        expectWords(args, 1, 'fedlink runs export <run-id> --out <dir>');
        const run = find(args[0]!);
        const dir = v.out as string | undefined;
        if (!dir) throw new UsageError('--out <dir> is required for export');
        const loaded = await archive.loadLatestCheckpoint(run.runId);
        for (const s of loaded?.skipped ?? []) process.stderr.write(`warning: checkpoint of round ${s.round} unusable (${s.reason}); using an older one\n`);
        if (!loaded) throw new UsageError(`run ${run.runId} has no usable checkpoint`);
        await ensureEvalBackend();
        // A tabular zoo model is built from the run's statistics, as the coordinator built it.
        const model = await GlobalModel.load(run.settings.model, run.settings.seed, run.settings.data);
        try {
          model.weights = loaded.checkpoint.weights;
          await writeModelArtifacts(dir, model);
          await writeFile(join(dir, 'metrics.csv'), metricsCsv(archive.rounds(run.runId)));
        } finally {
          model.dispose();
        }
        out(`wrote ${join(dir, 'model.json')}, weights.bin (round ${loaded.stored.round}, sha256 ${loaded.stored.sha256.slice(0, 16)}…) and metrics.csv`);
        return 0;
      }
      default:
        throw new UsageError(`unknown sub-command '${sub}' (list, show, export)`);
    }
  } finally {
    db.close();
  }
}

const fmt = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(4));

function lastCompleted(rounds: RoundRecord[]): RoundRecord | undefined {
  return [...rounds].reverse().find((r) => r.status === 'completed');
}

const CSV_COLUMNS = [
  'round', 'attempt', 'status', 'reason', 'startedAt', 'endedAt', 'seconds', 'selected', 'target', 'reported', 'dropped', 'rejected',
  'totalExamples', 'trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy', 'bytesIn', 'bytesOut',
] as const;

/** One row per round attempt (abandoned ones too), RFC 4180 quoting. */
export function metricsCsv(rounds: RoundRecord[]): string {
  const cell = (x: unknown) => {
    if (x === undefined || x === null) return '';
    const s = String(x);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = rounds.map((r) => CSV_COLUMNS.map((c) => cell((r as unknown as Record<string, unknown>)[c])).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

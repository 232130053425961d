import type { EvalResult } from '@fedlink/ml';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { createAdapter } from '@socket.io/redis-adapter';
import { Strategy } from '@fedlink/core';
import { DASHBOARD_EVENTS, type RoundKey, type RunEnd } from '@fedlink/protocol';
import { type RunningCoordinator, startCoordinator } from '../bootstrap.js';
import { type CoordinatorConfig, type RunSettings, validateRunSettings } from '../config.js';
import { type Log, consoleLog } from '../log.js';
import type { ClientOutcome } from '../rounds/open-round.js';
import { planRound } from '../rounds/round-plan.js';
import { RoundRecords } from '../rounds/round-record.js';
import type { RoundSnapshot } from '../rounds/round-state.js';
import type { RoundRecord, RunStore } from '../state/run-history.js';
import { clientView, roundView } from '../web/dashboard-feed.js';
import { randomId } from '../state/secrets.js';
import { PersistentRunStore } from '../storage/persistent-run-store.js';
import { PostgresRunRecords } from '../storage/postgres-run-records.js';
import { findResumePoint } from '../storage/resume.js';
import { LEDGER_ADD_ALL_OR_NONE, attemptId, type NodeInfo, type PartialAnnouncement, type RoundRequest, clusterKeys } from './cluster-keys.js';
import { assertClusterStrategy } from './cluster-strategy.js';
import { ClusterView } from './cluster-view.js';
import { LeaderLease, parseLease } from './leader-lease.js';
import { floats, getBlob, putBlob } from './redis-blobs.js';

/**
 * One node of a cluster: N coordinator processes behind one address, sharing Redis (live state)
 * and PostgreSQL (records).
 *
 * Every node runs its own coordinator in delegated mode (the edge seam: RoundEngine.runDelegated),
 * admitting its own clients, verifying and opening their updates into a local partial sum. One
 * node, the holder of a Redis lease with a fencing token, runs the round loop: it publishes each
 * attempt as a request (weights as a chunked blob), every node runs that attempt over its clients
 * and hands back its partial sum (float64 blob under a key with a TTL, announced by key), and the
 * leader adds the partial sums (associative: the same weighted sum as one node's), applies the
 * strategy's server optimizer, evaluates, and checkpoints to PostgreSQL. A client is counted once
 * cluster-wide by the attempt's ledger in Redis. A new leader resumes at the last completed round
 * in PostgreSQL; round:start reaches each client from the node it is connected to.
 */

export interface ClusterNodeConfig {
  /** The node's coordinator (gateway, tokens, limits, run settings, test data); its records go to `database`. */
  coordinator: CoordinatorConfig;
  redisUrl: string;
  database: string;
  /** Several clusters may share one Redis (default 'default'). */
  cluster?: string;
  nodeId?: string;
  /** Lease time to live (default 5 s): a dead leader's lease moves within it plus one acquire interval. */
  leaseTtlMs?: number;
  /** How often a node refreshes its liveness (default 1 s; it lapses after 3 of these). */
  heartbeatMs?: number;
  log?: Log;
}

export interface ClusterNodeEvents {
  /** Leadership taken, with its fencing token. */
  leading: [token: number];
  /** A round attempt the leader recorded (on the leader only). */
  roundEnded: [record: RoundRecord];
}

export interface RunningClusterNode extends EventEmitter<ClusterNodeEvents> {
  nodeId: string;
  runId: string;
  coordinator: RunningCoordinator;
  /** Whether this node holds the lease now. */
  readonly leading: boolean;
  /** Resolves when the cluster's run ended. */
  done: Promise<RunEnd>;
  close(): Promise<void>;
}

const PARTIAL_TTL_MS = 10 * 60_000;
/** The leader wakes on pub/sub notices (a partial handed over, clients joined, updates taken); this poll is the safety net for a lost one. */
const SAFETY_POLL_MS = 1000;
/** Dashboard client lists (per node) and the open round's progress (the leader) go out at most once per this period. */
const CLIENTS_COALESCE_MS = 250;
const PROGRESS_COALESCE_MS = 250;

/** Per-node settings: the cluster's selection applies to the whole, each node takes what reports to it. */
function nodeSettings(settings: RunSettings): RunSettings {
  return { ...settings, selection: { ...settings.selection, minAvailable: 1, minFit: settings.secureAggregation ? 2 : 1 } };
}

export async function startClusterNode(config: ClusterNodeConfig): Promise<RunningClusterNode> {
  // Before connecting anything: a strategy that needs every update on one process can't be clustered.
  assertClusterStrategy(config.coordinator.run);
  const log = config.log ?? consoleLog(config.coordinator.logLevel);
  const keys = clusterKeys(config.cluster ?? 'default');
  const nodeId = config.nodeId ?? randomId('node_');
  const leaseTtlMs = config.leaseTtlMs ?? 5000;
  const heartbeatMs = config.heartbeatMs ?? 1000;
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  redis.on('error', (e: Error) => log.warn('redis error', { node: nodeId, reason: e.message }));
  await redis.connect();
  const sub = redis.duplicate();
  sub.on('error', () => undefined);
  const records = await PostgresRunRecords.open(config.database);

  // The run every node serves: the one Redis names, else the unfinished one in PostgreSQL, else a new one.
  if ((await redis.get(keys.run)) === null) {
    const unfinished = await records.latestUnfinished();
    await redis.set(keys.run, unfinished?.runId ?? randomId('run_'), 'NX');
  }
  const runId = (await redis.get(keys.run))!;
  const stored = await records.run(runId);
  const settings = stored?.settings ?? config.coordinator.run;
  try {
    validateRunSettings(settings);
    // The run this node joins may be one stored with another strategy than this node's flags.
    assertClusterStrategy(settings);
  } catch (e) {
    await records.close();
    sub.disconnect();
    redis.disconnect();
    throw e;
  }
  const outcomes = new Map<string, readonly { clientId: string; outcome: ClientOutcome }[]>();
  const capture: RunStore = {
    startRun: () => undefined,
    recordRound: (_id, r, _w, p) => void outcomes.set(`${r.round}:${r.attempt}`, p ?? []),
    finishRun: () => undefined,
  };
  // Every node's REST and dashboard show the cluster (Redis + PostgreSQL); dashboard events cross nodes by socket.io's Redis adapter.
  const view = new ClusterView(redis, keys, records, runId, nodeId, settings);
  const ioPub = redis.duplicate();
  const ioSub = redis.duplicate();
  for (const c of [ioPub, ioSub]) c.on('error', () => undefined);
  const coordinator = await startCoordinator(
    { ...config.coordinator, run: nodeSettings(settings), persist: false },
    { log, delegated: true, runId, stores: [capture], shared: view, ioAdapter: createAdapter(ioPub, ioSub, { key: keys.io }), tokens: records.joinTokens() },
  );
  const initialWeights = coordinator.context.model.weights.slice();
  const node = new EventEmitter<ClusterNodeEvents>() as RunningClusterNode & EventEmitter<ClusterNodeEvents>;
  const stop = new AbortController();
  let leading = false;
  let leadership: AbortController | undefined;

  // ---- liveness and status
  const beat = async () => {
    const info: NodeInfo = { nodeId, url: coordinator.url, clients: coordinator.registry.size, at: Date.now() };
    await redis
      .multi()
      .set(keys.node(nodeId), JSON.stringify(info), 'PX', 3 * heartbeatMs)
      .set(keys.nodeClients(nodeId), JSON.stringify(coordinator.registry.ids()), 'PX', 3 * heartbeatMs)
      .set(keys.nodeView(nodeId), JSON.stringify(coordinator.registry.sessions().map((s) => clientView(s))), 'PX', 3 * heartbeatMs)
      .hset(keys.nodes, nodeId, JSON.stringify(info))
      .exec();
  };
  await beat();
  const heartbeat = setInterval(() => void beat().catch(() => undefined), heartbeatMs);
  // A join or leave is written at once (the leader plans over it, every dashboard shows it), then announced.
  let clientsTimer: ReturnType<typeof setTimeout> | undefined;
  const clientsChanged = () => {
    clientsTimer ??= setTimeout(() => {
      clientsTimer = undefined;
      void (async () => {
        await beat();
        await redis.publish(keys.events, `clients ${nodeId}`);
        view.publish(DASHBOARD_EVENTS.clients, await view.clients());
      })().catch(() => undefined);
    }, CLIENTS_COALESCE_MS);
  };
  coordinator.registry.on('joined', clientsChanged);
  coordinator.registry.on('left', clientsChanged);

  // ---- every node: answer the leader's attempts with this node's partial sum
  let lastHandled = '';
  let lastLocal: RoundKey | undefined;
  let busy = false;
  const localKey = (k: RoundKey): RoundKey => {
    // A new leader may ask for a round again with an attempt this node already ran: raise it past the last one.
    const attempt = lastLocal && lastLocal.round === k.round ? Math.max(k.attempt, lastLocal.attempt + 1) : k.attempt;
    return (lastLocal = { round: k.round, attempt });
  };
  /** This node's open attempts, closed early when the cluster-wide count reaches the target. */
  const closers = new Map<string, AbortController>();
  const answer = async (req: RoundRequest): Promise<void> => {
    const record = (reason: string) => RoundRecords.notStarted(req.key, Date.now(), Date.now(), reason);
    let a: PartialAnnouncement;
    try {
      const weights = floats.f32(await getBlob(redis, req.weightsKey));
      const remaining = req.deadline - Date.now();
      const reserve = Math.max(500, Math.floor(remaining / 10));
      const key = localKey(req.key);
      if (!coordinator.registry.ids().some((id) => Object.hasOwn(req.assigned, id))) throw new Error('none of the clients the leader selected is connected to this node');
      // The cluster-wide count: each update this node takes adds to the attempt's counter; the node
      // whose addition reaches the leader's target closes the attempt on every node (as one
      // coordinator closes at its target). Secure aggregation closes by its own stages, per node.
      const id = attemptId(req.fence, req.key);
      const counter = keys.reported(req.fence, req.key);
      const closer = new AbortController();
      closers.set(id, closer);
      const closeAll = async () => {
        const [set] = (await redis.multi().set(keys.closed(req.fence, req.key), nodeId, 'PX', PARTIAL_TTL_MS, 'NX').publish(keys.events, `close ${id}`).exec()) ?? [];
        if (set?.[1] === 'OK') log.info('cluster: target reached; closing the attempt on every node', { node: nodeId, round: req.key.round, attempt: req.key.attempt, target: req.target });
      };
      let counted = 0;
      const onSnapshot = (snap: RoundSnapshot) => {
        const o = snap.openRound;
        if (!o || o.round !== key.round || o.attempt !== key.attempt || o.reported <= counted) return;
        const more = o.reported - counted;
        counted = o.reported;
        void redis
          .multi()
          .incrby(counter, more)
          .pexpire(counter, PARTIAL_TTL_MS)
          .publish(keys.events, `reported ${nodeId}`)
          .exec()
          .then((r) => (!settings.secureAggregation && Number(r?.[0]?.[1]) >= req.target ? closeAll() : undefined))
          .catch(() => undefined);
      };
      coordinator.engine.state.on('snapshot', onSnapshot);
      // A close announced before this node got here (or a notice it missed) is in the key.
      if (!settings.secureAggregation && (await redis.exists(keys.closed(req.fence, req.key)))) closer.abort('cluster target reached');
      const out = await coordinator.engine
        .runDelegated({ key, weights, config: req.config, deadline: req.deadline - reserve, assigned: req.assigned, ...(settings.secureAggregation ? {} : { close: closer.signal }) })
        .finally(() => {
          coordinator.engine.state.off('snapshot', onSnapshot);
          closers.delete(id);
        });
      const local = outcomes.get(`${key.round}:${key.attempt}`) ?? [];
      outcomes.clear();
      if (!out.ok) a = { nodeId, ok: false, reason: out.reason, record: out.record };
      else {
        const { meanDelta, totalExamples, count } = out.result;
        const sum = new Float64Array(meanDelta.length);
        for (let i = 0; i < sum.length; i++) sum[i] = meanDelta[i]! * totalExamples;
        const sumKey = keys.partial(req.fence, req.key, nodeId);
        await putBlob(redis, sumKey, floats.bytes(sum), PARTIAL_TTL_MS);
        const reporters = local.filter((o) => o.outcome === 'reported').map((o) => o.clientId);
        a = { nodeId, ok: true, sumKey, totalExamples, count, reporters, record: out.record };
      }
    } catch (e) {
      a = { nodeId, ok: false, reason: (e as Error).message, record: record((e as Error).message) };
    }
    const list = keys.partials(req.fence, req.key);
    await redis.multi().rpush(list, JSON.stringify(a)).pexpire(list, PARTIAL_TTL_MS).publish(keys.events, `partial ${nodeId}`).exec();
  };
  const check = async (): Promise<void> => {
    if (busy || stop.signal.aborted) return;
    busy = true;
    try {
      for (;;) {
        const raw = await redis.get(keys.round);
        if (raw === null) break;
        const req = JSON.parse(raw) as RoundRequest;
        const id = `${req.fence}:${req.key.round}:${req.key.attempt}`;
        if (req.runId !== runId || id === lastHandled || Date.now() > req.deadline) break;
        // Only the current leader's requests: one from a lapsed leader (or a cluster before a restart) is nobody's to collect.
        if (parseLease(await redis.get(keys.lease))?.token !== req.fence) break;
        lastHandled = id;
        await answer(req);
      }
      const end = await redis.get(keys.end);
      if (end !== null) await coordinator.engine.endRun((JSON.parse(end) as RunEnd).status);
    } catch (e) {
      log.warn('cluster node: round request failed', { node: nodeId, reason: (e as Error).message });
    } finally {
      busy = false;
    }
  };
  // Wake-ups: every notice on the events channel bumps `news`; the leader's waits end on one.
  let news = 0;
  const waiters = new Set<() => void>();
  const nextNews = (since: number, ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (news !== since || signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  await sub.subscribe(keys.events);
  sub.on('message', (_ch: string, msg: string) => {
    news++;
    for (const w of [...waiters]) w();
    if (msg === 'round' || msg === 'end') void check();
    else if (msg.startsWith('close ')) closers.get(msg.slice(6))?.abort('cluster target reached');
  });
  const poll = setInterval(() => void check(), SAFETY_POLL_MS);

  // ---- the leader: the round loop
  const liveNodes = async (): Promise<NodeInfo[]> => {
    const ids = Object.keys(await redis.hgetall(keys.nodes));
    if (ids.length === 0) return [];
    const vals = await redis.mget(...ids.map((id) => keys.node(id)));
    return vals.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as NodeInfo);
  };

  const lead = async (token: number, signal: AbortSignal, lease: LeaderLease): Promise<void> => {
    log.info('cluster: leading', { node: nodeId, token, run: runId });
    node.emit('leading', token);
    const leaderStrategy = Strategy.fromSpec(settings.strategy);
    // Every write of this leader carries its token; PostgreSQL refuses it once a newer leader claimed the run.
    const fenced = records.fenced(token);
    const store = new PersistentRunStore(fenced, { keepCheckpoints: config.coordinator.keepCheckpoints ?? 5, serverState: () => leaderStrategy.serverState(), strategy: leaderStrategy.spec });
    let weights: Float32Array = initialWeights;
    let round = 0;
    if (!(await records.run(runId))) {
      await store.startRun({ runId, createdAt: Date.now(), settings, status: 'running', round: 0 }, initialWeights);
    } else {
      if (!(await fenced.claim(runId))) {
        log.warn('cluster: a newer leader holds the run; stepping down', { node: nodeId, token });
        return;
      }
      const resume = await findResumePoint({ latestUnfinished: () => fenced.run(runId), loadLatestCheckpoint: (id, at) => fenced.loadLatestCheckpoint(id, at), rewindTo: (id, r) => fenced.rewindTo(id, r) }, log);
      if (resume) {
        round = resume.round;
        if (resume.weights) weights = resume.weights;
        leaderStrategy.restoreServerState(resume.serverState);
        log.info('cluster: resuming', { run: runId, round });
      }
    }
    let attempt = 0;
    let abandonedInARow = 0;
    const sel = settings.selection;
    while (round < settings.rounds && !signal.aborted) {
      const key: RoundKey = { round: round + 1, attempt: ++attempt };
      const waitUntil = Date.now() + settings.waitTimeoutMs;
      let heard = news;
      let live = await liveNodes();
      while (live.reduce((n, x) => n + x.clients, 0) < sel.minAvailable && Date.now() < waitUntil && !signal.aborted) {
        await nextNews(heard, Math.min(SAFETY_POLL_MS, Math.max(1, waitUntil - Date.now())), signal);
        heard = news;
        live = await liveNodes();
      }
      if (signal.aborted) break;
      const startedAt = Date.now();
      let record: RoundRecord;
      let next: Float32Array | undefined;
      const participation: { clientId: string; outcome: ClientOutcome }[] = [];
      const available = live.reduce((n, x) => n + x.clients, 0);
      if (available < sel.minAvailable) {
        record = RoundRecords.notStarted(key, startedAt - settings.waitTimeoutMs, startedAt, `only ${available} of ${sel.minAvailable} required clients connected to the cluster's nodes`);
      } else {
        const deadline = startedAt + settings.roundTimeoutMs;
        const weightsKey = keys.weights(token, key);
        await putBlob(redis, weightsKey, floats.bytes(weights), settings.roundTimeoutMs + 60_000);
        // One plan over every node's clients, as one coordinator with all of them connected would make it.
        const ids = [...new Set((await redis.mget(...live.map((x) => keys.nodeClients(x.nodeId)))).flatMap((v) => (v === null ? [] : (JSON.parse(v) as string[]))))];
        const plan = planRound(settings, key, ids);
        const assigned = Object.fromEntries(plan.selected.map((id) => [id, plan.configFor(id)]));
        const req: RoundRequest = { runId, fence: token, key, config: { ...settings.fit, seed: settings.seed }, deadline, weightsKey, startedAt, assigned, target: plan.target };
        await redis.multi().set(keys.round, JSON.stringify(req), 'PX', settings.roundTimeoutMs + 60_000).publish(keys.events, 'round').exec();
        let progress = await view.progress(req);
        let progressSentAt = Date.now();
        view.publish(DASHBOARD_EVENTS.roundStarted, progress);
        // Collect until every node that was live at the start answered, or died, or the deadline.
        const expected = new Set(live.map((x) => x.nodeId));
        let answers: PartialAnnouncement[] = [];
        for (;;) {
          heard = news;
          answers = (await redis.lrange(keys.partials(token, key), 0, -1)).map((s) => JSON.parse(s) as PartialAnnouncement);
          const alive = new Set((await liveNodes()).map((x) => x.nodeId));
          const waiting = [...expected].filter((id) => alive.has(id) && !answers.some((a) => a.nodeId === id));
          if (waiting.length === 0 || Date.now() > deadline || signal.aborted) break;
          if (Date.now() - progressSentAt >= PROGRESS_COALESCE_MS) {
            const now = await view.progress(req);
            if (now.reported !== progress.reported || now.rejected !== progress.rejected) {
              view.publish(DASHBOARD_EVENTS.openRound, (progress = now));
              progressSentAt = Date.now();
            }
          }
          await nextNews(heard, Math.min(SAFETY_POLL_MS, Math.max(1, deadline - Date.now())), signal);
        }
        const round_ = leaderStrategy.beginRound(weights, { population: available });
        const figures = { selected: 0, dropped: 0, rejected: 0, bytesIn: 0, bytesOut: 0, lossSum: 0, lossWeight: 0 };
        const seen = new Set<string>();
        for (const a of answers) {
          if (seen.has(a.nodeId)) continue;
          seen.add(a.nodeId);
          figures.selected += a.record.selected;
          figures.dropped += a.record.dropped;
          figures.rejected += a.record.rejected;
          figures.bytesIn += a.record.bytesIn;
          figures.bytesOut += a.record.bytesOut;
          if (!a.ok) continue;
          // Exactly once cluster-wide: a partial naming a client already counted in this attempt is refused whole.
          const fresh = (await redis.eval(LEDGER_ADD_ALL_OR_NONE, 1, keys.ledger(token, key), ...a.reporters)) === 1;
          if (!fresh) {
            log.warn('cluster: partial sum refused: a client in it was already counted', { node: a.nodeId, round: key.round, attempt: key.attempt });
            continue;
          }
          const sum = floats.f64(await getBlob(redis, a.sumKey));
          round_.addWeightedSum(sum, a.totalExamples, a.count);
          for (const id of a.reporters) participation.push({ clientId: id, outcome: 'reported' });
          if (a.record.trainLoss !== undefined) {
            figures.lossSum += a.record.trainLoss * a.totalExamples;
            figures.lossWeight += a.totalExamples;
          }
        }
        const endedAt = Date.now();
        const base = {
          round: key.round,
          attempt: key.attempt,
          startedAt,
          endedAt,
          seconds: (endedAt - startedAt) / 1000,
          selected: figures.selected,
          // The cluster plan's target (the nodes' own targets are their shares of the selection).
          target: plan.target,
          reported: round_.count,
          dropped: figures.dropped,
          rejected: figures.rejected,
          totalExamples: round_.totalExamples,
          bytesIn: figures.bytesIn,
          bytesOut: figures.bytesOut,
        };
        if (signal.aborted) record = RoundRecords.abandoned(base, 'leadership lost');
        else if (round_.count < sel.minFit) record = RoundRecords.abandoned(base, `${round_.count} update(s) across ${answers.length} node(s) by the deadline, minFit is ${sel.minFit}`);
        else {
          next = round_.finish().weights;
          let ev: EvalResult | undefined;
          if (config.coordinator.testData) {
            const model = coordinator.context.model;
            model.weights = next;
            ev = await model.evaluate(config.coordinator.testData);
          }
          const completed: RoundRecord = { ...base, status: 'completed', ...(figures.lossWeight > 0 ? { trainLoss: figures.lossSum / figures.lossWeight } : {}) };
          record = RoundRecords.evaluated(completed, ev, Date.now());
        }
      }
      // Fencing: a node whose lease lapsed (a new leader exists) records nothing.
      if (!(await lease.holds(token))) {
        log.warn('cluster: lease lost before recording; stepping down', { node: nodeId, round: key.round });
        break;
      }
      await store.recordRound(runId, record, next, participation);
      node.emit('roundEnded', record);
      view.publish(DASHBOARD_EVENTS.round, roundView(record));
      if (record.status === 'completed') {
        weights = next!;
        round = key.round;
        attempt = 0;
        abandonedInARow = 0;
      } else if (settings.maxAbandonedAttempts > 0 && ++abandonedInARow >= settings.maxAbandonedAttempts) {
        log.error('cluster: giving up: too many abandoned attempts in a row', { run: runId, round: key.round });
        break;
      }
    }
    if (signal.aborted || !(await lease.holds(token))) return;
    const status: RunEnd['status'] = round >= settings.rounds ? 'finished' : 'stopped';
    await store.finishRun(runId, status);
    const end: RunEnd = { runId, status, rounds: round, metrics: {} };
    await redis.multi().set(keys.end, JSON.stringify(end)).del(keys.round).publish(keys.events, 'end').exec();
    view.publish(DASHBOARD_EVENTS.runEnded, { status: end.status, rounds: end.rounds, metrics: end.metrics });
  };

  const lease = new LeaderLease(redis, keys.lease, nodeId, leaseTtlMs);
  const campaign = async () => {
    if (stop.signal.aborted) return;
    try {
      if (leading) {
        if (!(await lease.renew())) {
          log.warn('cluster: lease lost', { node: nodeId });
          leading = false;
          leadership?.abort('lease lost');
        }
        return;
      }
      if ((await redis.get(keys.end)) !== null) return;
      const token = await lease.tryAcquire();
      if (token === undefined) return;
      leading = true;
      leadership = new AbortController();
      const mine = leadership;
      void lead(token, mine.signal, lease).catch((e: unknown) => log.error('cluster: leader loop failed', { node: nodeId, reason: (e as Error).message })).finally(async () => {
        if (leadership === mine && leading) {
          leading = false;
          await lease.release().catch(() => undefined);
        }
      });
    } catch (e) {
      log.warn('cluster: campaign failed', { node: nodeId, reason: (e as Error).message });
    }
  };
  const campaignTimer = setInterval(() => void campaign(), Math.max(200, Math.floor(leaseTtlMs / 4)));
  void campaign();

  let closed = false;
  // A getter (Object.assign would copy its value at this instant, not the getter).
  Object.defineProperty(node, 'leading', { get: () => leading, enumerable: true });
  return Object.assign(node, {
    nodeId,
    runId,
    coordinator,
    done: coordinator.done,
    async close() {
      if (closed) return;
      closed = true;
      stop.abort();
      clearInterval(heartbeat);
      clearInterval(poll);
      clearInterval(campaignTimer);
      clearTimeout(clientsTimer);
      coordinator.registry.off('joined', clientsChanged);
      coordinator.registry.off('left', clientsChanged);
      leadership?.abort('closing');
      if (leading) await lease.release().catch(() => undefined);
      await redis.multi().del(keys.node(nodeId)).hdel(keys.nodes, nodeId).exec().catch(() => undefined);
      await coordinator.close();
      await records.close();
      sub.disconnect();
      // The adapter's unsubscribe may still be in flight: QUIT answers it first (disconnect would reject it, unhandled).
      await Promise.allSettled([ioSub.quit(), ioPub.quit()]);
      redis.disconnect();
    },
  });
}

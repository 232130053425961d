// Definitions made once: round keys, fit settings, phases, and the SecAgg stage unions.
import {
  FitSettingsSchema,
  PHASES,
  type Phase,
  type RoundKey,
  SecAggClientMessageSchema,
  SecAggServerMessageSchema,
  TrainConfigSchema,
  compareRoundKeys,
  isAfter,
  packSmallBinaries,
  parseMessage,
  roundKeyId,
  roundKeyOfId,
  roundOfKeyId,
} from '@fedlink/protocol';
import { DASHBOARD_EVENTS, PHASES as DASHBOARD_PHASES } from '@fedlink/protocol/dashboard';

describe('round keys', () => {
  test('the wire id is round * 1000 + attempt % 1000, as SecAgg messages carry it', () => {
    expect(roundKeyId({ round: 3, attempt: 2 })).toBe(3002);
    expect(roundKeyId({ round: 0, attempt: 1 })).toBe(1);
    expect(roundKeyId({ round: 7, attempt: 1001 })).toBe(7001);
  });

  test('the id gives back its round and attempt', () => {
    expect(roundOfKeyId(3002)).toBe(3);
    expect(roundKeyOfId(3002)).toEqual({ round: 3, attempt: 2 });
    for (const key of [{ round: 1, attempt: 1 }, { round: 999_999, attempt: 999 }]) expect(roundKeyOfId(roundKeyId(key))).toEqual(key);
    expect(roundOfKeyId(-1)).toBe(-1); // "no round"
  });

  test('keys are ordered by round, then attempt; everything comes after nothing', () => {
    const keys: RoundKey[] = [
      { round: 2, attempt: 1 },
      { round: 1, attempt: 3 },
      { round: 1, attempt: 1 },
      { round: 2, attempt: 2 },
    ];
    expect([...keys].sort(compareRoundKeys)).toEqual([keys[2], keys[1], keys[0], keys[3]]);
    expect(isAfter({ round: 2, attempt: 1 }, { round: 1, attempt: 999 })).toBe(true);
    expect(isAfter({ round: 1, attempt: 2 }, { round: 1, attempt: 2 })).toBe(false);
    expect(isAfter({ round: 0, attempt: 1 }, undefined)).toBe(true);
  });
});

test('fit settings are the wire config without its seed, with the same bounds', () => {
  const fit = { epochs: 1, batchSize: 10, learningRate: 0.05, proximalMu: 0 };
  expect(FitSettingsSchema.parse(fit)).toEqual(fit);
  expect(TrainConfigSchema.parse({ ...fit, seed: 4 })).toEqual({ ...fit, seed: 4 });
  expect(FitSettingsSchema.safeParse({ ...fit, seed: 4 }).success).toBe(false);
  for (const bad of [{ epochs: 0 }, { batchSize: 65_537 }, { learningRate: 0 }, { proximalMu: -1 }, { learningRate: Infinity }]) {
    expect(FitSettingsSchema.safeParse({ ...fit, ...bad }).success).toBe(false);
    expect(TrainConfigSchema.safeParse({ ...fit, seed: 1, ...bad }).success).toBe(false);
  }
});

test('phases are listed once, also by the zod-free dashboard entry', () => {
  const phase: Phase = 'aggregating';
  expect(PHASES).toContain(phase);
  expect(DASHBOARD_PHASES).toBe(PHASES);
  expect(PHASES).toEqual(['starting', 'waiting', 'training', 'aggregating', 'evaluating', 'finished', 'stopped']);
  expect(DASHBOARD_EVENTS.phase).toBe('phase');
});

describe('secure-aggregation stage unions', () => {
  const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
  const header = { runId: 'run-1', round: 1001 };
  const advertise = { stage: 'advertise', ...header, sender: 'c1', maskPublicKey: bytes(32), sharePublicKey: bytes(32, 2), selfMaskCommitment: bytes(32, 3), signature: bytes(64) };
  const unmaskRequest = { stage: 'unmask-request', ...header, recipient: 'c1', survivors: ['c1', 'c2'], dropped: ['c3'] };

  test('each side parses by stage, with the binary fields in either wire form', () => {
    const wire = packSmallBinaries(advertise);
    expect(typeof wire.maskPublicKey).toBe('string');
    const msg = parseMessage(SecAggClientMessageSchema, wire, 'secagg message');
    expect(msg.stage).toBe('advertise');
    if (msg.stage === 'advertise') expect(msg.maskPublicKey).toEqual(bytes(32));
    expect(parseMessage(SecAggServerMessageSchema, unmaskRequest, 'secagg message')).toEqual(unmaskRequest);
  });

  test('a parsed message parses again to itself (the crypto state machines re-check them)', () => {
    const once = SecAggClientMessageSchema.parse(packSmallBinaries(advertise));
    expect(SecAggClientMessageSchema.parse(once)).toEqual(once);
  });

  test('a stage of the other side, or no stage, is refused', () => {
    expect(SecAggServerMessageSchema.safeParse(advertise).success).toBe(false);
    expect(SecAggClientMessageSchema.safeParse(unmaskRequest).success).toBe(false);
    expect(() => parseMessage(SecAggClientMessageSchema, { ...advertise, stage: 'masks' }, 'secagg message')).toThrow(/malformed secagg message: stage/);
  });
});

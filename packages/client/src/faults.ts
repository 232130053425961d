/**
 * Where a simulated client can vanish in a round. Used by the simulator's `--dropout` to model
 * devices that go away mid-round (battery, network, app killed); production clients never set it.
 */
export const VANISH_POINTS = ['before-training', 'after-training', 'advertise', 'shares', 'unmask'] as const;
export type VanishPoint = (typeof VANISH_POINTS)[number];

export interface FaultPlan {
  /** Called once per round the client is selected for; returns where it vanishes, if at all. */
  vanishPoint(round: number, secure: boolean): VanishPoint | undefined;
}

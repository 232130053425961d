import { createRng } from '@fedlink/core';

/** A standard normal draw from a uniform stream (Box-Muller). */
function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/**
 * A synthetic housing-like regression table, the same for a given seed: area (m2), rooms, age
 * (years), distance to the centre (km), district (A-E, categorical) and price (the label, in
 * thousands), price a nonlinear function of them plus noise (std 15). As CSV text.
 */
export function housingCsv(rows = 2000, seed = 7): string {
  const rng = createRng(seed);
  const next = () => rng.next();
  const districtOffset: Record<string, number> = { A: 60, B: 30, C: 0, D: -20, E: -45 };
  const lines = ['area,rooms,age,distance_km,district,price'];
  for (let r = 0; r < rows; r++) {
    const area = 30 + next() * 170;
    const rooms = Math.max(1, Math.min(8, Math.round(area / 30 + gaussian(next) * 0.7)));
    const age = Math.floor(next() * 80);
    const distance = next() * 25;
    const district = 'ABCDE'[Math.floor(next() * 5)]!;
    const price = 40 + 2.2 * area + 12 * rooms - 0.9 * age + 0.006 * age * age - 40 * Math.log1p(distance) + districtOffset[district]! + gaussian(next) * 15;
    lines.push(`${area.toFixed(1)},${rooms},${age},${distance.toFixed(2)},${district},${price.toFixed(1)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * A synthetic (user, item, rating) table from a low-rank matrix, the same for a given seed:
 * rating = 3.5 + <p_u, q_i> + b_u + b_i + noise (rank 3, noise std 0.25), clipped to [1, 5];
 * each user rates `perUser` distinct items. Ids are u000.. and i000.. (as CSV text).
 */
export function ratingsCsv(users = 60, items = 80, perUser = 60, seed = 11): string {
  const rng = createRng(seed);
  const next = () => rng.next();
  const rank = 3;
  const p = Array.from({ length: users }, () => Array.from({ length: rank }, () => gaussian(next) * 0.6));
  const q = Array.from({ length: items }, () => Array.from({ length: rank }, () => gaussian(next) * 0.6));
  const bu = Array.from({ length: users }, () => gaussian(next) * 0.3);
  const bi = Array.from({ length: items }, () => gaussian(next) * 0.3);
  const id = (prefix: string, i: number) => `${prefix}${String(i).padStart(3, '0')}`;
  const lines = ['user,item,rating'];
  for (let u = 0; u < users; u++) {
    const order = Array.from({ length: items }, (_, i) => i);
    for (let k = 0; k < Math.min(perUser, items); k++) {
      const j = k + Math.floor(next() * (items - k));
      [order[k], order[j]] = [order[j]!, order[k]!];
      const i = order[k]!;
      const dot = p[u]!.reduce((s, x, f) => s + x * q[i]![f]!, 0);
      const rating = Math.max(1, Math.min(5, 3.5 + dot + bu[u]! + bi[i]! + gaussian(next) * 0.25));
      lines.push(`${id('u', u)},${id('i', i)},${rating.toFixed(2)}`);
    }
  }
  return lines.join('\n') + '\n';
}

import fc from 'fast-check';

/**
 * Mutations of a valid message, for property tests of decoders: one change at one place of the
 * value (delete a field, replace it with anything, flip a byte, truncate or extend bytes and
 * arrays, add a stray field, change a number's value or type). What a decoder must do with any
 * of them: give a valid value or throw its typed error.
 */
export type Path = (string | number)[];

function paths(value: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (value instanceof Uint8Array) return out;
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) paths(value[i], [...at, i], out);
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...at, k], out);
  return out;
}

function clone(value: unknown): unknown {
  if (value instanceof Uint8Array) return value.slice();
  if (Array.isArray(value)) return Array.from(value, clone);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]));
  return value;
}

const HOSTILE: unknown[] = [null, undefined, '', 'x'.repeat(5000), -1, 0, 1e300, NaN, Infinity, -Infinity, 2 ** 53, -0, true, [], {}, new Uint8Array(0), new Uint8Array(100_000), '__proto__', { length: 1e9 }, [[[[[]]]]]];

function mutateAt(key: string | number | undefined, current: unknown, op: number, n: number, other: unknown): unknown {
  switch (op % 9) {
    case 0: // delete
      return key === undefined ? undefined : DELETE;
    case 1: // replace with an arbitrary value
      return other;
    case 2: // a hostile constant
      return HOSTILE[n % HOSTILE.length];
    case 3: // flip a bit of bytes / a char of a string
      if (current instanceof Uint8Array && current.length > 0) {
        const c = current.slice();
        c[n % c.length]! ^= 1 << (n % 8);
        return c;
      }
      if (typeof current === 'string' && current.length > 0) return current.slice(0, n % current.length) + String.fromCharCode((current.charCodeAt(n % current.length) ^ 1) || 65) + current.slice((n % current.length) + 1);
      return other;
    case 4: // truncate
      if (current instanceof Uint8Array || Array.isArray(current) || typeof current === 'string') return current.slice(0, n % (current.length + 1));
      return other;
    case 5: // extend
      if (current instanceof Uint8Array) {
        const c = new Uint8Array(current.length + 1 + (n % 64));
        c.set(current);
        return c;
      }
      if (Array.isArray(current)) return [...current, ...(current.length > 0 ? [current[0]] : [other])];
      if (typeof current === 'string') return current + current;
      return other;
    case 6: // a stray field
      if (current !== null && typeof current === 'object' && !(current instanceof Uint8Array) && !Array.isArray(current)) return { ...current, [`stray${n % 3}`]: other };
      return other;
    case 7: // numbers: off by one, negative, fractional, as a string
      if (typeof current === 'number') return [current + 1, current - 1, -current - 1, current + 0.5, String(current)][n % 5];
      return other;
    default: // change the container type
      if (current instanceof Uint8Array) return Array.from(current);
      if (Array.isArray(current)) {
        const o: Record<number, unknown> = {};
        for (let i = 0; i < current.length; i++) o[i] = current[i];
        return o;
      }
      return typeof current === 'string' ? Number(current) : asString(current);
  }
}

/** String(v), or its tag for values String() throws on (null-prototype objects, from an earlier mutation). */
function asString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

const DELETE = Symbol('delete');

/** `value` with one mutation chosen by the numbers. */
export function mutate(value: unknown, pick: number, op: number, n: number, other: unknown): unknown {
  const all = paths(value);
  const path = all[pick % all.length]!;
  const root = clone(value);
  if (path.length === 0) {
    const m = mutateAt(undefined, root, op, n, other);
    return m === DELETE ? undefined : m;
  }
  let parent = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path.at(-1)!;
  const m = mutateAt(key, parent[key], op, n, other);
  if (m === DELETE) {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else parent[key] = m;
  return root;
}

/** Anything at all, hostile shapes included. */
export const anyValue = fc.anything({ withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true, maxDepth: 3 });

/** A mutation of one of `samples` (1 to 3 changes in a row). */
export function mutated(samples: readonly unknown[]): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.nat(samples.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), anyValue), { minLength: 1, maxLength: 3 }))
    .map(([s, ms]) => ms.reduce((v: unknown, [pick, op, n, other]) => mutate(v, pick, op, n, other), samples[s]));
}

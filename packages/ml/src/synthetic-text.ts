import { createRng } from '@fedlink/core';

/**
 * `--data topics`: a synthetic text-classification corpus, the same for a given seed. Documents
 * of 12-100 words are drawn from four topics; each word is, with chance 0.3, one of its topic's
 * 24 words (Zipf-ranked; each topic's last 6 words are also the next topic's first 6, so some
 * words are ambiguous), with chance 0.06 a word of another topic (noise), else one of 400
 * pseudo-words shared by every topic (Zipf, s = 1.1). Each document has an author; an author
 * writes mostly (4:1 odds per topic) about a favourite topic, so one client per author
 * (`--partition natural`) is non-iid. Platform-neutral; as text, read by the same path as
 * `text:<dir>` classification (the coordinator builds and ships the vocabulary).
 */

/** The topics (class names, sorted as a run's classes are) and their prior shares. */
export const TOPIC_NAMES = ['cooking', 'finance', 'sport', 'weather'] as const;
const TOPIC_PRIOR = [0.4, 0.25, 0.2, 0.15];

/** 24 words per topic, most frequent first; words 18..23 of topic t are words 0..5 of topic t+1. */
const TOPIC_WORDS: readonly (readonly string[])[] = (() => {
  const own = [
    ['oven', 'flour', 'recipe', 'garlic', 'simmer', 'butter', 'onion', 'bake', 'pepper', 'sauce', 'roast', 'dough', 'salt', 'fry', 'herbs', 'stew', 'knife', 'pan'],
    ['market', 'shares', 'bank', 'interest', 'loan', 'profit', 'stock', 'budget', 'invest', 'bond', 'tax', 'price', 'fund', 'credit', 'debt', 'trade', 'rate', 'cash'],
    ['goal', 'match', 'team', 'league', 'coach', 'score', 'player', 'season', 'pitch', 'win', 'referee', 'cup', 'striker', 'final', 'keeper', 'run', 'race', 'ball'],
    ['rain', 'cloud', 'storm', 'wind', 'forecast', 'sunny', 'frost', 'snow', 'thunder', 'humid', 'fog', 'breeze', 'drizzle', 'gale', 'warm', 'cold', 'hail', 'heat'],
  ];
  return own.map((words, t) => [...words, ...own[(t + 1) % own.length]!.slice(0, 6)]);
})();

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'de', 'pa', 'go', 'hu', 'be', 'zi', 'fa', 'no', 'ce', 'ji', 'wu', 'ye'];

/** The shared pseudo-words: two or three syllables, distinct, in a fixed order (rank = index). */
function sharedWords(count: number): string[] {
  const out: string[] = [];
  const n = SYLLABLES.length;
  for (let i = 0; out.length < count; i++) {
    const a = SYLLABLES[i % n]!;
    const b = SYLLABLES[Math.floor(i / n) % n]!;
    out.push(i < n * n ? a + b : a + b + SYLLABLES[Math.floor(i / (n * n)) % n]!);
  }
  return out;
}

/** The cumulative distribution of `weights` (normalised to end at 1). */
function cdfOf(weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, w) => a + w, 0);
  let acc = 0;
  return Float64Array.from(weights, (w) => (acc += w) / total);
}

/** Zipf over `n` ranks with exponent `s`: rank r has weight 1 / (r + 1)^s. */
function zipfCdf(n: number, s: number): Float64Array {
  return cdfOf(Array.from({ length: n }, (_, r) => 1 / Math.pow(r + 1, s)));
}

function draw(cdf: ArrayLike<number>, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u < cdf[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export interface TopicsOptions {
  /** Documents in all (default 2,000). */
  docs?: number;
  /** Authors (default 12); author a's favourite topic is a mod 4. */
  authors?: number;
  seed?: number;
}

/** The corpus: document k, its topic (class name) and its author's index. */
export interface TopicsCorpus {
  docs: string[];
  labels: string[];
  authors: Int32Array;
  authorNames: string[];
}

export function topicsCorpus(options: TopicsOptions = {}): TopicsCorpus {
  const { docs: count = 2000, authors = 12, seed = 23 } = options;
  const rng = createRng(seed);
  const next = () => rng.next();
  const shared = sharedWords(400);
  const sharedCdf = zipfCdf(shared.length, 1.1);
  const topicCdf = zipfCdf(TOPIC_WORDS[0]!.length, 1);
  const authorNames = Array.from({ length: authors }, (_, a) => `author${String(a + 1).padStart(2, '0')}`);
  // Authors write unequal amounts: weight 1 + 4u, so some clients hold several times more than others.
  const authorCdf = cdfOf(authorNames.map(() => 1 + 4 * next()));
  const mixCdf = authorNames.map((_, a) => cdfOf(TOPIC_PRIOR.map((p, t) => p * (t === a % TOPIC_NAMES.length ? 4 : 1))));
  const docs: string[] = [];
  const labels: string[] = [];
  const authorOf = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const a = draw(authorCdf, next());
    const t = draw(mixCdf[a]!, next());
    const length = 12 + Math.floor(next() * 89);
    const words: string[] = [];
    for (let j = 0; j < length; j++) {
      const u = next();
      if (u < 0.3) words.push(TOPIC_WORDS[t]![draw(topicCdf, next())]!);
      else if (u < 0.36) words.push(TOPIC_WORDS[(t + 1 + Math.floor(next() * 3)) % TOPIC_NAMES.length]![draw(topicCdf, next())]!);
      else words.push(shared[draw(sharedCdf, next())]!);
    }
    docs.push(words.join(' '));
    labels.push(TOPIC_NAMES[t]!);
    authorOf[k] = a;
  }
  return { docs, labels, authors: authorOf, authorNames };
}

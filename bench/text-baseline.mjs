// Baselines of a next-char text split: the most frequent next character, and a bigram table
// (last character of a window -> the next character most often after it in the train windows).
// Usage: node bench/text-baseline.mjs [seqLength] [stride] [data]   (default 20 10 shakespeare)
import { loadDataset } from '@fedlink/ml/node';
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node bench/text-baseline.mjs [seqLength] [stride] [data]   (default 20 10 shakespeare)');
  process.exit(0);
}
const seqLength = Number(process.argv[2] ?? 20);
const stride = Number(process.argv[3] ?? 10);
const spec = process.argv[4] ?? 'shakespeare';
const d = await loadDataset(spec, { text: { task: 'next-char', seqLength, stride } });
const counts = new Map();
const labels = d.test.labels;
for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
const [top, n] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
console.log(`test ${labels.length} windows; most frequent next char ${JSON.stringify(d.text.spec.tokens[top])}: ${n}/${labels.length} = ${(n / labels.length).toFixed(4)}; vocab ${d.text.spec.tokens.length}`);
// Bigram: most frequent next id after each last id of a window, counted on the train windows.
const L = seqLength;
const table = new Map();
for (let i = 0; i < d.train.count; i++) {
  const last = d.train.images[i * L + L - 1];
  const m = table.get(last) ?? new Map();
  m.set(d.train.labels[i], (m.get(d.train.labels[i]) ?? 0) + 1);
  table.set(last, m);
}
const best = new Map([...table].map(([k, m]) => [k, [...m].sort((a, b) => b[1] - a[1])[0][0]]));
let ok = 0;
for (let i = 0; i < d.test.count; i++) if ((best.get(d.test.images[i * L + L - 1]) ?? top) === labels[i]) ok++;
console.log(`bigram (last character -> most frequent next, from ${d.train.count} train windows): ${ok}/${labels.length} = ${(ok / labels.length).toFixed(4)}`);

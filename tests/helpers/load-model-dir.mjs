// Loads exported tfjs artifacts from a directory the way a user would, with tf.loadLayersModel
// over HTTP (a throwaway loopback server), and prints the parameter count and a checksum of
// the weights as JSON. Arg: directory holding model.json and weights.bin
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const dir = process.argv[2];
const server = createServer(async (req, res) => {
  try {
    res.end(await readFile(join(dir, req.url.replace(/^\//, ''))));
  } catch {
    res.statusCode = 404;
    res.end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const model = await tf.loadLayersModel(`http://127.0.0.1:${server.address().port}/model.json`);
let sum = 0;
for (const w of model.getWeights()) for (const x of w.dataSync()) sum += x;
process.stdout.write(JSON.stringify({ params: model.countParams(), sum }) + '\n');
model.dispose();
server.close();

// Loads a served model the way a user would (tf.loadLayersModel on the URL) and prints its
// parameter count and the first weight values as JSON. Arg: model URL
import * as tf from '@tensorflow/tfjs';

const model = await tf.loadLayersModel(process.argv[2]);
const first = model.getWeights()[0].dataSync().slice(0, 4);
process.stdout.write(JSON.stringify({ params: model.countParams(), first: Array.from(first) }) + '\n');

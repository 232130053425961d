// A real client in its own process whose "training" takes SLOW_MS: tests kill or freeze it
// mid-round. Prints "training <round>" when a round starts. Args: url token [slowMs]
import { FedlinkClient } from '@fedlink/client';

const [url, token, slow = '60000'] = process.argv.slice(2);
const trainer = {
  numExamples: 50,
  numParams: 0,
  async prepare(welcome) {
    this.numParams = welcome.model.numParams;
  },
  async fit(_global, _config) {
    process.stdout.write(`training\n`);
    await new Promise((r) => setTimeout(r, Number(slow)));
    return { delta: new Float32Array(this.numParams), numExamples: 50, metrics: { loss: 1 } };
  },
  dispose() {},
};
const client = new FedlinkClient({ url, token, trainer, platform: 'node', backend: 'test', reconnect: false });
client.on('welcome', () => process.stdout.write('joined\n'));
client.run().then(
  () => process.exit(0),
  () => process.exit(1),
);

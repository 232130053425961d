#!/usr/bin/env node
// Thin launcher so the `fedlink` bin exists (and is executable) before the first build.
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    // A finished command exits now: ack timers of clients that vanished mid-round (up to 30 s)
    // must not hold the process. Long-running commands (serve, join) return only when done.
    process.exit(typeof code === 'number' ? code : 0);
  },
  (err) => {
    console.error(`fedlink: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

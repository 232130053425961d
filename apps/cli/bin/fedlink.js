#!/usr/bin/env node
// Thin launcher so the `fedlink` bin exists (and is executable) before the first build.
import { main } from '../dist/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(`fedlink: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);

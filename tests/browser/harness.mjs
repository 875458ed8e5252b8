// Shared pieces of the real-browser tests (e2e.mjs, cluster-e2e.mjs): where Chromium
// and the server binary are, how Chromium is launched, free ports, bounded waits.

import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS = join(ROOT, 'target/screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// The machine has no internet: without these Chromium keeps dialling out.
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** TICKCAST_BIN, else the newest of the usual build outputs (a stale one is a trap). */
export function serverBinary() {
  if (process.env.TICKCAST_BIN) return resolve(process.env.TICKCAST_BIN);
  const dirs = [process.env.CARGO_TARGET_DIR, join(ROOT, 'target')].filter(Boolean);
  const found = dirs
    .flatMap((dir) => ['release', 'debug'].map((profile) => resolve(ROOT, dir, profile, 'tickcast')))
    .filter((bin) => existsSync(bin))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (found.length === 0) throw new Error('no server binary: build it (cargo build --release) or set TICKCAST_BIN');
  return found[0];
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A logger that prefixes each line with the test's name and the seconds since it started. */
export function sayer(tag) {
  const started = Date.now();
  return (msg) => console.log(`[${tag} ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
}

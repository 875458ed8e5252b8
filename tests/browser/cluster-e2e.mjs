// Real-browser test of cluster failover: the demo page resumes its player on another
// node after the node running its room is killed.
//
//   TICKCAST_BIN=target/debug/tickcast node tests/browser/cluster-e2e.mjs
//
// Needs what e2e.mjs needs (Debian's chromium, npm `playwright-core`, a built server,
// see harness.mjs) plus `redis-server` on PATH (or TICKCAST_REDIS_SERVER). It builds
// nothing. It starts a throwaway redis-server and two tickcast nodes in cluster mode
// (node-a, node-b) on free loopback ports, with short leases and each node listing the
// other's page origin in security.allowed_origins (without it, a page served by node A
// is refused with 403 when it opens its WebSocket on node B), then checks, in order:
//   1. page "bea" opens node B's demo with ?room=failover: the room is created on node B;
//   2. page "ann" opens node A's demo with ?room=failover: A's /api/matchmake places it
//      on node B (client.node is node-b, client.nodeUrl is B's port), and both pages
//      see each other's player and entity;
//   3. node B writes snapshots of the room that include ann (B's snapshot counter moves
//      on by two after both pages saw each other);
//   4. node B is killed with SIGKILL. Ann's page (home node A) reconnects by itself
//      through /api/matchmake?resume=1, never goes `gone`, and ends up live in room
//      failover on node A (nodeUrl on A's port) with the SAME player id, a resume
//      counted, its own entity in the restored state; node A counts a restore and lists
//      the room as its own; ann's held arrow key moves her entity in the server's state.
// Bea's page (home node B, which is dead) cannot recover and is not checked after the kill.
// No page error in any page; no console error before the kill (afterwards Chromium logs
// the refused connections to the dead node, which are expected).
// Every wait is bounded by a state, never by a duration; the whole run is capped. Every
// child process is killed on success, on failure and on exit.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, CHROMIUM_FLAGS, ROOT, SHOTS, check, freePort, sayer, serverBinary, sleep } from './harness.mjs';

const RUN_LIMIT_MS = 120_000;
const WAIT_MS = 10_000;
// Lease TTL (4 s) + a sweep (1.3 s) + the client's backoff between retries (up to 4 s at
// its 4th attempt, 8 s at its 5th): generous, as a loaded machine is slow.
const FAILOVER_MS = 45_000;
const ROOM = 'failover';
const say = sayer('cluster-e2e');

/** Every child process started: killed in cleanup() and on exit, whatever happened. */
const children = [];
let browser = null;
let redisDir = null;

/** Starts `bin` as a child whose output is kept (the tail) for the failure report. */
function startChild(name, bin, args, env) {
  const child = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.label = name;
  child.log = '';
  const keep = (chunk) => {
    child.log = (child.log + chunk).slice(-30_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  child.once('error', (e) => {
    child.log += `\n[spawn error: ${e.message}]`;
  });
  children.push(child);
  return child;
}

const running = (child) => child.exitCode === null && child.signalCode === null;

async function kill(child, signal) {
  if (!running(child)) return;
  child.kill(signal);
  const done = await Promise.race([child.exited, sleep(5000).then(() => null)]);
  if (!done && running(child)) {
    child.kill('SIGKILL');
    await Promise.race([child.exited, sleep(2000)]);
  }
}

async function cleanup() {
  await browser?.close().catch(() => {});
  browser = null;
  await Promise.all(children.map((c) => kill(c, 'SIGKILL')));
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  redisDir = null;
}

// Last resort (an exception escaping everything, process.exit from the watchdog, a
// signal): children must not outlive the test. 'exit' handlers cannot wait, so SIGKILL.
process.on('exit', () => {
  for (const c of children) if (running(c)) c.kill('SIGKILL');
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`[cluster-e2e] ${sig}: stopping`);
    cleanup().finally(() => process.exit(1));
  });
}

/** Waits until `probe()` resolves truthy (returning that), or throws after `ms`; fails fast if `child` exits. */
async function until(what, ms, probe, child) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child && !running(child)) throw new Error(`${child.label} exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}`);
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(100);
  }
}

/** One Redis PING over a raw socket: resolves true on +PONG. */
function redisPing(port) {
  return new Promise((ok) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (v) => {
      s.destroy();
      ok(v);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
    s.once('connect', () => s.write('PING\r\n'));
  });
}

async function startRedis() {
  const bin = process.env.TICKCAST_REDIS_SERVER || 'redis-server';
  const port = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'tickcast-cluster-e2e-redis-'));
  const redis = startChild('redis', bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {});
  await until(`redis-server on ${port} answering PING`, 15_000, () => redisPing(port), redis);
  say(`redis-server on 127.0.0.1:${port}`);
  return port;
}

/**
 * Starts node `id` on `port`. `origins` are the other nodes' page origins: a page served
 * by node A that is placed on node B opens its WebSocket to B with `Origin: <A>`, which B
 * refuses (403) unless it is listed in `security.allowed_origins` (docs/PROTOCOL.md).
 */
async function startNode(id, port, redisPort, secret, origins) {
  const bin = serverBinary();
  const node = startChild(id, bin, [], {
    TICKCAST__SERVER__BIND: `127.0.0.1:${port}`,
    TICKCAST__SECURITY__ALLOWED_ORIGINS: origins.join(','),
    TICKCAST__SERVER__SHUTDOWN_GRACE_S: '1',
    TICKCAST__CLUSTER__REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    TICKCAST__CLUSTER__NODE_ID: id,
    TICKCAST__SECURITY__TOKEN_SECRET: secret,
    TICKCAST__TICK__RATE_HZ: '20',
    TICKCAST__CLUSTER__LEASE_TTL_S: '4',
    TICKCAST__CLUSTER__NODE_TTL_S: '3',
    TICKCAST__CLUSTER__SNAPSHOT_INTERVAL_S: '0.4',
    TICKCAST__CLUSTER__REDIS_TIMEOUT_MS: '300',
    TICKCAST__SECURITY__MINT_PER_MINUTE: '100000',
    TICKCAST__SECURITY__MATCHMAKE_PER_MINUTE: '100000',
    TICKCAST__LOG__FILTER: 'info',
  });
  node.port = port;
  node.base = `http://127.0.0.1:${port}`;
  await until(`${id} answering /healthz`, 15_000, async () => (await fetch(`${node.base}/healthz`)).ok, node).catch((e) => {
    throw new Error(`${e.message} (${bin}: is it a current build? TICKCAST_BIN picks one)`);
  });
  say(`${id} (${bin}) healthy on 127.0.0.1:${port}`);
  return node;
}

/** The sum of the metric lines of `node` starting with `prefix`. */
async function metric(node, prefix) {
  const body = await (await fetch(`${node.base}/metrics`)).text();
  return body
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)))
    .filter(Number.isFinite)
    .reduce((a, b) => a + b, 0);
}

/** Opens a page in its own browser context (own storage, like another device). */
async function openPage(name, errors, consoleLog) {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push({ page: name, kind: 'page error', text: e.message, at: Date.now() }));
  page.on('console', (m) => {
    consoleLog.push(`${name} ${m.type()}: ${m.text()}`);
    if (m.type() === 'error') errors.push({ page: name, kind: 'console error', text: m.text(), at: Date.now() });
  });
  page.setDefaultTimeout(WAIT_MS);
  return page;
}

const waitLive = (page) =>
  page.waitForFunction(() => window.tickcast?.state === 'live' && window.tickcast.tick > 0 && window.tickcast.entities.size > 0, null, { timeout: WAIT_MS });

/** What a test needs to know of a page's client. */
const clientFacts = (page) =>
  page.evaluate(() => {
    const c = window.tickcast;
    return {
      state: c.state,
      room: c.room,
      playerId: c.playerId,
      node: c.node,
      nodeUrl: c.nodeUrl,
      tick: c.tick,
      ownEntity: c.ownEntityId != null && c.entities.has(c.ownEntityId),
      stats: { ...c.stats },
      goneReason: c.goneReason,
    };
  });

const portOf = (wsUrl) => (wsUrl ? Number(new URL(wsUrl).port) : null);

async function run(ctx) {
  const errors = [];
  const consoleLog = [];
  ctx.errors = errors;
  ctx.consoleLog = consoleLog;
  check(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const secret = randomBytes(16).toString('hex');
  const redisPort = await startRedis();
  const [portA, portB] = [await freePort(), await freePort()];
  const origin = (port) => `http://127.0.0.1:${port}`;
  const nodeA = await startNode('node-a', portA, redisPort, secret, [origin(portB)]);
  const nodeB = await startNode('node-b', portB, redisPort, secret, [origin(portA)]);
  ctx.nodes = [nodeA, nodeB];
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: WAIT_MS });
  mkdirSync(SHOTS, { recursive: true });

  // 1. Bea creates the room on node B (her home).
  const bea = await openPage('bea', errors, consoleLog);
  await bea.goto(`${nodeB.base}/?room=${ROOM}&name=bea`);
  await waitLive(bea);
  const beaFacts = await clientFacts(bea);
  check(beaFacts.room === ROOM, `bea is in room ${beaFacts.room}, not ${ROOM}`);
  check(beaFacts.node === 'node-b', `bea's room is on ${beaFacts.node}, not node-b`);
  check(portOf(beaFacts.nodeUrl) === nodeB.port, `bea connected to ${beaFacts.nodeUrl}, not node B (port ${nodeB.port})`);
  say(`bea is player ${beaFacts.playerId} in room ${ROOM} on node-b`);

  // 2. Ann (home node A) is placed by A's matchmaker onto node B.
  const ann = await openPage('ann', errors, consoleLog);
  ctx.ann = ann;
  await ann.goto(`${nodeA.base}/?room=${ROOM}&name=ann`);
  await waitLive(ann);
  const before = await clientFacts(ann);
  check(before.room === ROOM, `ann is in room ${before.room}, not ${ROOM}`);
  check(before.node === 'node-b', `A's matchmaker placed ann on ${before.node}, not node-b`);
  check(portOf(before.nodeUrl) === nodeB.port, `ann connected to ${before.nodeUrl}, not node B (port ${nodeB.port})`);
  check(before.stats.matchmakes >= 1, 'ann did not ask /api/matchmake');
  check(before.playerId !== beaFacts.playerId, `both pages got player id ${before.playerId}`);
  const idAnn = before.playerId;
  const idBea = beaFacts.playerId;
  await bea.waitForFunction((id) => window.tickcast.entities.has(id) && window.tickcast.players.get(id) === 'ann', idAnn);
  await ann.waitForFunction((id) => window.tickcast.entities.has(id) && window.tickcast.players.get(id) === 'bea', idBea);
  say(`ann is player ${idAnn}, placed by node-a onto node-b (${before.nodeUrl}); bea and ann see each other`);

  // 3. A snapshot that includes ann: the counter moves on by two (the first write may
  // have been saved before she joined; the second was saved after).
  const snaps0 = await metric(nodeB, 'tickcast_cluster_snapshots_total{result="ok"}');
  const snaps = await until('node-b writing two more snapshots', WAIT_MS * 2, async () => {
    const n = await metric(nodeB, 'tickcast_cluster_snapshots_total{result="ok"}');
    return n >= snaps0 + 2 && n;
  }, nodeB);
  say(`node-b wrote snapshots ${snaps0} -> ${snaps}`);
  await ann.screenshot({ path: join(SHOTS, 'cluster-ann-on-node-b.png') });

  // 4. Kill node B. Ann must come back on node A as the same player.
  await ann.evaluate(() => {
    const c = window.tickcast;
    window.__states = [];
    window.__matchmakes = [];
    window.__redirects = [];
    window.__welcomes = [];
    c.addEventListener('statechange', (e) => {
      const { state, code, reason, resumed } = e.detail;
      window.__states.push({ state, code, reason, resumed });
    });
    c.addEventListener('matchmake', (e) => window.__matchmakes.push({ node: e.detail.node, url: e.detail.url }));
    c.addEventListener('redirect', (e) => window.__redirects.push(e.detail.url));
    c.addEventListener('welcome', (e) => window.__welcomes.push({ player: e.detail.player_id, room: e.detail.room, tick: e.detail.tick }));
  });
  const restores0 = await metric(nodeA, 'tickcast_cluster_restores_total{result="ok"}');
  const killedAt = Date.now();
  ctx.killedAt = killedAt;
  await kill(nodeB, 'SIGKILL');
  say(`node-b killed (${JSON.stringify(await nodeB.exited)})`);
  await bea.context().close(); // its home is dead: nothing to check there

  await ann.waitForFunction(
    (port) => {
      const c = window.tickcast;
      return c.state === 'live' && c.tick > 0 && c.nodeUrl && new URL(c.nodeUrl).port === String(port);
    },
    nodeA.port,
    { timeout: FAILOVER_MS, polling: 100 },
  );
  const after = await clientFacts(ann);
  const trace = await ann.evaluate(() => ({ states: window.__states, matchmakes: window.__matchmakes, redirects: window.__redirects, welcomes: window.__welcomes }));
  ctx.trace = trace;
  const seq = trace.states.map((s) => s.state);
  check(seq[0] === 'reconnecting', `ann's first state after the kill is ${seq[0]}, not reconnecting: ${seq.join(' -> ')}`);
  check(!seq.includes('gone'), `ann gave up: ${JSON.stringify(trace.states)}`);
  const lastLive = trace.states.filter((s) => s.state === 'live').at(-1);
  check(lastLive?.resumed === true, `ann's last live was not a resume: ${JSON.stringify(trace.states)}`);
  check(after.playerId === idAnn, `ann came back as player ${after.playerId}, not ${idAnn}`);
  check(after.room === ROOM, `ann came back in room ${after.room}, not ${ROOM}`);
  check(after.state === 'live', `ann is ${after.state}`);
  check(portOf(after.nodeUrl) === nodeA.port, `ann is connected to ${after.nodeUrl}, not node A (port ${nodeA.port})`);
  check(after.node === 'node-a', `ann's client names node ${after.node}, not node-a`);
  check(after.stats.resumes > before.stats.resumes, `no resume counted (${before.stats.resumes} -> ${after.stats.resumes})`);
  check(trace.matchmakes.length >= 1 && trace.matchmakes.at(-1).node === 'node-a', `last matchmake answer: ${JSON.stringify(trace.matchmakes.at(-1))}`);
  check(trace.welcomes.length >= 1 && trace.welcomes.every((w) => w.player === idAnn && w.room === ROOM), `welcomes after the kill: ${JSON.stringify(trace.welcomes)}`);
  await ann.waitForFunction((id) => window.tickcast.state === 'live' && window.tickcast.entities.has(id), await ann.evaluate(() => window.tickcast.ownEntityId));
  say(`ann went ${seq.join(' -> ')} (${trace.matchmakes.length} matchmakes, ${trace.redirects.length} redirects) and is player ${after.playerId} again, on node-a`);

  // The room now runs on node A, restored from node B's snapshot.
  const restores = await metric(nodeA, 'tickcast_cluster_restores_total{result="ok"}');
  check(restores > restores0, `node-a counted no restore (${restores0} -> ${restores})`);
  const rooms = await (await fetch(`${nodeA.base}/api/rooms`)).json();
  const room = rooms.find((r) => r.name === ROOM);
  check(room?.node === 'node-a', `node-a lists room ${ROOM} as ${JSON.stringify(room)}`);

  // Live again: a held key moves ann's entity in the server's state (not the prediction).
  const pos = () => ann.evaluate(() => window.tickcast.entities.get(window.tickcast.ownEntityId)?.fields.slice(0, 2) ?? null);
  const [x0, y0] = await pos();
  const key = x0 < 5000 ? 'ArrowRight' : 'ArrowLeft';
  await ann.keyboard.down(key);
  try {
    await ann.waitForFunction(
      ({ x0, y0 }) => {
        const c = window.tickcast;
        const e = c.entities.get(c.ownEntityId);
        return e && Math.hypot(e.fields[0] - x0, e.fields[1] - y0) >= 200;
      },
      { x0, y0 },
      { timeout: WAIT_MS, polling: 50 },
    );
  } finally {
    await ann.keyboard.up(key);
  }
  say(`ann moves on node-a: ${JSON.stringify([x0, y0])} -> ${JSON.stringify(await pos())} (${key})`);
  await ann.screenshot({ path: join(SHOTS, 'cluster-ann-after-failover.png') });

  // No page error anywhere; no console error before the kill (after it, Chromium reports
  // each refused connection to the dead node as a console error: expected).
  const bad = errors.filter((e) => e.kind === 'page error' || e.at < killedAt);
  check(bad.length === 0, `errors in pages:\n  ${bad.map((e) => `${e.page}: ${e.kind}: ${e.text}`).join('\n  ')}`);
}

const ctx = {};
const watchdog = setTimeout(async () => {
  console.error(`[cluster-e2e] FAILED: the run took longer than ${RUN_LIMIT_MS / 1000} s`);
  await report(ctx);
  await cleanup();
  process.exit(1);
}, RUN_LIMIT_MS);

/** What helps diagnose a failure: ann's client, its console, the nodes' logs. */
async function report(ctx) {
  try {
    if (ctx.ann && !ctx.ann.isClosed()) {
      const facts = await ctx.ann.evaluate(() => ({
        state: window.tickcast?.state,
        playerId: window.tickcast?.playerId,
        room: window.tickcast?.room,
        node: window.tickcast?.node,
        nodeUrl: window.tickcast?.nodeUrl,
        stats: window.tickcast?.stats,
        goneReason: window.tickcast?.goneReason,
        states: window.__states,
        matchmakes: window.__matchmakes,
        redirects: window.__redirects,
        welcomes: window.__welcomes,
        log: document.getElementById('log')?.innerText,
      }));
      console.error(`--- ann's client ---\n${JSON.stringify(facts, null, 1)}`);
    }
  } catch (e) {
    console.error(`(ann's page could not be read: ${e.message})`);
  }
  if (ctx.consoleLog?.length) console.error(`--- browser console (tail) ---\n${ctx.consoleLog.slice(-40).join('\n')}`);
  for (const c of children) if (c.log) console.error(`--- ${c.label} output (tail) ---\n${c.log.slice(-5000)}`);
}

try {
  await run(ctx);
  say('PASSED');
} catch (error) {
  process.exitCode = 1;
  console.error(`[cluster-e2e] FAILED: ${error.stack || error}`);
  await report(ctx);
} finally {
  clearTimeout(watchdog);
  await cleanup();
}

// End-to-end test of the browser client and the arena demo in a real Chromium.
//
//   node tests/browser/e2e.mjs
//
// Needs: Debian's chromium (`apt-get install -y chromium`, or CHROMIUM_PATH), npm
// `playwright-core` (`npm i`), and a built server: TICKCAST_BIN, else
// the newest of $CARGO_TARGET_DIR/{release,debug}/tickcast and target/{release,debug}/tickcast.
// It builds nothing. It starts the server on free loopback ports with the admin API on,
// then checks, in order:
//   1. two pages join the same named room through URL parameters and see each other;
//   2. a movement key held in page A moves A's entity in page B (and in A at once);
//   3. a phone-sized page joins the same room through the room picker (touch device);
//   4. the server closes A's session (admin disconnect, code 1012): A goes
//      reconnecting -> live, resumes the same player id, and can still move;
//   5. no page error and no console error anywhere.
// Screenshots go to target/screenshots/. Every wait is bounded; the whole run is capped.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CHROMIUM, CHROMIUM_FLAGS, ROOT, SHOTS, check, freePort, sayer, serverBinary, sleep } from './harness.mjs';

const RUN_LIMIT_MS = 75_000;
const WAIT_MS = 10_000;
const ROOM = 'e2e';
const say = sayer('e2e');

let server = null;
let serverLog = '';
let browser = null;

async function startServer() {
  const bin = serverBinary();
  const [port, adminPort] = [await freePort(), await freePort()];
  const adminToken = randomBytes(16).toString('hex');
  say(`starting ${bin} on 127.0.0.1:${port} (admin ${adminPort})`);
  server = spawn(bin, [], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TICKCAST__SERVER__BIND: `127.0.0.1:${port}`,
      TICKCAST__ADMIN__BIND: `127.0.0.1:${adminPort}`,
      TICKCAST__ADMIN__TOKEN: adminToken,
      TICKCAST__SERVER__SHUTDOWN_GRACE_S: '1',
    },
  });
  const keep = (chunk) => {
    serverLog = (serverLog + chunk).slice(-20_000);
  };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  const exited = new Promise((r) => server.once('exit', (code, signal) => r({ code, signal })));
  server.exited = exited;
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const gone = await Promise.race([exited, sleep(100).then(() => null)]);
    if (gone) throw new Error(`server ${bin} exited before answering /healthz (${JSON.stringify(gone)}): is it a current build? (TICKCAST_BIN picks one)`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('server did not answer /healthz within 15 s');
  }
  say('server healthy');
  return { base, admin: `http://127.0.0.1:${adminPort}`, adminToken };
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  server.kill('SIGTERM');
  const done = await Promise.race([server.exited, sleep(5000).then(() => null)]);
  if (!done) {
    server.kill('SIGKILL');
    await Promise.race([server.exited, sleep(2000)]);
  }
}

/** Opens a page in its own browser context (own storage, like another device). */
async function openPage(name, contextOptions, errors) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${name}: console error: ${m.text()}`);
  });
  page.setDefaultTimeout(WAIT_MS);
  return page;
}

const waitLive = (page) =>
  page.waitForFunction(() => window.tickcast?.state === 'live' && window.tickcast.tick > 0 && window.tickcast.entities.size > 0, null, { timeout: WAIT_MS });

/** Where page `page` sees entity `id`, in quanta. */
const positionIn = (page, id) => page.evaluate((id) => window.tickcast.entities.get(id)?.fields.slice(0, 2) ?? null, id);

/** Holds `key` in `mover` until `observer` sees entity `id` at least `quanta` away from where it was. */
async function moveAndObserve(mover, observer, id, key, quanta) {
  const [x0, y0] = await positionIn(observer, id);
  await mover.keyboard.down(key);
  try {
    await observer.waitForFunction(
      ({ id, x0, y0, quanta }) => {
        const e = window.tickcast.entities.get(id);
        return e && Math.hypot(e.fields[0] - x0, e.fields[1] - y0) >= quanta;
      },
      { id, x0, y0, quanta },
      { timeout: WAIT_MS, polling: 50 },
    );
  } finally {
    await mover.keyboard.up(key);
  }
  const [x1, y1] = await positionIn(observer, id);
  return { from: [x0, y0], to: [x1, y1] };
}

/** The arrow key that moves away from the nearer vertical wall. */
async function keyAwayFromWall(page, id) {
  const [x] = await positionIn(page, id);
  return x < 5000 ? 'ArrowRight' : 'ArrowLeft';
}

async function run() {
  const errors = [];
  const { base, admin, adminToken } = await startServer();
  check(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: WAIT_MS });
  mkdirSync(SHOTS, { recursive: true });

  // 1. Two players in the same named room, joined by URL parameters.
  const desktop = { viewport: { width: 1024, height: 768 } };
  const a = await openPage('alice', desktop, errors);
  const b = await openPage('bob', desktop, errors);
  await a.goto(`${base}/?room=${ROOM}&name=alice`);
  await waitLive(a);
  await b.goto(`${base}/?room=${ROOM}&name=bob`);
  await waitLive(b);
  const idA = await a.evaluate(() => window.tickcast.playerId);
  const idB = await b.evaluate(() => window.tickcast.playerId);
  check(idA !== idB, `both pages got player id ${idA}`);
  for (const [page, who] of [[a, 'alice'], [b, 'bob']]) {
    const room = await page.evaluate(() => window.tickcast.room);
    check(room === ROOM, `${who} is in room ${room}, not ${ROOM}`);
  }
  await b.waitForFunction((id) => window.tickcast.entities.has(id) && window.tickcast.players.get(id) === 'alice', idA);
  await a.waitForFunction((id) => window.tickcast.players.get(id) === 'bob', idB);
  say(`alice is player ${idA}, bob is player ${idB}, both live in room ${ROOM}`);
  // The page speaks the newest protocol (3): its predictor comes from the server's
  // constants; a small arena has no view radius (every member sees everything).
  const spoken = await a.evaluate(() => ({ protocol: window.tickcast.protocol, speed: window.tickcast.constants.speed, view: window.tickcast.constants.view_radius }));
  check(spoken.protocol === 3 && spoken.speed === 200 && spoken.view === undefined, `page A speaks ${JSON.stringify(spoken)}, not protocol 3 with the small arena's constants`);

  // 2. A holds a key; B sees A's entity move; A's prediction moved too.
  const predictedBefore = await a.evaluate(() => window.tickcast.predicted);
  check(predictedBefore, 'page A has no predicted position for its own entity');
  const key = await keyAwayFromWall(b, idA);
  const moved = await moveAndObserve(a, b, idA, key, 300);
  say(`bob saw alice move ${JSON.stringify(moved.from)} -> ${JSON.stringify(moved.to)} (${key})`);
  const rtt = await a.evaluate(() => window.tickcast.rtt);
  check(typeof rtt === 'number' && rtt >= 0 && rtt < 1000, `page A rtt is ${rtt}`);
  await sleep(400); // a few frames for the screenshots
  await a.screenshot({ path: join(SHOTS, 'desktop-alice.png') });
  await b.screenshot({ path: join(SHOTS, 'desktop-bob.png') });
  say('desktop screenshots saved');

  // 3. A phone joins through the room picker.
  const phone = await openPage('carol', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }, errors);
  await phone.goto(`${base}/`);
  await phone.waitForSelector('#picker[open]');
  await phone.screenshot({ path: join(SHOTS, 'phone-picker.png') });
  await phone.fill('#pick-name', 'carol');
  await phone.fill('#pick-room', ROOM);
  await phone.click('#pick-join');
  await waitLive(phone);
  const phoneRoom = await phone.evaluate(() => window.tickcast.room);
  check(phoneRoom === ROOM, `the picker joined room ${phoneRoom}`);
  await phone.waitForFunction(({ idA, idB }) => window.tickcast.entities.has(idA) && window.tickcast.entities.has(idB), { idA, idB });
  check(await phone.isVisible('#boost'), 'no boost button on a touch device');
  await sleep(400);
  await phone.screenshot({ path: join(SHOTS, 'phone.png') });
  say('phone joined through the picker; screenshot saved');

  // 4. The server closes A's session (1012); A resumes the same player.
  await a.evaluate(() => {
    window.__states = [];
    window.tickcast.addEventListener('statechange', (e) => window.__states.push(e.detail.state));
  });
  const res = await fetch(`${admin}/admin/disconnect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ room: ROOM, player: idA }),
  });
  check(res.ok, `POST /admin/disconnect answered ${res.status} ${(await res.text()).trim()}`);
  await a.waitForFunction(() => {
    const s = window.__states;
    const i = s.indexOf('reconnecting');
    return i >= 0 && s.indexOf('live', i) > i;
  });
  const after = await a.evaluate(() => ({ id: window.tickcast.playerId, states: window.__states, resumes: window.tickcast.stats.resumes }));
  check(after.id === idA, `A came back as player ${after.id}, not ${idA}`);
  check(after.resumes >= 1, 'A did not resume');
  say(`A went ${after.states.join(' -> ')} and kept player id ${after.id}`);
  await waitLive(a);
  const key2 = await keyAwayFromWall(b, idA);
  await moveAndObserve(a, b, idA, key2, 200);
  say('A moves again after resuming, and B sees it');

  // 5. The picker's "Big world" joins the arena's `field` kind: a 3,600-unit map seen
  // through a view of 800, with a minimap; the page holds only what is near.
  const wide = await openPage('dave', desktop, errors);
  await wide.goto(`${base}/`);
  await wide.waitForSelector('#picker[open]');
  await wide.fill('#pick-name', 'dave');
  await wide.click('#pick-field');
  await waitLive(wide);
  const field = await wide.evaluate(() => ({ room: window.tickcast.room, protocol: window.tickcast.protocol, size: window.tickcast.constants.size, view: window.tickcast.constants.view_radius }));
  check(field.room === 'field' && field.protocol === 3 && field.size === 3600 && field.view === 400, `Big world joined ${JSON.stringify(field)}`);
  const idD = await wide.evaluate(() => window.tickcast.playerId);
  await wide.waitForFunction((id) => window.tickcast.entities.has(id), idD);
  await sleep(600); // the cells of the view arrive whole over the first ticks
  const held = await wide.evaluate(() => window.tickcast.entities.size);
  check(held > 1 && held < 640, `the field page holds ${held} entities: not only what is near (40 bots and 600 orbs in all)`);
  const keyD = await keyAwayFromWall(wide, idD);
  await moveAndObserve(wide, wide, idD, keyD, 300);
  await sleep(400);
  await wide.screenshot({ path: join(SHOTS, 'desktop-field.png') });
  say(`dave joined the big world through the picker (${held} entities near him of 641); screenshot saved`);

  // 6. Nothing went wrong in any page.
  check(errors.length === 0, `errors in pages:\n  ${errors.join('\n  ')}`);
  await a.screenshot({ path: join(SHOTS, 'desktop-alice-after-resume.png') });
}

const watchdog = setTimeout(async () => {
  console.error(`[e2e] FAILED: the run took longer than ${RUN_LIMIT_MS / 1000} s`);
  await browser?.close().catch(() => {});
  server?.kill('SIGKILL');
  process.exit(1);
}, RUN_LIMIT_MS);

try {
  await run();
  say('PASSED');
} catch (error) {
  process.exitCode = 1;
  console.error(`[e2e] FAILED: ${error.stack || error}`);
  if (serverLog) console.error(`--- server output (tail) ---\n${serverLog.slice(-4000)}`);
} finally {
  await browser?.close().catch(() => {});
  await stopServer();
  clearTimeout(watchdog);
}

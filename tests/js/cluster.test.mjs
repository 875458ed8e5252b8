// Cluster mode of the browser client against a scripted home server and fake nodes:
// `matchmake()` and its checks, placement through GET /api/matchmake on connect and on
// every reconnect, 4421 WRONG_NODE redirects, a room restored on another node from an
// older snapshot (ticks going back), and the one retry of a full join-or-create seat.
//
//   node --test tests/js/

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { MatchmakeError, SEAT_PREFIX, TickcastClient, arenaPredictor, matchmake, wrongNodeTarget } from '../../assets/tickcast.js';
import { FakeSocket, delta, lastSocket, snapshot, tick, until, welcome } from './fakes.mjs';

const HOME = 'http://home.test:8080';
const NODE_A = 'ws://node-a.test:9000';
const NODE_B = 'ws://node-b.test:9000';

/** A fetch answer: `body` is sent as text (an object as JSON). */
function answer(status, body = '') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { ok: status >= 200 && status < 300, status, text: async () => text, json: async () => JSON.parse(text) };
}

/** A good matchmake answer for `room` on node `node` (a ws:// origin). */
function placed(room, node = NODE_A, seat = 'seat.sig') {
  return { url: `${node}/ws?room=${room}`, room, node: new URL(node).hostname.split('.')[0], seat, expires_in: 10 };
}

/**
 * A client with matchmaking against a fake home server. `place(room, n)` answers the
 * n-th GET /api/matchmake (1-based; room null for join-or-create): a fetch answer, or an
 * Error to throw (a network failure). Default: room (or mm-3) on node A.
 */
function cluster({ place = (room, n) => answer(200, placed(room ?? 'mm-3', NODE_A, `seat${n}.sig`)), ...extra } = {}) {
  FakeSocket.all = [];
  const requests = [];
  const matchmakes = () => requests.filter((r) => r.path === '/api/matchmake');
  let minted = 0;
  const fetch = async (url, init = {}) => {
    const u = new URL(String(url));
    requests.push({ url: u.href, path: u.pathname, room: u.searchParams.get('room'), init });
    if (u.pathname === '/api/session') {
      minted++;
      return answer(200, { token: `tok${minted}`, expires_in: 600 });
    }
    if (u.pathname === '/api/matchmake') {
      const r = place(u.searchParams.get('room'), matchmakes().length);
      if (r instanceof Error) throw r;
      return r;
    }
    return answer(404, 'not found');
  };
  const client = new TickcastClient({
    url: HOME,
    name: 'alice',
    room: null,
    matchmake: true,
    WebSocket: FakeSocket,
    fetch,
    backoffBaseMs: 5,
    backoffCapMs: 20,
    ...extra,
  });
  clients.push(client);
  const states = [];
  client.addEventListener('statechange', (e) => states.push({ ...e.detail }));
  return { client, requests, matchmakes, states };
}

// A test that fails half way must not leave a client reconnecting (and the run hanging).
const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

const rejects = (promise, check) => assert.rejects(promise, (e) => (check(e), true));

// --- (a) matchmake() -------------------------------------------------------------------

test('matchmake() asks GET /api/matchmake and returns the checked answer', async () => {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url: String(url), init });
    return answer(200, { url: 'ws://10.0.0.2:8080/ws?room=arena', room: 'arena', node: 'node-b', seat: 'c2VhdA.c2ln', expires_in: 10 });
  };
  const got = await matchmake(HOME, 'arena', { fetch });
  assert.deepEqual(got, { url: 'ws://10.0.0.2:8080/ws?room=arena', room: 'arena', node: 'node-b', seat: 'c2VhdA.c2ln', expires_in: 10 });
  assert.equal(calls[0].url, 'http://home.test:8080/api/matchmake?room=arena');
  assert.equal(calls[0].init.method, 'GET');
  // Join-or-create: no room in the query.
  await matchmake(`${HOME}/`, null, { fetch: async (url) => (calls.push({ url: String(url) }), answer(200, placed('mm-3'))) });
  assert.equal(calls[1].url, 'http://home.test:8080/api/matchmake');
  await matchmake(HOME, '', { fetch: async (url) => (calls.push({ url: String(url) }), answer(200, placed('mm-3'))) });
  assert.equal(calls[2].url, 'http://home.test:8080/api/matchmake');
  // wss: is fine behind https:.
  const tls = await matchmake('https://home.test', null, { fetch: async () => answer(200, placed('mm-1', 'wss://node-c.test')) });
  assert.equal(tls.url, 'wss://node-c.test/ws?room=mm-1');
});

test('matchmake() refuses errors and malformed answers with the HTTP status and text', async () => {
  const with_ = (status, body) => ({ fetch: async () => answer(status, body) });
  for (const [status, text, retryable] of [
    [503, 'no capacity', true],
    [409, 'room is full', false],
    [400, 'invalid room name: too long', false],
    [403, 'origin not allowed', false],
    [429, 'too many requests', true],
  ]) {
    await rejects(matchmake(HOME, 'arena', with_(status, `${text}\n`)), (e) => {
      assert.ok(e instanceof MatchmakeError, `${status}: ${e}`);
      assert.equal(e.status, status);
      assert.equal(e.text, text);
      assert.equal(e.retryable, retryable, `${status}`);
      assert.match(e.message, new RegExp(`/api/matchmake\\?room=arena: ${status} ${text}`));
    });
  }
  // A network failure has no status.
  await rejects(matchmake(HOME, null, { fetch: async () => Promise.reject(new TypeError('Failed to fetch')) }), (e) => {
    assert.equal(e.status, 0);
    assert.equal(e.retryable, true);
    assert.match(e.message, /Failed to fetch/);
  });
  // A request that hangs is given up.
  const hang = (url, init) => new Promise((_, fail) => init.signal.addEventListener('abort', () => fail(new Error('aborted'))));
  await rejects(matchmake(HOME, null, { fetch: hang, timeoutMs: 20 }), (e) => {
    assert.equal(e.status, 0);
    assert.match(e.message, /timed out/);
  });

  const good = placed('arena');
  const bad200 = [
    ['not JSON', 'not json {'],
    ['an array', '[]'],
    ['null', 'null'],
    ...['url', 'room', 'node', 'seat', 'expires_in'].map((f) => [`without ${f}`, { ...good, [f]: undefined }]),
    ['a numeric url', { ...good, url: 42 }],
    ['a string expires_in', { ...good, expires_in: '10' }],
    ['a negative expires_in', { ...good, expires_in: -1 }],
    ['an http url', { ...good, url: 'http://node-a.test/ws?room=arena' }],
    ['a javascript: url', { ...good, url: 'javascript:alert(1)' }],
    ['a relative url', { ...good, url: '/ws?room=arena' }],
    ['a url with a fragment', { ...good, url: 'ws://node-a.test/ws?room=arena#x' }],
    ['a url with user info', { ...good, url: 'ws://u:p@node-a.test/ws?room=arena' }],
    ['another room', { ...good, room: 'other' }],
    ['a bad room name', { ...good, room: 'no spaces' }],
    ['a seat that cannot be a subprotocol', { ...good, seat: 'seat, tickcast.v2' }],
    ['an empty seat', { ...good, seat: '' }],
  ];
  for (const [what, body] of bad200) {
    await rejects(matchmake(HOME, 'arena', with_(200, body)), (e) => {
      assert.ok(e instanceof MatchmakeError, `${what}: ${e}`);
      assert.equal(e.status, 200, what);
      assert.equal(e.retryable, true, what);
      assert.match(e.message, /^GET \/api\/matchmake\?room=arena: 200 but /, what);
    });
  }
  // Behind https:, a plain ws: node would expose the credentials.
  await rejects(matchmake('https://home.test', null, with_(200, placed('mm-1', 'ws://node-c.test'))), (e) => assert.equal(e.status, 200));
});

test('wrongNodeTarget() accepts only whole ws:/wss: URLs and never downgrades wss:', () => {
  assert.equal(wrongNodeTarget('ws://10.0.0.2:8080/ws?room=arena'), 'ws://10.0.0.2:8080/ws?room=arena');
  assert.equal(wrongNodeTarget('wss://b.example/ws?room=arena', 'wss://a.example/ws'), 'wss://b.example/ws?room=arena');
  for (const reason of ['', 'garbage', 'room moved', 'javascript:alert(1)', 'http://b.example/ws', 'ws:b.example', 'ws://', ' ws://b.example/ws', 'ws://b.example/ws room', 'ws://b.example/ws#top', 'ws://user@b.example/ws', null, undefined, 4421]) {
    assert.equal(wrongNodeTarget(reason), null, String(reason));
  }
  assert.equal(wrongNodeTarget('ws://b.example/ws', 'wss://a.example/ws'), null);
  assert.equal(wrongNodeTarget('ws://b.example/ws', 'https://a.example'), null);
});

// --- (b) placement on the first connect ------------------------------------------------

test('a first connect asks /api/matchmake and offers token and seat on the node it names', async () => {
  const { client, requests } = cluster({ place: () => answer(200, placed('mm-3', NODE_B, 'c2VhdA.c2ln')) });
  const answers = [];
  client.addEventListener('matchmake', (e) => answers.push(e.detail));
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  assert.deepEqual(requests.map((r) => r.path), ['/api/session', '/api/matchmake']);
  assert.equal(requests[1].room, null, 'join-or-create');
  const ws = lastSocket();
  assert.equal(ws.url, 'ws://node-b.test:9000/ws?room=mm-3');
  assert.deepEqual(ws.protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.token.tok1', `${SEAT_PREFIX}c2VhdA.c2ln`]);
  assert.equal(client.node, 'node-b');
  assert.equal(client.nodeUrl, ws.url);
  assert.equal(answers.length, 1);
  ws.deliver(welcome({ player: 3, room: 'mm-3' }));
  assert.equal(client.state, 'live');
  assert.equal(client.room, 'mm-3');
  client.close();
});

test('a named room is asked for by name; matchmake may be another base than url', async () => {
  const { client, requests } = cluster({ room: 'arena', matchmake: 'http://lobby.test' });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  assert.equal(requests[0].url, 'http://home.test:8080/api/session');
  assert.equal(requests[1].url, 'http://lobby.test/api/matchmake?room=arena');
  assert.equal(lastSocket().url, 'ws://node-a.test:9000/ws?room=arena');
  assert.equal(lastSocket().seat, 'seat1.sig');
  client.close();
  assert.throws(() => new TickcastClient({ url: HOME, name: 'a', matchmake: 'ftp://x' }), TypeError);
});

test('a failing matchmake (network, 503) backs off and asks again', async () => {
  const { client, matchmakes, states } = cluster({
    place: (room, n) => (n === 1 ? new TypeError('Failed to fetch') : n === 2 ? answer(503, 'cluster directory unavailable') : answer(200, placed('mm-1'))),
  });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  assert.equal(matchmakes().length, 3);
  assert.deepEqual(states.map((s) => s.state), ['connecting', 'reconnecting', 'reconnecting']);
  assert.match(states[2].reason, /503 cluster directory unavailable/);
  assert.equal(client.stats.reconnects, 2);
  client.close();
});

test('a server without /api/matchmake (404) is joined directly', async () => {
  const { client, matchmakes } = cluster({ room: 'arena', place: () => answer(404, 'not found') });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  assert.equal(lastSocket().url, 'ws://home.test:8080/ws?room=arena');
  assert.deepEqual(lastSocket().protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.token.tok1']);
  lastSocket().deliver(welcome({ player: 1, room: 'arena', resume: 'R1' }));
  lastSocket().onclose({ code: 1006, reason: '' });
  await until('resume', () => FakeSocket.all.length === 2);
  assert.equal(matchmakes().length, 1, 'not asked again');
  assert.equal(lastSocket().resume, 'R1');
  client.close();
});

test('a 400 or 403 from matchmake ends the client', async () => {
  for (const status of [400, 403]) {
    const { client } = cluster({ place: () => answer(status, 'nope') });
    client.connect();
    await until('gone', () => client.state === 'gone');
    assert.match(client.goneReason.reason, new RegExp(`${status} nope`));
    assert.equal(FakeSocket.all.length, 0);
  }
});

// --- (c) 4421 WRONG_NODE ---------------------------------------------------------------

test('4421 reconnects at once to the URL in its reason, with the same credentials', async () => {
  const { client, matchmakes, states } = cluster();
  const redirects = [];
  client.addEventListener('redirect', (e) => redirects.push(e.detail));
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const first = lastSocket();
  first.serverClose(4421, 'ws://10.0.0.2:8080/ws?room=mm-3');
  // At once: no backoff, not a failure, no new token and no new matchmake.
  assert.equal(FakeSocket.all.length, 2);
  const second = lastSocket();
  assert.equal(second.url, 'ws://10.0.0.2:8080/ws?room=mm-3');
  assert.deepEqual(second.protocols, first.protocols);
  assert.equal(client.state, 'connecting');
  assert.equal(client.stats.reconnects, 0);
  assert.equal(client.stats.redirects, 1);
  assert.equal(matchmakes().length, 1);
  assert.deepEqual(redirects, [{ url: 'ws://10.0.0.2:8080/ws?room=mm-3', reason: 'ws://10.0.0.2:8080/ws?room=mm-3' }]);
  second.deliver(welcome({ player: 5, room: 'mm-3', resume: 'R5' }));
  assert.equal(client.state, 'live');
  assert.equal(client.nodeUrl, 'ws://10.0.0.2:8080/ws?room=mm-3');

  // A resume that reaches the wrong node follows too, with its resume token.
  second.onclose({ code: 1006, reason: '' });
  await until('resume', () => FakeSocket.all.length === 3);
  assert.equal(lastSocket().resume, 'R5');
  lastSocket().serverClose(4421, 'wss://node-c.test/ws?room=mm-3');
  assert.equal(FakeSocket.all.length, 4);
  assert.equal(lastSocket().url, 'wss://node-c.test/ws?room=mm-3');
  assert.deepEqual(lastSocket().protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.resume.R5']);
  assert.deepEqual(states.map((s) => s.state), ['connecting', 'live', 'reconnecting']);
  client.close();
});

test('4421 is followed without matchmaking too (a node reached directly)', async () => {
  const { client, matchmakes } = cluster({ matchmake: false, room: 'arena' });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  assert.equal(lastSocket().url, 'ws://home.test:8080/ws?room=arena');
  lastSocket().serverClose(4421, 'ws://10.0.0.2:8080/ws?room=arena');
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(lastSocket().url, 'ws://10.0.0.2:8080/ws?room=arena');
  assert.deepEqual(lastSocket().protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.token.tok1']);
  assert.equal(matchmakes().length, 0);
  client.close();
});

for (const reason of ['javascript:alert(1)', 'garbage', 'http://10.0.0.2:8080/ws?room=mm-3', '']) {
  test(`4421 with an unusable reason (${JSON.stringify(reason)}) is a failed attempt, not a redirect`, async () => {
    const { client, matchmakes } = cluster();
    client.connect();
    await until('socket', () => FakeSocket.all.length === 1);
    lastSocket().serverClose(4421, reason);
    assert.equal(FakeSocket.all.length, 1, 'no immediate reconnection');
    assert.equal(client.state, 'reconnecting');
    assert.equal(client.stats.redirects, 0);
    assert.equal(client.stats.reconnects, 1);
    // After the backoff: placed by matchmaking again, never sent to the reason.
    await until('retry', () => FakeSocket.all.length === 2);
    assert.equal(lastSocket().url, 'ws://node-a.test:9000/ws?room=mm-3');
    assert.equal(matchmakes().length, 2);
    client.close();
  });
}

test('4421 from a wss: node to a ws: URL is not followed', async () => {
  const { client } = cluster({ place: () => answer(200, placed('mm-3', 'wss://node-a.test')) });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().serverClose(4421, 'ws://node-b.test/ws?room=mm-3');
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(client.state, 'reconnecting');
  client.close();
});

test('more than maxRedirects 4421s in a row stop redirecting and back off', async () => {
  const { client, matchmakes } = cluster();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  for (let i = 1; i <= 3; i++) {
    lastSocket().serverClose(4421, `ws://node-${i}.test/ws?room=mm-3`);
    assert.equal(FakeSocket.all.length, 1 + i, `redirect ${i} followed at once`);
    assert.equal(lastSocket().url, `ws://node-${i}.test/ws?room=mm-3`);
  }
  lastSocket().serverClose(4421, 'ws://node-4.test/ws?room=mm-3');
  assert.equal(FakeSocket.all.length, 4, 'the fourth is not followed');
  assert.equal(client.state, 'reconnecting');
  assert.equal(client.stats.redirects, 3);
  assert.equal(client.stats.reconnects, 1);
  // The retry starts over from matchmaking, with a fresh redirect budget.
  await until('retry', () => FakeSocket.all.length === 5);
  assert.equal(lastSocket().url, 'ws://node-a.test:9000/ws?room=mm-3');
  assert.equal(matchmakes().length, 2);
  lastSocket().serverClose(4421, 'ws://node-5.test/ws?room=mm-3');
  assert.equal(FakeSocket.all.length, 6);
  client.close();
});

test('a 4421 chain with maxRetries 0 ends the client after the cap', async () => {
  const { client } = cluster({ maxRetries: 0, maxRedirects: 1 });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().serverClose(4421, 'ws://node-1.test/ws');
  assert.equal(FakeSocket.all.length, 2);
  lastSocket().serverClose(4421, 'ws://node-2.test/ws');
  assert.equal(client.state, 'gone');
  assert.match(client.goneReason.reason, /redirects in a row/);
});

// --- (d) a room restored on another node -----------------------------------------------

test('after a drop the client asks matchmake for its room, resumes on the new node, and accepts older ticks', async () => {
  const { client, requests, matchmakes, states } = cluster({
    predictor: arenaPredictor(),
    place: (room, n) => answer(200, placed(room ?? 'mm-3', n === 1 ? NODE_A : NODE_B, `seat${n}.sig`)),
  });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const a = lastSocket();
  assert.equal(a.url, 'ws://node-a.test:9000/ws?room=mm-3');
  a.deliver(welcome({ player: 7, room: 'mm-3', tick: 100, resume: 'R7', players: [{ id: 2, name: 'bob' }] }));
  const oldTime = Date.now() * 1000;
  a.deliver(snapshot({ tick: 100, time: oldTime, entities: [{ id: 2, kind: 0, fields: [1000, 1000, 4] }, { id: 7, kind: 0, fields: [5000, 5000, 2] }] }));
  for (let t = 100; t < 105; t++) a.deliver(delta({ tick: t + 1, base: t, time: oldTime + (t - 99) * 50_000, changed: [{ id: 2, mask: 1, changes: [10] }] }));
  assert.equal(client.tick, 105);
  assert.deepEqual(client.entities.get(2).fields, [1050, 1000, 4]);
  client.setInput([1, 0, 0]);
  await until('inputs', () => a.sent.filter((m) => m.type === 'Input').length >= 2);
  const seqBefore = a.sent.filter((m) => m.type === 'Input').at(-1).seq;

  // Node A dies: the connection drops without a close frame.
  a.readyState = 3;
  a.onclose({ code: 1006, reason: '' });
  assert.equal(client.state, 'reconnecting');
  await until('resume on node B', () => FakeSocket.all.length === 2);
  assert.equal(matchmakes().length, 2);
  assert.equal(matchmakes()[1].url, 'http://home.test:8080/api/matchmake?room=mm-3&resume=1', 'a resume takes no seat');
  assert.equal(requests.filter((r) => r.path === '/api/session').length, 1, 'no new token for a resume');
  const b = lastSocket();
  assert.equal(b.url, 'ws://node-b.test:9000/ws?room=mm-3');
  assert.deepEqual(b.protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.resume.R7'], 'a resume offers its resume token, no seat');

  // Node B restored the room from a snapshot of tick 90, with its own clock (3 s behind).
  b.deliver(welcome({ player: 7, room: 'mm-3', tick: 90, resume: 'R7b', players: [{ id: 2, name: 'bob' }, { id: 7, name: 'alice' }] }));
  assert.equal(client.state, 'live');
  assert.equal(states.at(-1).resumed, true);
  assert.equal(client.stats.resumes, 1);
  assert.equal(client.playerId, 7);
  const newTime = oldTime - 3_000_000;
  b.deliver(snapshot({ tick: 90, time: newTime, entities: [{ id: 2, kind: 0, fields: [900, 900, 3] }, { id: 7, kind: 0, fields: [4000, 4000, 1] }] }));
  assert.equal(client.tick, 90, 'the older snapshot replaces the state');
  assert.deepEqual(client.entities.get(7).fields, [4000, 4000, 1]);
  assert.deepEqual(client.predicted.slice(0, 2), [4000, 4000], 'the prediction restarts from the restored position');
  b.deliver(delta({ tick: 91, base: 90, time: newTime + 50_000, changed: [{ id: 2, mask: 0b101, changes: [-100, 1] }] }));
  b.deliver(delta({ tick: 92, base: 91, time: newTime + 100_000, created: [{ id: 16777216, kind: 1, fields: [2500, 2500] }] }));
  assert.equal(client.tick, 92);
  assert.equal(client.stats.refusedDeltas, 0, 'no update refused for going back in time');
  assert.deepEqual(client.entities.get(2).fields, [800, 900, 4]);
  assert.ok(client.entities.has(16777216));
  // What is drawn comes from the restored timeline only.
  const drawn = new Map(client.view().entities.map((e) => [e.id, e]));
  assert.ok(drawn.get(2).fields[0] >= 800 && drawn.get(2).fields[0] <= 900, `bob drawn at ${drawn.get(2).fields[0]}`);
  // Inputs are numbered afresh on the new connection (its acknowledgement starts at 0).
  await until('input on node B', () => b.sent.some((m) => m.type === 'Input'));
  const firstSeq = b.sent.find((m) => m.type === 'Input').seq;
  assert.equal(firstSeq, 1, `seq ${firstSeq} after ${seqBefore}`);
  client.close();
});

test('a restored snapshot with the same tick as the last one seen is not taken for a duplicate', async () => {
  const { client } = cluster({ place: (room, n) => answer(200, placed(room ?? 'mm-3', n === 1 ? NODE_A : NODE_B)) });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 7, room: 'mm-3', resume: 'R7' }));
  lastSocket().deliver(snapshot({ tick: 50, entities: [{ id: 7, kind: 0, fields: [5000, 5000, 0] }] }));
  assert.deepEqual(client.view().entities.find((e) => e.id === 7).fields, [5000, 5000, 0]);
  lastSocket().serverClose(1012, 'room moved');
  await until('resume', () => FakeSocket.all.length === 2);
  assert.equal(lastSocket().url, 'ws://node-b.test:9000/ws?room=mm-3');
  lastSocket().deliver(welcome({ player: 7, room: 'mm-3', tick: 50, resume: 'R7b' }));
  lastSocket().deliver(snapshot({ tick: 50, entities: [{ id: 7, kind: 0, fields: [3000, 3000, 0] }] }));
  assert.deepEqual(client.entities.get(7).fields, [3000, 3000, 0]);
  assert.deepEqual(client.view().entities.find((e) => e.id === 7).fields, [3000, 3000, 0]);
  client.close();
});

test('a resume keeps asking matchmake through failures, then falls back to a fresh join on 4401', async () => {
  const { client, matchmakes } = cluster({
    place: (room, n) => (n === 2 ? new TypeError('Failed to fetch') : n === 3 ? answer(503, 'no capacity') : answer(200, placed(room ?? 'mm-3', NODE_B, `seat${n}.sig`))),
  });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 7, room: 'mm-3', resume: 'R7' }));
  lastSocket().onclose({ code: 1006, reason: '' });
  await until('resume', () => FakeSocket.all.length === 2);
  assert.deepEqual(matchmakes().map((r) => r.room), [null, 'mm-3', 'mm-3', 'mm-3']);
  assert.equal(lastSocket().resume, 'R7');
  // The room could not be restored: join afresh, placed by matchmaking with a seat.
  lastSocket().serverClose(4401, 'resume refused: room no longer exists');
  await until('fresh join', () => FakeSocket.all.length === 3);
  assert.equal(matchmakes().at(-1).room, null);
  assert.equal(lastSocket().token, 'tok1');
  assert.equal(lastSocket().seat, 'seat5.sig');
  assert.equal(lastSocket().resume, undefined);
  client.close();
});

test('a resume told 410 (room gone) by matchmake joins afresh at once, through matchmaking', async () => {
  const { client, matchmakes } = cluster({
    place: (room, n) => (n === 2 ? answer(410, 'no such room: join afresh') : answer(200, placed(room ?? 'mm-9', NODE_B, `seat${n}.sig`))),
  });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 7, room: 'mm-3', resume: 'R7' }));
  lastSocket().onclose({ code: 1006, reason: '' });
  await until('fresh join', () => FakeSocket.all.length === 2);
  assert.ok(matchmakes()[1].url.endsWith('?room=mm-3&resume=1'));
  assert.equal(matchmakes()[2].room, null, 'then join-or-create');
  assert.equal(lastSocket().resume, undefined);
  assert.equal(lastSocket().seat, 'seat3.sig');
  client.close();
});

test('a resume told "room full" by matchmake asks the home server, which redirects', async () => {
  const { client } = cluster({ place: (room, n) => (n === 1 ? answer(200, placed('mm-3')) : answer(409, 'room is full')) });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 7, room: 'mm-3', resume: 'R7' }));
  lastSocket().onclose({ code: 1006, reason: '' });
  await until('resume', () => FakeSocket.all.length === 2);
  assert.equal(lastSocket().url, 'ws://home.test:8080/ws?room=mm-3');
  assert.deepEqual(lastSocket().protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.resume.R7']);
  lastSocket().serverClose(4421, 'ws://node-b.test:9000/ws?room=mm-3');
  assert.equal(lastSocket().url, 'ws://node-b.test:9000/ws?room=mm-3');
  lastSocket().deliver(welcome({ player: 7, room: 'mm-3', resume: 'R7b' }));
  assert.equal(client.stats.resumes, 1);
  client.close();
});

// --- (e) a full join-or-create room ----------------------------------------------------

test('4409 right after a join-or-create seat asks matchmake exactly once more', async () => {
  const { client, matchmakes } = cluster();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  assert.equal(lastSocket().seat, 'seat1.sig');
  lastSocket().serverClose(4409, 'room is full');
  await until('second seat', () => FakeSocket.all.length === 2);
  assert.equal(matchmakes().length, 2);
  assert.equal(matchmakes()[1].room, null);
  assert.equal(lastSocket().seat, 'seat2.sig');
  assert.equal(client.stats.reconnects, 0);
  lastSocket().serverClose(4409, 'room is full');
  assert.equal(client.state, 'gone');
  assert.equal(client.goneReason.code, 4409);
  await tick(60);
  assert.equal(matchmakes().length, 2);
  assert.equal(FakeSocket.all.length, 2);
});

test('4409 for a named room, or a 409 from matchmake, ends the client at once', async () => {
  {
    const { client, matchmakes } = cluster({ room: 'arena' });
    client.connect();
    await until('socket', () => FakeSocket.all.length === 1);
    lastSocket().serverClose(4409, 'room is full');
    assert.equal(client.state, 'gone');
    assert.equal(client.goneReason.code, 4409);
    await tick(30);
    assert.equal(matchmakes().length, 1);
  }
  {
    const { client } = cluster({ room: 'arena', place: () => answer(409, 'room is full') });
    client.connect();
    await until('gone', () => client.state === 'gone');
    assert.equal(client.goneReason.code, 4409);
    assert.equal(FakeSocket.all.length, 0);
  }
});

test('a 4409 after the player was live is not retried', async () => {
  const { client, matchmakes } = cluster();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 1, room: 'mm-3' }));
  lastSocket().serverClose(4409, 'room is full');
  assert.equal(client.state, 'gone');
  assert.equal(matchmakes().length, 1);
});

// TickcastClient's connection lifecycle against a scripted fake server: token, handshake,
// live state, inputs, RTT, prediction, and what each close code makes it do.
//
//   node --test tests/js/

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Prediction, TickcastClient, arenaPredictor, arenaPredictorFromConstants } from '../../assets/tickcast.js';
import { FakeSocket, emptyDelta, lastSocket, notice, pong, snapshot, tick, until, welcome } from './fakes.mjs';

function harness(extra = {}) {
  FakeSocket.all = [];
  const requests = [];
  let minted = 0;
  const fetch = async (url, init) => {
    requests.push({ url: String(url), init });
    minted++;
    return { ok: true, status: 200, json: async () => ({ token: `tok${minted}`, expires_in: 600 }), text: async () => '' };
  };
  const client = new TickcastClient({
    url: 'http://game.test:8080',
    name: 'alice',
    room: 'r',
    WebSocket: FakeSocket,
    fetch,
    backoffBaseMs: 5,
    backoffCapMs: 20,
    ...extra,
  });
  clients.push(client);
  const states = [];
  client.addEventListener('statechange', (e) => states.push(e.detail.state));
  return { client, requests, states };
}

// A test that fails half way must not leave a client reconnecting (and the run hanging).
const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

test('joins with a guest token, goes live on Welcome and applies updates', async () => {
  const { client, requests, states } = harness();
  client.connect();
  assert.equal(client.state, 'connecting');
  await until('socket', () => FakeSocket.all.length === 1);
  assert.equal(requests[0].url, 'http://game.test:8080/api/session');
  assert.equal(requests[0].init.method, 'POST');
  assert.deepEqual(JSON.parse(requests[0].init.body), { name: 'alice' });
  const ws = lastSocket();
  assert.equal(ws.url, 'ws://game.test:8080/ws?room=r');
  assert.deepEqual(ws.protocols, ['tickcast.v3', 'tickcast.v2', 'tickcast.v1', 'tickcast.token.tok1']);
  assert.equal(ws.binaryType, 'arraybuffer');

  ws.deliver(welcome({ player: 4, players: [{ id: 2, name: 'bob' }] }));
  assert.equal(client.state, 'live');
  assert.equal(client.playerId, 4);
  assert.equal(client.room, 'r');
  ws.deliver(snapshot({ tick: 10, entities: [{ id: 2, kind: 0, fields: [100, 200, 1] }, { id: 4, kind: 0, fields: [5000, 5000, 0] }], ev: [{ type: 'Joined', player: 4, name: 'alice' }] }));
  assert.equal(client.tick, 10);
  assert.deepEqual(client.entities.get(2), { kind: 0, fields: [100, 200, 1] });
  assert.equal(client.players.get(2), 'bob');
  assert.equal(client.players.get(4), 'alice');

  // A delta from a tick we do not hold is ignored; one from ours applies.
  ws.deliver(emptyDelta({ tick: 12, base: 11 }));
  assert.equal(client.tick, 10);
  assert.equal(client.stats.refusedDeltas, 1);
  ws.deliver(emptyDelta({ tick: 11, base: 10 }));
  assert.equal(client.tick, 11);
  assert.deepEqual(states, ['connecting', 'live']);
  client.close();
  assert.equal(client.state, 'gone');
});

test('with prediction: one input per tick with increasing seq, only when nothing is buffered', async () => {
  const { client } = harness({ predictor: arenaPredictor() });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 1, rate: 50 }));
  client.setInput([1, 0, 1]);
  const inputs = () => ws.sent.filter((m) => m.type === 'Input');
  await until('three inputs', () => inputs().length >= 3);
  assert.deepEqual(inputs().map((m) => m.seq).slice(0, 3), [1, 2, 3]);
  assert.deepEqual(inputs()[0].values, [1, 0, 1]);
  ws.bufferedAmount = 100;
  await tick(5);
  const before = inputs().length;
  await tick(100);
  assert.equal(inputs().length, before, 'no input while bytes are buffered');
  // Out-of-range input is clamped to the schema's ranges.
  ws.bufferedAmount = 0;
  client.setInput([5, -9, 300]);
  await until('clamped input', () => inputs().some((m) => m.values[0] === 1 && m.values[1] === -1 && m.values[2] === 255));
  // Standing still is sent once, then not repeated: repeating it would change nothing.
  client.setInput([0, 0, 0]);
  await until('idle input', () => inputs().at(-1).values.every((v) => v === 0));
  const idle = inputs().length;
  await tick(100);
  assert.equal(inputs().length, idle, 'an unchanged idle input is not resent');
  client.close();
});

test('a version 2 Welcome gives the client the game constants, and the predictor is made from them', async () => {
  /** @type {Record<string, number>[]} */
  const seen = [];
  const { client } = harness({
    predictor: (constants) => {
      seen.push(constants);
      return arenaPredictorFromConstants(constants);
    },
  });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  assert.deepEqual(ws.protocols.slice(0, 3), ['tickcast.v3', 'tickcast.v2', 'tickcast.v1'], 'every version offered, newest first');
  ws.deliver(welcome({ player: 1, rate: 50, constants: [{ name: 'speed', value: 400 }, { name: 'size', value: 500 }] }));
  await until('live', () => client.state === 'live');
  assert.equal(client.protocol, 2);
  assert.deepEqual(client.constants, { speed: 400, size: 500 });
  assert.deepEqual(seen, [{ speed: 400, size: 500 }]);
  // speed 400 at 50 Hz: 80 quanta per tick (the default speed would give 40).
  const p = arenaPredictorFromConstants(client.constants);
  assert.deepEqual(p.step([1000, 1000, 0], [1, 0, 0], { rateHz: 50 }), [1080, 1000, 0]);
  // Clamped at the configured size: (500 - 20) * 10.
  assert.deepEqual(p.step([4790, 1000, 0], [1, 0, 0], { rateHz: 50 }), [4800, 1000, 0]);
  client.close();
});

test('a version 1 Welcome leaves the constants empty and the predictor on its defaults', async () => {
  const { client } = harness({ predictor: arenaPredictorFromConstants });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 1, rate: 20 }));
  await until('live', () => client.state === 'live');
  assert.equal(client.protocol, 1);
  assert.deepEqual(client.constants, {});
  assert.deepEqual(arenaPredictorFromConstants({}).step([1000, 1000, 0], [1, 0, 0], { rateHz: 20 }), [1100, 1000, 0]);
  client.close();
});

test('without prediction only changes of input are sent', async () => {
  const { client } = harness();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 1, rate: 50 }));
  const inputs = () => ws.sent.filter((m) => m.type === 'Input');
  client.setInput([1, 0, 0]);
  await until('first input', () => inputs().length === 1);
  await tick(100);
  assert.equal(inputs().length, 1);
  client.setInput([0, 1, 0]);
  await until('second input', () => inputs().length === 2);
  assert.deepEqual(inputs().map((m) => [m.seq, m.values]), [[1, [1, 0, 0]], [2, [0, 1, 0]]]);
  client.close();
});

test('a backlog of inputs on the server is drained by skipping one unchanged input', async () => {
  const { client } = harness({ predictor: arenaPredictor() });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 1, rate: 50 }));
  ws.deliver(snapshot({ tick: 1, entities: [{ id: 1, kind: 0, fields: [5000, 5000, 0] }] }));
  client.setInput([1, 0, 0]);
  // The server acks 5 behind what was sent for a whole second (RTT unknown: 0).
  let t = 1;
  for (let i = 0; i < 60 && client.stats.inputsSkipped === 0; i++) {
    await tick(20);
    const sent = ws.sent.filter((m) => m.type === 'Input').length;
    ws.deliver(emptyDelta({ tick: t + 1, base: t, ack: Math.max(0, sent - 5) }));
    t++;
  }
  assert.equal(client.stats.inputsSkipped, 1);
  client.close();
});

test('a broken delta chain is waited out, then resumed', async () => {
  const { client } = harness();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 2, rate: 20, resume: 'R2' }));
  ws.deliver(snapshot({ tick: 5, entities: [] }));
  for (let t = 7; t < 7 + 19; t++) ws.deliver(emptyDelta({ tick: t + 1, base: t }));
  assert.equal(client.state, 'live', 'refused deltas alone do not end the session at once');
  ws.deliver(emptyDelta({ tick: 100, base: 99 }));
  assert.equal(client.state, 'reconnecting');
  await until('resume', () => FakeSocket.all.length === 2);
  assert.equal(lastSocket().resume, 'R2');
  client.close();
});

test('measures RTT from Ping/Pong', async () => {
  const { client } = harness();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 1 }));
  const ping = ws.sent.find((m) => m.type === 'Ping');
  assert.ok(ping, 'a Ping is sent on going live');
  await tick(20);
  ws.deliver(pong(ping.client_time));
  assert.ok(client.rtt >= 15 && client.rtt < 1000, `rtt ${client.rtt}`);
  client.close();
});

test('predicts its own movement at once and reconciles on ack', async () => {
  const { client } = harness({ predictor: arenaPredictor() });
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 3, rate: 50 }));
  ws.deliver(snapshot({ tick: 1, entities: [{ id: 3, kind: 0, fields: [5000, 5000, 0] }] }));
  client.setInput([1, 0, 0]);
  await until('two inputs', () => ws.sent.filter((m) => m.type === 'Input').length >= 2);
  client.setInput([0, 0, 0]);
  const sent = ws.sent.filter((m) => m.type === 'Input' && m.values[0] === 1).length;
  // 50 Hz: 40 quanta per tick.
  assert.equal(client.predicted[0], 5000 + 40 * sent);
  // The server applied the first input only: prediction = server + replay of the rest.
  ws.deliver(emptyDelta({ tick: 2, base: 1, ack: 1 }));
  assert.ok(client.predicted[0] >= 5000 + 40 * (sent - 1));
  client.close();
});

test('a dropped session (1012) reconnects and resumes the same player', async () => {
  const { client, states } = harness();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 9, resume: 'R9' }));
  lastSocket().serverClose(1012, 'disconnected by an admin');
  assert.equal(client.state, 'reconnecting');
  await until('second socket', () => FakeSocket.all.length === 2);
  assert.equal(lastSocket().resume, 'R9');
  assert.equal(lastSocket().token, undefined);
  lastSocket().deliver(welcome({ player: 9, resume: 'R9b' }));
  assert.equal(client.state, 'live');
  assert.equal(client.playerId, 9);
  assert.equal(client.stats.resumes, 1);
  assert.deepEqual(states, ['connecting', 'live', 'reconnecting', 'live']);
  client.close();
});

test('a refused resume (4401) falls back to a fresh join with a token', async () => {
  const { client, requests } = harness();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  lastSocket().deliver(welcome({ player: 9 }));
  lastSocket().serverClose(1006);
  await until('resume attempt', () => FakeSocket.all.length === 2);
  assert.ok(lastSocket().resume);
  lastSocket().serverClose(4401, 'resume refused: player no longer in room');
  await until('fresh join', () => FakeSocket.all.length === 3);
  assert.equal(lastSocket().resume, undefined);
  assert.equal(lastSocket().token, 'tok1', 'the guest token is still good');
  lastSocket().deliver(welcome({ player: 12 }));
  assert.equal(client.playerId, 12);
  // A refused token (not a resume) is replaced by a new one.
  lastSocket().serverClose(1012);
  await until('resume', () => FakeSocket.all.length === 4);
  lastSocket().serverClose(4401);
  await until('fresh join', () => FakeSocket.all.length === 5);
  lastSocket().serverClose(4401, 'token expired');
  await until('new token', () => FakeSocket.all.length === 6);
  assert.equal(requests.length, 2);
  assert.equal(lastSocket().token, 'tok2');
  client.close();
});

for (const code of [4403, 4409, 4410, 1000, 1007]) {
  test(`close ${code} ends the client without reconnecting`, async () => {
    const { client } = harness();
    client.connect();
    await until('socket', () => FakeSocket.all.length === 1);
    lastSocket().deliver(welcome({ player: 1 }));
    lastSocket().serverClose(code, 'because');
    assert.equal(client.state, 'gone');
    assert.equal(client.goneReason.code, code);
    await tick(60);
    assert.equal(FakeSocket.all.length, 1);
  });
}

test('a reset after the Notice is treated as the Notice code', async () => {
  const { client } = harness();
  client.connect();
  await until('socket', () => FakeSocket.all.length === 1);
  const ws = lastSocket();
  ws.deliver(welcome({ player: 1 }));
  ws.deliver(notice(4403, 'kicked by an admin'));
  ws.onclose({ code: 1006, reason: '' });
  assert.equal(client.state, 'gone');
  assert.equal(client.goneReason.code, 4403);
});

test('gives up after maxRetries failed attempts', async () => {
  const { client } = harness({ maxRetries: 2 });
  client.connect();
  for (let n = 1; n <= 3; n++) {
    await until(`socket ${n}`, () => FakeSocket.all.length === n);
    lastSocket().onclose({ code: 1006, reason: '' });
  }
  assert.equal(client.state, 'gone');
});

test('reconciling a right prediction leaves the drawn position alone; a wrong one fades', () => {
  const p = new Prediction(arenaPredictor(), 20, [0, 1]);
  p.reconcile([5000, 5000, 0], 0, 0);
  p.applyLocal(1, [1, 0, 0], 100);
  p.applyLocal(2, [1, 0, 0], 150);
  const drawn = p.display(160);
  // The server applied input 1 exactly as predicted: nothing moves on screen.
  p.reconcile([5100, 5000, 0], 1, 160);
  assert.deepEqual(p.display(160), drawn);
  assert.deepEqual(p.fields, [5200, 5000, 0]);
  // The server says we were 30 quanta further left: drawn where it was, then converges.
  p.reconcile([5070, 5000, 0], 1, 170);
  assert.ok(Math.abs(p.display(170)[0] - p.display(170, false)[0] - 30) < 1e-9);
  assert.ok(Math.abs(p.display(1170)[0] - p.display(1170, false)[0]) < 0.01);
  assert.deepEqual(p.fields, [5170, 5000, 0]);
});

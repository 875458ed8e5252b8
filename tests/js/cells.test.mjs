// The Cell update of protocol version 3 (docs/PROTOCOL.md, "Cell update (version 3)")
// in the browser client: decoding tag 5 from hand-built bytes with every check, the
// per-cell state and its merged view, and TickcastClient showing the merged entities.
//
//   node --test tests/js/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseMismatchError,
  DecodeError,
  TickcastClient,
  applyUpdate,
  closeAction,
  createCellState,
  createState,
  decodeServerMessage,
  stateToJSON,
  updateEvents,
} from '../../assets/tickcast.js';
import { FakeSocket, SCHEMA, cellDeltaBody, cellUpdate, deltaBody, lastSocket, snapshotBody, until, welcome } from './fakes.mjs';

const nothing = () => deltaBody();
const whole = (entities, ev = []) => snapshotBody({ entities, ev });
const scored = (player, value) => ({ type: 'Game', kind: 0, player, value });
const decode = (bytes) => decodeServerMessage(bytes, SCHEMA);

/** A small example (tick 51, as tickcast-client's tests), plus an event in the room part and one in a cell. */
function example() {
  return cellUpdate({
    tick: 51,
    base: 50,
    ack: 7,
    time: 1000,
    room: deltaBody({ ev: [{ type: 'Left', player: 9 }] }),
    sections: [
      { cell: [2, 3], age: 1, body: cellDeltaBody({ changed: [{ index: 0, mask: 3, changes: [5, -3] }], ev: [scored(7, 4)] }) },
      { cell: [3, 3], age: 0, body: whole([{ id: 16777216, kind: 1, fields: [1234, -8765] }]) },
    ],
    dropped: [[0, 1]],
  });
}

test('a Cell update decodes to its room part, sections and dropped cells', () => {
  assert.deepEqual(decode(example()), {
    type: 'CellUpdate',
    tick: 51,
    base_tick: 50,
    ack_input: 7,
    server_time_us: 1000,
    room: { created: [], changed: [], removed: [], events: [{ type: 'Left', player: 9 }] },
    sections: [
      { cell: [2, 3], age: 1, created: [], changed: [{ index: 0, mask: 3, changes: [5, -3] }], removed: [], events: [scored(7, 4)] },
      { cell: [3, 3], age: 0, entities: [{ id: 16777216, kind: 1, fields: [1234, -8765] }], events: [] },
    ],
    dropped: [[0, 1]],
  });
  // Room part first, then each section's events, in section order.
  assert.deepEqual(updateEvents(decode(example())), [{ type: 'Left', player: 9 }, scored(7, 4)]);
  // A room part with base 0 is a snapshot body.
  const msg = decode(cellUpdate({ tick: 3, base: 0, room: whole([{ id: 1, kind: 1, fields: [0, 0] }]) }));
  assert.deepEqual(msg.room, { entities: [{ id: 1, kind: 1, fields: [0, 0] }], events: [] });
});

test('every cut of a Cell update and a trailing byte are refused', () => {
  const bytes = example();
  for (let cut = 0; cut < bytes.length; cut++) assert.throws(() => decode(bytes.subarray(0, cut)), DecodeError, `cut at ${cut}`);
  const longer = new Uint8Array([...bytes, 0]);
  assert.throws(() => decode(longer), /trailing bytes/);
  assert.throws(() => decodeServerMessage(bytes), /schema/);
});

test('sections and drops out of order, repeated or overlapping are refused', () => {
  const s = (cell) => ({ cell, age: 0, body: whole([]) });
  const refuse = (sections, dropped, why) =>
    assert.throws(() => decode(cellUpdate({ tick: 2, base: 1, room: nothing(), sections, dropped })), why);
  refuse([s([1, 0]), s([0, 5])], [], /not sorted/);
  refuse([s([0, 2]), s([0, 1])], [], /not sorted/);
  refuse([s([0, 1]), s([0, 1])], [], /repeated/);
  refuse([], [[3, 3], [2, 9]], /not sorted/);
  refuse([], [[3, 3], [3, 3]], /repeated/);
  refuse([s([0, 1])], [[0, 1]], /both dropped and sent/);
  // Sorted as signed integers: -1 before 0, y only within one x.
  const ok = cellUpdate({ tick: 2, base: 1, room: nothing(), sections: [s([-1, 7]), s([0, -3]), s([0, 2])], dropped: [[-5, 0], [0, 0]] });
  assert.equal(decode(ok).sections.length, 3);
});

test('a body_len that does not match its body is refused', () => {
  const body = whole([{ id: 1, kind: 1, fields: [3, 4] }]);
  const at = (b, bodyLen) => decode(cellUpdate({ tick: 2, base: 1, room: nothing(), sections: [{ cell: [0, 0], age: 0, body: b, bodyLen }] }));
  assert.equal(at(body).sections.length, 1);
  assert.throws(() => at(new Uint8Array([...body, 0])), /decodes to 6 of its 7 bytes/);
  assert.throws(() => at(body, body.length - 1), /body ends before its body_len/);
  assert.throws(() => at(body, 1_000_000), /exceeds/);
  // A section claiming more sections than bytes left, and a schema's unknown kind.
  const w = cellUpdate({ tick: 2, base: 1, room: nothing() });
  assert.throws(() => decode(new Uint8Array([...w.subarray(0, w.length - 2), 252, 0xff, 0xff, 0xff, 0x7f])), /count/);
  assert.throws(() => at(whole([{ id: 1, kind: 5, fields: [] }])), /cell 0,0: unknown entity kind 5/);
});

test('a cell delta body is checked: its flags, its index gaps, its age', () => {
  const one = (age, body, tick = 5) => decode(cellUpdate({ tick, base: tick - 1, room: nothing(), sections: [{ cell: [0, 0], age, body }] }));
  // Flags name the parts present: only events here.
  assert.deepEqual(one(2, cellDeltaBody({ ev: [scored(3, 1)] })).sections[0], {
    cell: [0, 0], age: 2, created: [], changed: [], removed: [], events: [scored(3, 1)],
  });
  assert.deepEqual(one(1, cellDeltaBody({ removed: [0, 2, 3] })).sections[0].removed, [0, 2, 3]);
  assert.throws(() => one(1, cellDeltaBody({ flags: 16 })), /flags 0x10 name unknown parts/);
  // Indexes increase: a gap of 0 after the first is refused (the first may be 0).
  const repeated = new Uint8Array([4, 2, 0, 0]);
  assert.throws(() => one(1, repeated), /index gap 0/);
  assert.throws(() => one(6, cellDeltaBody()), /age 6 is older than tick 0/);
  assert.equal(one(5, cellDeltaBody()).sections[0].age, 5, 'age = tick: a base of 0');
});

test('bytes changed at random decode and apply, or throw DecodeError, nothing else', () => {
  const good = example();
  let x = 0x2545f491;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 0; i < 5000; i++) {
    const bytes = good.slice();
    for (let k = 0; k <= next() % 3; k++) bytes[next() % bytes.length] = next() & 0xff;
    let msg;
    try {
      msg = decode(bytes);
    } catch (error) {
      assert.ok(error instanceof DecodeError, `${error}`);
      continue;
    }
    try {
      applyUpdate(createState(), msg);
    } catch (error) {
      assert.ok(error instanceof DecodeError || error instanceof BaseMismatchError, `${error}`);
    }
  }
});

/** Tick 1: room-wide orb 100, player 7 in cell (0, 0), orb 20 in cell (1, 0). */
function start() {
  const bytes = cellUpdate({
    tick: 1,
    base: 0,
    room: whole([{ id: 100, kind: 1, fields: [0, 0] }]),
    sections: [
      { cell: [0, 0], age: 0, body: whole([{ id: 7, kind: 0, fields: [5, 5, 0] }]) },
      { cell: [1, 0], age: 0, body: whole([{ id: 20, kind: 1, fields: [15, 5] }]) },
    ],
  });
  return applyUpdate(createState(), decode(bytes));
}

const ids = (map) => [...map.keys()].sort((a, b) => a - b);
const step = (state, tick, base, sections, dropped = [], room = nothing()) =>
  applyUpdate(state, decode(cellUpdate({ tick, base, room, sections, dropped })));

test('cells are kept apart and merged for showing', () => {
  const state = start();
  assert.equal(state.tick, 1);
  assert.deepEqual(ids(state.entities), [7, 20, 100]);
  assert.deepEqual(ids(state.room), [100]);
  assert.deepEqual(stateToJSON(state), {
    tick: 1,
    entities: [{ id: 100, kind: 1, fields: [0, 0] }],
    cells: [
      { cell: [0, 0], entities: [{ id: 7, kind: 0, fields: [5, 5, 0] }] },
      { cell: [1, 0], entities: [{ id: 20, kind: 1, fields: [15, 5] }] },
    ],
  });
});

test('an entity moving between cells is shown once, whichever section comes first', () => {
  let s = step(start(), 2, 1, [
    { cell: [0, 0], age: 1, body: cellDeltaBody({ removed: [0] }) },
    { cell: [1, 0], age: 1, body: cellDeltaBody({ created: [{ id: 7, kind: 0, fields: [11, 5, 0] }] }) },
  ]);
  assert.deepEqual(s.entities.get(7).fields, [11, 5, 0]);
  s = step(s, 3, 2, [
    { cell: [0, 0], age: 1, body: cellDeltaBody({ created: [{ id: 7, kind: 0, fields: [9, 5, 0] }] }) },
    // (1, 0) holds 7 and 20: index 0 is 7.
    { cell: [1, 0], age: 1, body: cellDeltaBody({ removed: [0] }) },
  ]);
  assert.deepEqual(s.entities.get(7).fields, [9, 5, 0]);
  assert.deepEqual(ids(s.cells.get('1,0').entities), [20]);
});

test('an id held by two cells shows the copy of the cell updated last', () => {
  // 7 is created in (1, 0); its old cell (0, 0) is deferred and still holds it.
  let s = step(start(), 2, 1, [{ cell: [1, 0], age: 1, body: cellDeltaBody({ created: [{ id: 7, kind: 0, fields: [11, 5, 0] }] }) }]);
  assert.deepEqual(ids(s.cells.get('0,0').entities), [7]);
  assert.deepEqual(s.entities.get(7).fields, [11, 5, 0]);
  assert.equal(s.entities.size, 3);
  // (0, 0) is the newest now.
  s = step(s, 3, 2, [{ cell: [0, 0], age: 2, body: cellDeltaBody({ changed: [{ index: 0, mask: 1, changes: [1] }] }) }]);
  assert.deepEqual(s.entities.get(7).fields, [6, 5, 0]);
  s = step(s, 4, 3, [{ cell: [0, 0], age: 1, body: cellDeltaBody({ removed: [0] }) }]);
  assert.deepEqual(s.entities.get(7).fields, [11, 5, 0]);
  // Ties go to the first cell in (x, y) order; the room part beats every cell.
  const tie = createCellState(5, [{ id: 1, kind: 1, fields: [0, 0] }], [
    { cell: [0, 1], entities: [{ id: 1, kind: 1, fields: [1, 1] }, { id: 2, kind: 1, fields: [1, 1] }] },
    { cell: [0, 0], entities: [{ id: 1, kind: 1, fields: [2, 2] }, { id: 2, kind: 1, fields: [2, 2] }] },
  ]);
  assert.deepEqual(tie.entities.get(1).fields, [0, 0]);
  assert.deepEqual(tie.entities.get(2).fields, [2, 2]);
});

test('a cell\'s base is not compared; drops forget cells, unknown drops are ignored', () => {
  // Age 2 at tick 2: a base of 0, which nothing is compared with.
  let s = step(start(), 2, 1, [{ cell: [1, 0], age: 2, body: cellDeltaBody({ changed: [{ index: 0, mask: 2, changes: [-2] }] }) }]);
  assert.deepEqual(s.entities.get(20).fields, [15, 3]);
  assert.equal(s.cells.get('1,0').tick, 2, 'the tick of the update, not the cell\'s base');
  assert.equal(s.cells.get('0,0').tick, 1, 'a cell without a section is unchanged');
  s = step(s, 3, 2, [], [[-4, 4], [1, 0]]);
  assert.deepEqual([...s.cells.keys()], ['0,0']);
  assert.deepEqual(ids(s.entities), [7, 100]);
  // A delta for a cell not held applies to an empty cell.
  s = step(s, 4, 3, [{ cell: [1, 0], age: 1, body: cellDeltaBody({ created: [{ id: 21, kind: 1, fields: [1, 1] }, { id: 22, kind: 1, fields: [2, 2] }] }) }]);
  assert.deepEqual(ids(s.cells.get('1,0').entities), [21, 22]);
  // Indexes name the copy's entities in id order: index 1 is 22.
  s = step(s, 5, 4, [{ cell: [1, 0], age: 1, body: cellDeltaBody({ changed: [{ index: 1, mask: 1, changes: [5] }], removed: [0] }) }]);
  assert.deepEqual(stateToJSON(s).cells[1], { cell: [1, 0], entities: [{ id: 22, kind: 1, fields: [7, 2] }] });
  s = step(s, 6, 5, [{ cell: [1, 0], age: 1, body: cellDeltaBody({ created: [{ id: 21, kind: 1, fields: [1, 1] }] }) }]);
  assert.deepEqual(ids(s.cells.get('1,0').entities), [21, 22]);
  // A whole section replaces its cell; a whole room part replaces the room-wide entities only.
  s = step(s, 7, 0, [{ cell: [0, 0], age: 0, body: whole([{ id: 8, kind: 0, fields: [1, 2, 3] }]) }], [], whole([{ id: 101, kind: 1, fields: [1, 1] }]));
  assert.equal(s.tick, 7);
  assert.deepEqual(ids(s.entities), [8, 21, 22, 101]);
});

test('a malformed or mismatched Cell update throws and changes nothing', () => {
  const state = start();
  const before = stateToJSON(state);
  const good = { cell: [0, 0], age: 1, body: cellDeltaBody({ changed: [{ index: 0, mask: 1, changes: [1] }] }) };
  const bad = { cell: [1, 0], age: 1, body: cellDeltaBody({ changed: [{ index: 5, mask: 1, changes: [1] }] }) };
  assert.throws(() => step(state, 2, 1, [good, bad]), /cell 1,0: index 5 beyond the 1 entities of the cell's copy/);
  const gone = { cell: [1, 0], age: 1, body: cellDeltaBody({ removed: [1] }) };
  assert.throws(() => step(state, 2, 1, [gone]), /index 1 beyond/);
  const beyond = { cell: [1, 0], age: 1, body: cellDeltaBody({ changed: [{ index: 0, mask: 4, changes: [1] }] }) };
  assert.throws(() => step(state, 2, 1, [beyond]), /beyond fields/);
  assert.throws(() => step(state, 3, 2, [good]), BaseMismatchError);
  assert.deepEqual(stateToJSON(state), before);
  // A Snapshot (tag 1) replaces everything, cells included.
  const snap = applyUpdate(state, { type: 'Snapshot', tick: 9, ack_input: 0, server_time_us: 0, entities: [], events: [] });
  assert.equal(snap.cells, undefined);
  assert.deepEqual(stateToJSON(snap), { tick: 9, entities: [] });
});

test('4426 is not retried: this client offers protocol version 3 already', () => {
  assert.equal(closeAction(4426), 'stop');
});

test('TickcastClient offers tickcast.v3 and shows the merged entities of a Cell update room', async () => {
  FakeSocket.all = [];
  const fetch = async () => ({ ok: true, status: 200, json: async () => ({ token: 'tok', expires_in: 600 }), text: async () => '' });
  const client = new TickcastClient({ url: 'http://game.test:8080', name: 'alice', room: 'big', WebSocket: FakeSocket, fetch });
  const updates = [];
  const scores = [];
  client.addEventListener('update', (e) => updates.push(e.detail));
  client.addEventListener('game', (e) => scores.push(e.detail.value));
  try {
    client.connect();
    await until('socket', () => FakeSocket.all.length === 1);
    const ws = lastSocket();
    assert.equal(ws.protocols[0], 'tickcast.v3');
    ws.deliver(welcome({ player: 7, room: 'big', constants: [] }));
    const time = Date.now() * 1000;
    ws.deliver(cellUpdate({
      tick: 1,
      base: 0,
      time,
      room: whole([{ id: 100, kind: 1, fields: [0, 0] }]),
      sections: [{ cell: [0, 0], age: 0, body: whole([{ id: 7, kind: 0, fields: [50, 50, 0] }], [scored(7, 1)]) }],
    }));
    ws.deliver(cellUpdate({
      tick: 2,
      base: 1,
      time: time + 50_000,
      room: nothing(),
      sections: [{ cell: [1, 0], age: 0, body: whole([{ id: 20, kind: 1, fields: [150, 50] }]) }],
    }));
    assert.equal(client.tick, 2);
    assert.deepEqual(ids(client.entities), [7, 20, 100]);
    assert.deepEqual(updates.map((u) => u.keyframe), [true, false]);
    assert.deepEqual(scores, [1]);
    assert.equal(client.stats.keyframes, 1);
    assert.equal(client.stats.deltas, 1);
    // The view draws a little in the past (interpolation), so tick 1 here: its cell's
    // player and the room-wide orb together.
    const shown = client.view().entities.map((e) => e.id).sort((a, b) => a - b);
    assert.deepEqual(shown, [7, 100], 'the view draws the room part and the cells');
  } finally {
    client.close();
  }
});

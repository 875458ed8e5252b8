// The browser client's codec against the golden wire-format vectors the Rust tests share.
//
//   node --test tests/js/
//
// Every `tests/vectors/NAME.json` (with its `NAME.bin`) is checked: server messages
// decode to the JSON's `message`; client messages encode to the exact bytes; Snapshot and
// Delta vectors (and Cell update vectors, whose states carry `cells`) applied to
// `state_before` give `state_after`. An empty or missing vectors
// folder is a failure, not a pass. TICKCAST_VECTORS_DIR points elsewhere (development).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ByteReader,
  ByteWriter,
  BaseMismatchError,
  DecodeError,
  applyUpdate,
  arenaPredictor,
  closeAction,
  createCellState,
  createState,
  decodeClientMessage,
  decodeServerMessage,
  encodeClientMessage,
  stateToJSON,
  backoffDelay,
} from '../../assets/tickcast.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const vectorsDir = process.env.TICKCAST_VECTORS_DIR || join(root, 'tests/vectors');
const vectorNames = existsSync(vectorsDir)
  ? readdirSync(vectorsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort()
  : [];

const hex = (bytes) => Buffer.from(bytes).toString('hex');

test(`golden vectors exist in ${vectorsDir}`, () => {
  assert.ok(vectorNames.length > 0, `no *.json vectors in ${vectorsDir}`);
});

for (const name of vectorNames) {
  test(`vector ${name}`, () => {
    const spec = JSON.parse(readFileSync(join(vectorsDir, `${name}.json`), 'utf8'));
    const bytes = new Uint8Array(readFileSync(join(vectorsDir, `${name}.bin`)));
    if (spec.direction === 'client_to_server') {
      assert.equal(hex(encodeClientMessage(spec.message)), hex(bytes), 'encoded bytes');
      assert.deepEqual(decodeClientMessage(bytes), spec.message, 'decoded back');
      return;
    }
    assert.equal(spec.direction, 'server_to_client', 'direction');
    const schema = spec.schema ?? spec.message.schema;
    const msg = decodeServerMessage(bytes, schema);
    assert.deepEqual(msg, spec.message, 'decoded message');
    if (spec.state_after) {
      const before = spec.state_before ?? { tick: 0, entities: [] };
      // A Cell update vector's states carry the cells (protocol version 3).
      const state = before.cells ? createCellState(before.tick, before.entities, before.cells) : createState(before.tick, before.entities);
      const snapshotOfBefore = stateToJSON(state);
      const after = applyUpdate(state, msg);
      assert.deepEqual(stateToJSON(after), spec.state_after, 'state after');
      assert.deepEqual(stateToJSON(state), snapshotOfBefore, 'state before is left untouched');
    }
    // Any prefix of a message is a truncation, never a silent success.
    for (let cut = 0; cut < bytes.length; cut++) {
      assert.throws(() => decodeServerMessage(bytes.subarray(0, cut), schema), DecodeError, `prefix of ${cut} bytes`);
    }
  });
}

test('varints use bincode-2 standard markers at every boundary', () => {
  const cases = [
    [0, '00'],
    [250, 'fa'],
    [251, 'fbfb00'],
    [65535, 'fbffff'],
    [65536, 'fc00000100'],
    [0xffffffff, 'fcffffffff'],
    [0x100000000, 'fd0000000001000000'],
    [Number.MAX_SAFE_INTEGER, 'fdffffffffffff1f00'],
  ];
  for (const [v, want] of cases) {
    const w = new ByteWriter();
    w.uint(v);
    assert.equal(hex(w.finish()), want, `encode ${v}`);
    assert.equal(new ByteReader(Buffer.from(want, 'hex')).u64(), v, `decode ${v}`);
  }
  const w = new ByteWriter();
  w.uint(0xffffffffffffffffn);
  assert.equal(new ByteReader(w.finish()).bigUint(), 0xffffffffffffffffn);
});

test('signed values are zigzag mapped', () => {
  for (const [v, z] of [[0, 0], [-1, 1], [1, 2], [-2, 3], [-125, 249], [125, 250], [-126, 251], [2147483647, 4294967294], [-2147483648, 4294967295]]) {
    const w = new ByteWriter();
    w.int(v);
    const r1 = new ByteReader(w.finish());
    assert.equal(r1.i32(), v);
    const w2 = new ByteWriter();
    w2.uint(z);
    assert.equal(hex(w.finish()), hex(w2.finish()), `zigzag(${v}) = ${z}`);
  }
});

test('hostile bytes are refused with DecodeError', () => {
  assert.throws(() => decodeServerMessage(new Uint8Array([])), DecodeError);
  assert.throws(() => decodeServerMessage(new Uint8Array([255])), /bad varint marker/);
  assert.throws(() => decodeServerMessage(new Uint8Array([9])), /unknown server message tag/);
  assert.throws(() => decodeServerMessage(new Uint8Array([3, 1, 2, 0])), /trailing bytes/);
  // A Notice whose reason claims a million bytes.
  assert.throws(() => decodeServerMessage(new Uint8Array([4, 0, 252, 0x40, 0x42, 0x0f, 0x00])), /count/);
  // Invalid UTF-8 in a string.
  assert.throws(() => decodeServerMessage(new Uint8Array([4, 0, 1, 0xff])), /UTF-8/);
  // A u64 beyond 2^53 cannot be a Number without losing precision.
  assert.throws(() => decodeServerMessage(new Uint8Array([3, 253, 0, 0, 0, 0, 0, 0, 0, 0x40, 0])), DecodeError);
  // An update cannot be read without the schema.
  assert.throws(() => decodeServerMessage(new Uint8Array([1, 1, 0, 0, 0, 0])), /schema/);
});

const schema = {
  game: 't',
  entity_kinds: [{ name: 'a', fields: [{ name: 'x', scale: 1 }, { name: 'y', scale: 1 }] }],
  input: [],
  event_kinds: [],
};

test('a delta on another base than the tick held is refused and the state kept', () => {
  const state = createState(3, [{ id: 1, kind: 0, fields: [1, 2] }]);
  const delta = { type: 'Delta', tick: 5, base_tick: 4, ack_input: 0, server_time_us: 0, created: [], changed: [], removed: [1], events: [] };
  assert.throws(() => applyUpdate(state, delta), BaseMismatchError);
  assert.equal(state.entities.size, 1);
});

test('a change to an unknown entity or beyond its fields is refused', () => {
  const state = createState(3, [{ id: 1, kind: 0, fields: [1, 2] }]);
  const base = { type: 'Delta', tick: 4, base_tick: 3, ack_input: 0, server_time_us: 0, created: [], removed: [], events: [] };
  assert.throws(() => applyUpdate(state, { ...base, changed: [{ id: 2, mask: 1, changes: [1] }] }), /unknown entity/);
  assert.throws(() => applyUpdate(state, { ...base, changed: [{ id: 1, mask: 4, changes: [1] }] }), /beyond fields/);
});

test('a removed id the client does not hold is not an error: it is ignored (PROTOCOL.md, Update body)', () => {
  const state = createState(3, [{ id: 1, kind: 0, fields: [1, 2] }]);
  const delta = { type: 'Delta', tick: 4, base_tick: 3, ack_input: 0, server_time_us: 0, created: [], changed: [], removed: [7], events: [] };
  const next = applyUpdate(state, delta);
  assert.equal(next.tick, 4);
  assert.deepEqual([...next.entities.keys()], [1]);
});

test('a delta decoded from bytes applies created, changed and removed entities', () => {
  // Delta tick 2 from 1: create id 5 (kind 0: 7, -1); change id 1 field y by +3; remove id 2.
  const w = new ByteWriter();
  for (const v of [2, 2, 1, 0, 0]) w.uint(v); // tag, tick, base, ack, time
  w.uint(1); w.uint(5); w.uint(0); w.int(7); w.int(-1); // created
  w.uint(1); w.uint(1); w.uint(2); w.int(3); // changed
  w.uint(1); w.uint(2); // removed
  w.uint(0); // events
  const msg = decodeServerMessage(w.finish(), schema);
  const state = createState(1, [{ id: 1, kind: 0, fields: [10, 20] }, { id: 2, kind: 0, fields: [0, 0] }]);
  assert.deepEqual(stateToJSON(applyUpdate(state, msg)), {
    tick: 2,
    entities: [{ id: 1, kind: 0, fields: [10, 23] }, { id: 5, kind: 0, fields: [7, -1] }],
  });
});

test('the arena predictor reproduces the server movement rule', () => {
  const p = arenaPredictor();
  const ctx = { rateHz: 20 };
  // step = 200*10/20 = 100 quanta; boost 150; diagonal (100*181)>>8 = 70; boosted diagonal 106.
  assert.deepEqual(p.step([5000, 5000, 3], [1, 0, 0], ctx), [5100, 5000, 3]);
  assert.deepEqual(p.step([5000, 5000, 3], [0, -1, 1], ctx), [5000, 4850, 3]);
  assert.deepEqual(p.step([5000, 5000, 3], [-1, 1, 0], ctx), [4930, 5070, 3]);
  assert.deepEqual(p.step([5000, 5000, 3], [1, 1, 1], ctx), [5106, 5106, 3]);
  // Clamped to [radius, size - radius] = [200, 9800] quanta.
  assert.deepEqual(p.step([250, 9790, 0], [-1, 1, 0], ctx), [200, 9800, 0]);
  // 30 Hz: trunc(2000/30) = 66.
  assert.deepEqual(p.step([5000, 5000, 0], [1, 0, 0], { rateHz: 30 }), [5066, 5000, 0]);
});

test('close codes map to the documented client actions', () => {
  for (const c of [1000, 1002, 1003, 1007, 1009, 4403, 4409, 4410]) assert.equal(closeAction(c), 'stop', `${c}`);
  for (const c of [1001, 1006, 1008, 1011, 1012]) assert.equal(closeAction(c), 'retry', `${c}`);
  assert.equal(closeAction(4401), 'reauth');
  assert.equal(closeAction(4421), 'redirect');
});

test('backoff is full jitter under an exponential ceiling with a cap', () => {
  assert.equal(backoffDelay(0, 500, 15000, () => 0.999), 499);
  assert.equal(backoffDelay(3, 500, 15000, () => 0.5), 2000);
  assert.equal(backoffDelay(10, 500, 15000, () => 0.5), 7500);
  assert.equal(backoffDelay(1000, 500, 15000, () => 0), 0);
});

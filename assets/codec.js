// codec.js: the tickcast wire format, byte for byte as `src/protocol/` writes and reads it.
//
// Owns: the protocol's constants (version, subprotocol and its token prefixes, message
// tags, close codes), bincode-2 `config::standard()` integers (ByteReader, ByteWriter),
// decoding every server message and encoding (and decoding) every client message.
// Never: touches a socket, a timer, the clock, the DOM or any state beyond the bytes in
// hand, and knows no game (entities are decoded with the schema Welcome carries).


/** The newest protocol version this client speaks (docs/PROTOCOL.md, "Versions"). */
export const PROTOCOL_VERSION = 3;
/** Every protocol version this client speaks; a Welcome naming another is refused. */
export const PROTOCOL_VERSIONS = Object.freeze([1, 2, 3]);
/** The WebSocket subprotocol of protocol version 1. */
export const SUBPROTOCOL = 'tickcast.v1';
/** The WebSocket subprotocol of protocol version 2 (Welcome carries the game's constants). */
export const SUBPROTOCOL_V2 = 'tickcast.v2';
/** The WebSocket subprotocol of protocol version 3 (the Cell update of rooms with interest management). */
export const SUBPROTOCOL_V3 = 'tickcast.v3';
/** What the client offers, newest first: the server answers with the newest it speaks. */
export const SUBPROTOCOLS = Object.freeze([SUBPROTOCOL_V3, SUBPROTOCOL_V2, SUBPROTOCOL]);
/** Subprotocol prefix carrying a guest or game session token. */
export const TOKEN_PREFIX = 'tickcast.token.';
/** Subprotocol prefix carrying a resume token. */
export const RESUME_PREFIX = 'tickcast.resume.';
/** Subprotocol prefix carrying a seat reservation from `GET /api/matchmake` (cluster mode). */
export const SEAT_PREFIX = 'tickcast.seat.';

/** Tags of server messages (a varint in front of each). */
export const ServerTag = Object.freeze({ Welcome: 0, Snapshot: 1, Delta: 2, Pong: 3, Notice: 4, CellUpdate: 5 });
/** Variant indexes of client messages. */
export const ClientTag = Object.freeze({ Input: 0, Ping: 1, Leave: 2, Chat: 3 });
const EVENT_TYPES = ['Joined', 'Left', 'Chat', 'Game'];

/** Every close code the server uses (`protocol::close_code` in messages.rs). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006, // set by the browser: the connection dropped without a close frame
  INVALID_PAYLOAD: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  TRY_AGAIN: 1012,
  UNAUTHORIZED: 4401,
  KICKED: 4403,
  ROOM_FULL: 4409,
  REPLACED: 4410,
  WRONG_NODE: 4421, // cluster: another node owns the room; the reason is its WebSocket URL
  NEEDS_V3: 4426, // the room uses interest management and the connection speaks version 1 or 2
});

/** Bytes that are not a valid tickcast message (truncated, bad marker, out of range…). */
export class DecodeError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
  }
}

// --- message types (JSDoc) -------------------------------------------------------------
// Shapes use the Rust field names (snake_case), as in docs/PROTOCOL.md.

/**
 * A game's schema, from Welcome: what the entities, inputs and events of the room are.
 * @typedef {object} Schema
 * @property {string} game The game's name.
 * @property {EntityKindDef[]} entity_kinds Entity kinds; an entity's `kind` indexes this.
 * @property {InputDef[]} input The input's values, in the order `setInput` takes them.
 * @property {string[]} event_kinds Names of game events; a Game event's `kind` indexes this.
 */
/**
 * An entity kind: its name and its fields, each sent quantized as `round(value * scale)`.
 * @typedef {{name: string, fields: {name: string, scale: number}[]}} EntityKindDef
 */
/** One input value and its allowed range. @typedef {{name: string, min: number, max: number}} InputDef */
/**
 * An entity in full: its id, kind (index in `schema.entity_kinds`) and quantized fields.
 * @typedef {{id: number, kind: number, fields: number[]}} Entity
 */
/**
 * A changed entity of a Delta: bit i of `mask` says field i changed, and `changes` holds
 * the (wrapping i32) differences of those fields in order.
 * @typedef {{id: number, mask: number, changes: number[]}} EntityChange
 */
/**
 * An event of an update.
 * @typedef {{type: 'Joined', player: number, name: string}
 *   | {type: 'Left', player: number}
 *   | {type: 'Chat', player: number, text: string}
 *   | {type: 'Game', kind: number, player: number, value: number}} GameEvent
 */
/**
 * @typedef {object} WelcomeMessage The first message of every session.
 * @property {'Welcome'} type
 * @property {number} protocol
 * @property {number} player_id
 * @property {string} room
 * @property {number} tick_rate_hz
 * @property {number} tick
 * @property {string} resume_token
 * @property {{id: number, name: string}[]} players
 * @property {Schema} schema
 * @property {{name: string, value: number}[]} [constants] Protocol version 2 on: the game's
 *   constants (absent in a version 1 Welcome).
 */
/**
 * @typedef {object} SnapshotMessage A keyframe: every entity of the room.
 * @property {'Snapshot'} type
 * @property {number} tick
 * @property {number} ack_input The last input seq the server applied.
 * @property {number} server_time_us
 * @property {Entity[]} entities
 * @property {GameEvent[]} events
 */
/**
 * @typedef {object} DeltaMessage The changes since `base_tick`.
 * @property {'Delta'} type
 * @property {number} tick
 * @property {number} base_tick
 * @property {number} ack_input The last input seq the server applied.
 * @property {number} server_time_us
 * @property {Entity[]} created
 * @property {EntityChange[]} changed
 * @property {number[]} removed Ids of removed entities.
 * @property {GameEvent[]} events
 */
/**
 * A body of a Cell update's room part or section: a snapshot body (the part arrives
 * whole, its base is 0) or a delta body.
 * @typedef {{entities: Entity[], events: GameEvent[]}
 *   | {created: Entity[], changed: EntityChange[], removed: number[], events: GameEvent[]}} CellBody
 */
/**
 * A changed entity of a cell delta, named by its `index` in the client's copy of the
 * cell (its entities sorted by id), not by its id.
 * @typedef {{index: number, mask: number, changes: number[]}} IndexedChange
 */
/**
 * A cell delta body (docs/PROTOCOL.md, "Cell delta body"): `created` entities by id,
 * `changed` and `removed` by their index in the client's copy of the cell.
 * @typedef {{created: Entity[], changed: IndexedChange[], removed: number[], events: GameEvent[]}} CellDeltaBody
 */
/**
 * One cell's section of a Cell update: `cell` is `[cell_x, cell_y]`, `age` the
 * `cell_age` (0: the cell arrives whole, as a snapshot body; else a cell delta body
 * from the client's copy, which is the cell at tick − age).
 * @typedef {{cell: [number, number], age: number}
 *   & ({entities: Entity[], events: GameEvent[]} | CellDeltaBody)} CellSection
 */
/**
 * @typedef {object} CellUpdateMessage Protocol version 3, a room with interest
 *   management: the room-wide part, then the cells the player sees that changed.
 * @property {'CellUpdate'} type
 * @property {number} tick
 * @property {number} base_tick The room part's base: 0 when it arrives whole.
 * @property {number} ack_input The last input seq the server applied.
 * @property {number} server_time_us
 * @property {CellBody} room The room-wide entities and events.
 * @property {CellSection[]} sections Sorted by cell, each cell at most once.
 * @property {[number, number][]} dropped Cells the player no longer sees, sorted.
 */
/** @typedef {{type: 'Pong', client_time: number, server_time_us: number}} PongMessage */
/** @typedef {{type: 'Notice', code: number, reason: string}} NoticeMessage */
/** An update: a Snapshot, a Delta or a Cell update. @typedef {SnapshotMessage | DeltaMessage | CellUpdateMessage} UpdateMessage */
/**
 * Any server message.
 * @typedef {WelcomeMessage | SnapshotMessage | DeltaMessage | CellUpdateMessage | PongMessage | NoticeMessage} ServerMessage
 */
/**
 * Any client message. `client_time` may be a BigInt when encoding; decoding gives a Number.
 * @typedef {{type: 'Input', seq: number, values: number[]}
 *   | {type: 'Ping', client_time: number | bigint}
 *   | {type: 'Leave'}
 *   | {type: 'Chat', text: string}} ClientMessage
 */

// --- bincode ------------------------------------------------------------------------------

// bincode 2 `config::standard()` integer markers (see src/protocol/codec.rs).
const SINGLE_BYTE_MAX = 250;
const U16_MARKER = 251;
const U32_MARKER = 252;
const U64_MARKER = 253;
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();

/** @param {ArrayBuffer | ArrayBufferView} data @returns {Uint8Array} */
function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('expected an ArrayBuffer or a typed array');
}

/**
 * Reads bincode-standard values from bytes. Every read is bounds-checked and throws a
 * DecodeError rather than reading past the end. 64-bit values are read as BigInt and
 * returned as Number when they fit below 2^53 (ticks and microsecond clocks do).
 */
export class ByteReader {
  /** The bytes read. @type {Uint8Array} */
  bytes;
  /** A view of `bytes` for fixed-width reads. @type {DataView} */
  view;
  /** The offset of the next byte to read. @type {number} */
  pos;

  /** @param {ArrayBuffer | ArrayBufferView} data */
  constructor(data) {
    this.bytes = toBytes(data);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.pos = 0;
  }

  /** Bytes not read yet. @returns {number} */
  get remaining() {
    return this.bytes.length - this.pos;
  }

  /** @param {number} n */
  #need(n) {
    if (this.remaining < n) throw new DecodeError('message truncated');
  }

  /** An unsigned varint as BigInt (any u64). @returns {bigint} */
  bigUint() {
    this.#need(1);
    const first = this.bytes[this.pos++];
    if (first <= SINGLE_BYTE_MAX) return BigInt(first);
    let v;
    if (first === U16_MARKER) {
      this.#need(2);
      v = BigInt(this.view.getUint16(this.pos, true));
      this.pos += 2;
    } else if (first === U32_MARKER) {
      this.#need(4);
      v = BigInt(this.view.getUint32(this.pos, true));
      this.pos += 4;
    } else if (first === U64_MARKER) {
      this.#need(8);
      v = this.view.getBigUint64(this.pos, true);
      this.pos += 8;
    } else {
      throw new DecodeError(`bad varint marker ${first}`);
    }
    return v;
  }

  /** An unsigned varint as Number, at most `max`. @param {number} [max] @returns {number} */
  uint(max = Number.MAX_SAFE_INTEGER) {
    const v = this.bigUint();
    if (v > BigInt(max)) throw new DecodeError(`${v} exceeds ${max}`);
    return Number(v);
  }

  /** A u16. @returns {number} */
  u16() {
    return this.uint(0xffff);
  }

  /** A u32. @returns {number} */
  u32() {
    return this.uint(0xffffffff);
  }

  /** A u64 that must fit in a Number exactly (< 2^53). @returns {number} */
  u64() {
    return this.uint(Number.MAX_SAFE_INTEGER);
  }

  /** A zigzag-encoded i32. @returns {number} */
  i32() {
    const z = this.uint(0xffffffff);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** A zigzag-encoded i64 that must fit in a Number exactly. @returns {number} */
  i64() {
    const z = this.bigUint();
    const v = (z >> 1n) ^ -(z & 1n);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new DecodeError(`${v} does not fit in a JavaScript number`);
    }
    return Number(v);
  }

  /**
   * A length or count. Each counted item takes at least one byte, so a count larger than
   * the bytes left is refused before anything is allocated for it.
   * @returns {number}
   */
  count() {
    const n = this.uint();
    if (n > this.remaining) throw new DecodeError(`count ${n} exceeds ${this.remaining} remaining bytes`);
    return n;
  }

  /** A UTF-8 string (varint byte length, then the bytes). @returns {string} */
  string() {
    const len = this.count();
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return UTF8_DECODER.decode(slice);
    } catch {
      throw new DecodeError('string is not valid UTF-8');
    }
  }

  /** A Vec: a count, then `item()` that many times. @template T @param {() => T} item @returns {T[]} */
  list(item) {
    const n = this.count();
    /** @type {T[]} */
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = item();
    return out;
  }
}

/** Appends bincode-standard values to a growing buffer. */
export class ByteWriter {
  /** The buffer, of which the first `length` bytes are written. @type {Uint8Array<ArrayBuffer>} */
  bytes;
  /** Bytes written so far. @type {number} */
  length;

  constructor() {
    this.bytes = new Uint8Array(32);
    this.length = 0;
  }

  /** @param {number} n */
  #reserve(n) {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** An unsigned varint (Number up to 2^53, or BigInt up to 2^64-1). @param {number | bigint} v */
  uint(v) {
    const big = BigInt(v);
    if (big < 0n || big > 0xffffffffffffffffn) throw new RangeError(`${v} is not a u64`);
    this.#reserve(9);
    const view = new DataView(this.bytes.buffer);
    if (big <= BigInt(SINGLE_BYTE_MAX)) {
      this.bytes[this.length++] = Number(big);
    } else if (big <= 0xffffn) {
      this.bytes[this.length++] = U16_MARKER;
      view.setUint16(this.length, Number(big), true);
      this.length += 2;
    } else if (big <= 0xffffffffn) {
      this.bytes[this.length++] = U32_MARKER;
      view.setUint32(this.length, Number(big), true);
      this.length += 4;
    } else {
      this.bytes[this.length++] = U64_MARKER;
      view.setBigUint64(this.length, big, true);
      this.length += 8;
    }
  }

  /** A zigzag-encoded signed integer (i32 or i64 range). @param {number | bigint} v */
  int(v) {
    const big = BigInt(v);
    this.uint(big >= 0n ? big << 1n : (-big << 1n) - 1n);
  }

  /** A UTF-8 string. @param {string} s */
  string(s) {
    const utf8 = UTF8_ENCODER.encode(s);
    this.uint(utf8.length);
    this.#reserve(utf8.length);
    this.bytes.set(utf8, this.length);
    this.length += utf8.length;
  }

  /** The bytes written so far (a copy). @returns {Uint8Array<ArrayBuffer>} */
  finish() {
    return this.bytes.slice(0, this.length);
  }
}

/** @param {number} v @param {string} what */
function checkI32(v, what) {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`${what} ${v} is not an i32`);
}

/**
 * Encodes a client message. Shapes (snake_case, as in `docs/PROTOCOL.md`):
 * `{type:'Input', seq, values}`, `{type:'Ping', client_time}`, `{type:'Leave'}`,
 * `{type:'Chat', text}`.
 * @param {ClientMessage} msg
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function encodeClientMessage(msg) {
  const w = new ByteWriter();
  switch (msg.type) {
    case 'Input':
      if (!Number.isInteger(msg.seq) || msg.seq < 0 || msg.seq > 0xffffffff) throw new RangeError(`seq ${msg.seq} is not a u32`);
      w.uint(ClientTag.Input);
      w.uint(msg.seq);
      w.uint(msg.values.length);
      for (const v of msg.values) {
        checkI32(v, 'input value');
        w.int(v);
      }
      break;
    case 'Ping':
      w.uint(ClientTag.Ping);
      w.uint(msg.client_time);
      break;
    case 'Leave':
      w.uint(ClientTag.Leave);
      break;
    case 'Chat':
      w.uint(ClientTag.Chat);
      w.string(msg.text);
      break;
    default:
      // Reachable from untyped callers only.
      throw new TypeError(`unknown client message type ${/** @type {{type: unknown}} */ (msg).type}`);
  }
  return w.finish();
}

/**
 * Decodes a client message (what a server or a proxy reads); the inverse of
 * encodeClientMessage.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {ClientMessage}
 * @throws {DecodeError}
 */
export function decodeClientMessage(data) {
  const r = new ByteReader(data);
  const tag = r.u32();
  /** @type {ClientMessage} */
  let msg;
  switch (tag) {
    case ClientTag.Input:
      msg = { type: 'Input', seq: r.u32(), values: r.list(() => r.i32()) };
      break;
    case ClientTag.Ping:
      msg = { type: 'Ping', client_time: r.u64() };
      break;
    case ClientTag.Leave:
      msg = { type: 'Leave' };
      break;
    case ClientTag.Chat:
      msg = { type: 'Chat', text: r.string() };
      break;
    default:
      throw new DecodeError(`unknown client message tag ${tag}`);
  }
  if (r.remaining !== 0) throw new DecodeError(`${r.remaining} trailing bytes after message`);
  return msg;
}

/** @param {ByteReader} r @returns {Schema} */
function readSchema(r) {
  return {
    game: r.string(),
    entity_kinds: r.list(() => ({
      name: r.string(),
      fields: r.list(() => ({ name: r.string(), scale: r.u32() })),
    })),
    input: r.list(() => ({ name: r.string(), min: r.i32(), max: r.i32() })),
    event_kinds: r.list(() => r.string()),
  };
}

/** @param {ByteReader} r @returns {GameEvent} */
function readEvent(r) {
  const variant = r.u32();
  switch (EVENT_TYPES[variant]) {
    case 'Joined':
      return { type: 'Joined', player: r.u32(), name: r.string() };
    case 'Left':
      return { type: 'Left', player: r.u32() };
    case 'Chat':
      return { type: 'Chat', player: r.u32(), text: r.string() };
    case 'Game':
      return { type: 'Game', kind: r.u16(), player: r.u32(), value: r.i32() };
    default:
      throw new DecodeError(`unknown event variant ${variant}`);
  }
}

/**
 * Ids in each entity list are sent as gaps from the previous id of that list.
 * @param {ByteReader} r @param {{id: number}} prev The previous id, updated. @returns {number}
 */
function readId(r, prev) {
  const id = prev.id + r.u32();
  if (id > 0xffffffff) throw new DecodeError('entity id overflows u32');
  prev.id = id;
  return id;
}

/** @param {ByteReader} r @param {Schema} schema @returns {Entity[]} */
function readEntities(r, schema) {
  const prev = { id: 0 };
  return r.list(() => {
    const id = readId(r, prev);
    const kind = r.u32();
    const def = schema.entity_kinds[kind];
    if (!def) throw new DecodeError(`unknown entity kind ${kind}`);
    const fields = new Array(def.fields.length);
    for (let i = 0; i < fields.length; i++) fields[i] = r.i32();
    return { id, kind, fields };
  });
}

/** @param {number} m @returns {number} */
function popcount32(m) {
  let n = 0;
  for (let v = m >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

/** A delta body's state part. @param {ByteReader} r @param {Schema} schema */
function readDeltaState(r, schema) {
  const created = readEntities(r, schema);
  const prev = { id: 0 };
  const changed = r.list(() => {
    const id = readId(r, prev);
    const mask = r.u32();
    const changes = new Array(popcount32(mask));
    for (let i = 0; i < changes.length; i++) changes[i] = r.i32();
    return { id, mask, changes };
  });
  const prevRemoved = { id: 0 };
  const removed = r.list(() => readId(r, prevRemoved));
  return { created, changed, removed };
}

/**
 * A snapshot body (`whole`) or a delta body, events included.
 * @param {ByteReader} r @param {Schema} schema @param {boolean} whole @returns {CellBody}
 */
function readBody(r, schema, whole) {
  if (whole) {
    const entities = readEntities(r, schema);
    return { entities, events: r.list(() => readEvent(r)) };
  }
  const state = readDeltaState(r, schema);
  return { ...state, events: r.list(() => readEvent(r)) };
}

/** Orders cells by (x, y). @param {[number, number]} a @param {[number, number]} b */
export function compareCells(a, b) {
  return a[0] - b[0] || a[1] - b[1];
}

/** Flags of a cell delta body: which parts follow. */
const CELL_CREATED = 1;
const CELL_CHANGED = 2;
const CELL_REMOVED = 4;
const CELL_EVENTS = 8;

/**
 * Increasing indexes sent as gaps: the first from 0, each next gap at least 1.
 * @param {ByteReader} r @param {{index: number}} prev The previous index (-1 before the first), updated.
 * @returns {number}
 */
function readIndex(r, prev) {
  const gap = r.u64();
  if (prev.index >= 0 && gap === 0) throw new DecodeError('index gap 0: indexes must increase');
  const index = prev.index < 0 ? gap : prev.index + gap;
  if (!Number.isSafeInteger(index)) throw new DecodeError('index beyond a JavaScript number');
  prev.index = index;
  return index;
}

/**
 * A cell delta body: flags, then the parts they name.
 * @param {ByteReader} r @param {Schema} schema @returns {CellDeltaBody}
 */
function readCellDelta(r, schema) {
  const flags = r.u64();
  if (flags > (CELL_CREATED | CELL_CHANGED | CELL_REMOVED | CELL_EVENTS)) {
    throw new DecodeError(`cell delta flags 0x${flags.toString(16)} name unknown parts`);
  }
  const created = flags & CELL_CREATED ? readEntities(r, schema) : [];
  const prevChanged = { index: -1 };
  const changed = flags & CELL_CHANGED
    ? r.list(() => {
        const index = readIndex(r, prevChanged);
        const mask = r.u32();
        const changes = new Array(popcount32(mask));
        for (let i = 0; i < changes.length; i++) changes[i] = r.i32();
        return { index, mask, changes };
      })
    : [];
  const prevRemoved = { index: -1 };
  const removed = flags & CELL_REMOVED ? r.list(() => readIndex(r, prevRemoved)) : [];
  const events = flags & CELL_EVENTS ? r.list(() => readEvent(r)) : [];
  return { created, changed, removed, events };
}

/**
 * A Cell update's sections and dropped cells (docs/PROTOCOL.md, "Cell update"), each
 * checked: sorted and unique, no cell both sent and dropped, no age older than tick 0,
 * and each section's body exactly `body_len` bytes (checked against the bytes left
 * first).
 * @param {ByteReader} r @param {Schema} schema @param {number} tick
 * @returns {{sections: CellSection[], dropped: [number, number][]}}
 */
function readCells(r, schema, tick) {
  /** @type {CellSection[]} */
  const sections = [];
  const count = r.count();
  for (let i = 0; i < count; i++) {
    /** @type {[number, number]} */
    const cell = [r.i32(), r.i32()];
    const last = sections[sections.length - 1];
    if (last && compareCells(cell, last.cell) <= 0) throw new DecodeError(`cell section ${cell} after ${last.cell}: not sorted or repeated`);
    const age = r.u64();
    if (age > tick) throw new DecodeError(`cell ${cell}: age ${age} is older than tick 0 (tick ${tick})`);
    const len = r.uint();
    if (len > r.remaining) throw new DecodeError(`cell ${cell}: body_len ${len} exceeds ${r.remaining} remaining bytes`);
    const body = new ByteReader(r.bytes.subarray(r.pos, r.pos + len));
    r.pos += len;
    let decoded;
    try {
      decoded = age === 0 ? readBody(body, schema, true) : readCellDelta(body, schema);
    } catch (error) {
      const why = /** @type {Error} */ (error).message;
      throw new DecodeError(`cell ${cell}: ${why === 'message truncated' ? `body ends before its body_len ${len}` : why}`);
    }
    if (body.remaining !== 0) throw new DecodeError(`cell ${cell}: body decodes to ${len - body.remaining} of its ${len} bytes`);
    sections.push(/** @type {CellSection} */ ({ cell, age, ...decoded }));
  }
  /** @type {[number, number][]} */
  const dropped = [];
  const dropCount = r.count();
  for (let i = 0; i < dropCount; i++) {
    /** @type {[number, number]} */
    const cell = [r.i32(), r.i32()];
    const last = dropped[dropped.length - 1];
    if (last && compareCells(cell, last) <= 0) throw new DecodeError(`dropped cell ${cell} after ${last}: not sorted or repeated`);
    // Both lists are sorted: a binary search would do, a scan is as clear for a few cells.
    if (sections.some((s) => compareCells(s.cell, cell) === 0)) throw new DecodeError(`cell ${cell} is both dropped and sent`);
    dropped.push(cell);
  }
  return { sections, dropped };
}

/**
 * Every event of an update in the order to handle them: a Cell update's room part
 * first, then each section's in section order.
 * @param {UpdateMessage} msg
 * @returns {GameEvent[]}
 */
export function updateEvents(msg) {
  if (msg.type !== 'CellUpdate') return msg.events;
  return [...msg.room.events, ...msg.sections.flatMap((s) => s.events)];
}

/**
 * Decodes one server message. Snapshot and Delta bodies are decoded with `schema` (from
 * Welcome); without it they throw. Returned shapes use the Rust field names:
 * - `{type:'Welcome', protocol, player_id, room, tick_rate_hz, tick, resume_token, players:[{id,name}], schema}`
 * - `{type:'Snapshot', tick, ack_input, server_time_us, entities:[{id,kind,fields}], events}`
 * - `{type:'Delta', tick, base_tick, ack_input, server_time_us, created, changed:[{id,mask,changes}], removed, events}`
 * - `{type:'CellUpdate', tick, base_tick, ack_input, server_time_us, room, sections:[{cell:[x,y], age, …body}], dropped:[[x,y]]}`
 *   (protocol version 3): the room part as a Snapshot's body (`entities`, `events`) when its base is 0, else as
 *   a Delta's; a section as a Snapshot's body when its age is 0, else a cell delta body (`created`,
 *   `changed:[{index,mask,changes}]`, `removed:[index]`, `events`), indexes into the client's copy sorted by id
 * - `{type:'Pong', client_time, server_time_us}`, `{type:'Notice', code, reason}`
 * Events are `{type:'Joined',player,name}`, `{type:'Left',player}`, `{type:'Chat',player,text}`,
 * `{type:'Game',kind,player,value}`.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @param {Schema | null} [schema] The schema from Welcome.
 * @returns {ServerMessage}
 * @throws {DecodeError}
 */
export function decodeServerMessage(data, schema) {
  const r = new ByteReader(data);
  const tag = r.u32();
  /** @type {ServerMessage} */
  let msg;
  switch (tag) {
    case ServerTag.Welcome:
      msg = {
        type: 'Welcome',
        protocol: r.u16(),
        player_id: r.u32(),
        room: r.string(),
        tick_rate_hz: r.u16(),
        tick: r.u64(),
        resume_token: r.string(),
        players: r.list(() => ({ id: r.u32(), name: r.string() })),
        schema: readSchema(r),
      };
      // Protocol version 2 on (docs/PROTOCOL.md, "Versions"): the game's constants follow.
      if (msg.protocol >= 2) msg.constants = r.list(() => ({ name: r.string(), value: r.i64() }));
      break;
    case ServerTag.Snapshot:
    case ServerTag.Delta: {
      const delta = tag === ServerTag.Delta;
      const tick = r.u64();
      const base_tick = delta ? r.u64() : 0;
      const ack_input = r.u32();
      const server_time_us = r.u64();
      if (!schema) throw new DecodeError('a schema (from Welcome) is needed to decode updates');
      if (delta) {
        const { created, changed, removed } = readDeltaState(r, schema);
        const events = r.list(() => readEvent(r));
        msg = { type: 'Delta', tick, base_tick, ack_input, server_time_us, created, changed, removed, events };
      } else {
        const entities = readEntities(r, schema);
        const events = r.list(() => readEvent(r));
        msg = { type: 'Snapshot', tick, ack_input, server_time_us, entities, events };
      }
      break;
    }
    case ServerTag.CellUpdate: {
      const tick = r.u64();
      const base_tick = r.u64();
      const ack_input = r.u32();
      const server_time_us = r.u64();
      if (!schema) throw new DecodeError('a schema (from Welcome) is needed to decode updates');
      const room = readBody(r, schema, base_tick === 0);
      const { sections, dropped } = readCells(r, schema, tick);
      msg = { type: 'CellUpdate', tick, base_tick, ack_input, server_time_us, room, sections, dropped };
      break;
    }
    case ServerTag.Pong:
      msg = { type: 'Pong', client_time: r.u64(), server_time_us: r.u64() };
      break;
    case ServerTag.Notice:
      msg = { type: 'Notice', code: r.u16(), reason: r.string() };
      break;
    default:
      throw new DecodeError(`unknown server message tag ${tag}`);
  }
  if (r.remaining !== 0) throw new DecodeError(`${r.remaining} trailing bytes after message`);
  return msg;
}

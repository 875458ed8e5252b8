// tickcast.js: the browser client of a tickcast server, as one plain ES module.
//
// What is in here, top to bottom:
//   1. Wire codec: bincode-2 integers, every server message decoded, every client message
//      encoded, byte for byte as `src/protocol/` writes and reads them.
//   2. State: applying a Snapshot (keyframe) or a Delta to a local copy of the room's
//      entities, with the same rules as `ClientState::apply` in `src/sync/delta.rs`.
//   3. Time: a server-clock estimate, and interpolation of other entities about two
//      ticks in the past.
//   4. Prediction: the player's own entity moved at once by a game-supplied predictor,
//      reconciled with the server when updates acknowledge inputs.
//   5. TickcastClient: guest token, WebSocket, input and ping loops, and reconnection
//      with backoff that resumes the same player while the server still holds its seat.
//   6. Clusters: `matchmake()` asks `GET /api/matchmake` which node hosts (or will
//      host) a room and reserves a seat there; with the client's `matchmake` option
//      every connect and reconnect is placed that way (a room restored on another node
//      after a crash is found again), and a 4421 WRONG_NODE close is followed at once to
//      the node its reason names.
//
// Nothing here knows a particular game: entities are decoded from the schema the server
// sends in Welcome. The only game-specific code is `arenaPredictor`, an optional
// predictor for the demo arena game.
//
// Usage:
//
//   import { TickcastClient, arenaPredictor } from '/tickcast.js';
//
//   const client = new TickcastClient({ name: 'alice', room: 'lobby', predictor: arenaPredictor() });
//   client.addEventListener('statechange', (e) => console.log('connection', e.detail.state));
//   client.addEventListener('joined', (e) => console.log(e.detail.name, 'joined'));
//   client.connect();
//   addEventListener('keydown', () => client.setInput([1, 0, 0]));   // dx, dy, buttons
//   requestAnimationFrame(function frame() {
//     for (const e of client.view().entities) draw(e.kindName, e.values.x, e.values.y);
//     requestAnimationFrame(frame);
//   });
//
//   // Against a cluster (several nodes sharing rooms), the server places the player:
//   new TickcastClient({ name: 'alice', room: null, matchmake: true });
//
// Test hook: a page that wants to be inspected sets `window.tickcast = client`; the
// client's `state`, `playerId`, `room`, `tick`, `entities` (Map id -> {kind, fields}),
// `players` (Map id -> name), `rtt` (ms), `stats`, `node` and `nodeUrl` are plain
// read-only properties.

// ---------------------------------------------------------------------------------------
// 1. Wire codec
// ---------------------------------------------------------------------------------------

/** Protocol version carried in Welcome; the client refuses any other. */
export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol both ends speak. */
export const SUBPROTOCOL = 'tickcast.v1';
/** Subprotocol prefix carrying a guest or game session token. */
export const TOKEN_PREFIX = 'tickcast.token.';
/** Subprotocol prefix carrying a resume token. */
export const RESUME_PREFIX = 'tickcast.resume.';
/** Subprotocol prefix carrying a seat reservation from `GET /api/matchmake` (cluster mode). */
export const SEAT_PREFIX = 'tickcast.seat.';

/** Tags of server messages (a varint in front of each). */
export const ServerTag = Object.freeze({ Welcome: 0, Snapshot: 1, Delta: 2, Pong: 3, Notice: 4 });
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
});

/**
 * What a client should do after a close with `code`, as `docs/PROTOCOL.md` prescribes.
 * - `'stop'`: do not reconnect (left, kicked, room full, replaced, or a client bug that
 *   would only repeat).
 * - `'reauth'`: the token (or resume token) was refused: get a new one, then retry.
 * - `'redirect'`: 4421, the room lives on another node: reconnect at once, with the
 *   same credentials, to the URL in the close reason (see wrongNodeTarget); a reason that
 *   is not a ws:/wss: URL, or too many redirects in a row, count as a `'retry'`.
 * - `'retry'`: reconnect with backoff, resuming the player if possible.
 * @param {number} code WebSocket close code.
 * @returns {'stop' | 'reauth' | 'redirect' | 'retry'}
 */
export function closeAction(code) {
  switch (code) {
    case CloseCode.WRONG_NODE:
      return 'redirect';
    case CloseCode.NORMAL:
    case CloseCode.PROTOCOL_ERROR:
    case CloseCode.UNSUPPORTED_DATA:
    case CloseCode.INVALID_PAYLOAD:
    case CloseCode.TOO_BIG:
    case CloseCode.KICKED:
    case CloseCode.ROOM_FULL:
    case CloseCode.REPLACED:
      return 'stop';
    case CloseCode.UNAUTHORIZED:
      return 'reauth';
    default:
      // 1001 shutting down, 1006 dropped, 1008 policy, 1011 internal, 1012 room stopped,
      // and anything unknown: the server may be back; backoff keeps retries polite.
      return 'retry';
  }
}

/** Bytes that are not a valid tickcast message (truncated, bad marker, out of range…). */
export class DecodeError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** A Delta whose base is not the tick the client holds: ignore it and wait. */
export class BaseMismatchError extends Error {
  /** @param {number} baseTick @param {number} heldTick */
  constructor(baseTick, heldTick) {
    super(`delta from tick ${baseTick} but client holds tick ${heldTick}`);
    this.name = 'BaseMismatchError';
    this.baseTick = baseTick;
    this.heldTick = heldTick;
  }
}

// bincode 2 `config::standard()` integer markers (see src/protocol/codec.rs).
const SINGLE_BYTE_MAX = 250;
const U16_MARKER = 251;
const U32_MARKER = 252;
const U64_MARKER = 253;
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();

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
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = item();
    return out;
  }
}

/** Appends bincode-standard values to a growing buffer. */
export class ByteWriter {
  constructor() {
    this.bytes = new Uint8Array(32);
    this.length = 0;
  }

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

  /** The bytes written so far (a copy). @returns {Uint8Array} */
  finish() {
    return this.bytes.slice(0, this.length);
  }
}

function checkI32(v, what) {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`${what} ${v} is not an i32`);
}

/**
 * Encodes a client message. Shapes (snake_case, as in `docs/PROTOCOL.md`):
 * `{type:'Input', seq, values}`, `{type:'Ping', client_time}`, `{type:'Leave'}`,
 * `{type:'Chat', text}`.
 * @param {{type: 'Input'|'Ping'|'Leave'|'Chat', seq?: number, values?: number[], client_time?: number|bigint, text?: string}} msg
 * @returns {Uint8Array}
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
      throw new TypeError(`unknown client message type ${msg.type}`);
  }
  return w.finish();
}

/**
 * Decodes a client message (what a server or a proxy reads); the inverse of
 * encodeClientMessage.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {{type: string, seq?: number, values?: number[], client_time?: number, text?: string}}
 * @throws {DecodeError}
 */
export function decodeClientMessage(data) {
  const r = new ByteReader(data);
  const tag = r.u32();
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

/** Ids in each entity list are sent as gaps from the previous id of that list. */
function readId(r, prev) {
  const id = prev.id + r.u32();
  if (id > 0xffffffff) throw new DecodeError('entity id overflows u32');
  prev.id = id;
  return id;
}

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

function popcount32(m) {
  let n = 0;
  for (let v = m >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

/**
 * Decodes one server message. Snapshot and Delta bodies are decoded with `schema` (from
 * Welcome); without it they throw. Returned shapes use the Rust field names:
 * - `{type:'Welcome', protocol, player_id, room, tick_rate_hz, tick, resume_token, players:[{id,name}], schema}`
 * - `{type:'Snapshot', tick, ack_input, server_time_us, entities:[{id,kind,fields}], events}`
 * - `{type:'Delta', tick, base_tick, ack_input, server_time_us, created, changed:[{id,mask,changes}], removed, events}`
 * - `{type:'Pong', client_time, server_time_us}`, `{type:'Notice', code, reason}`
 * Events are `{type:'Joined',player,name}`, `{type:'Left',player}`, `{type:'Chat',player,text}`,
 * `{type:'Game',kind,player,value}`.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @param {object} [schema] The schema from Welcome.
 * @returns {object}
 * @throws {DecodeError}
 */
export function decodeServerMessage(data, schema) {
  const r = new ByteReader(data);
  const tag = r.u32();
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
        msg = { type: 'Delta', tick, base_tick, ack_input, server_time_us, created, changed, removed };
      } else {
        msg = { type: 'Snapshot', tick, ack_input, server_time_us, entities: readEntities(r, schema) };
      }
      msg.events = r.list(() => readEvent(r));
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

// ---------------------------------------------------------------------------------------
// 2. State
// ---------------------------------------------------------------------------------------

/**
 * A client's copy of a room's state: `{tick, entities}` where `entities` is a Map from
 * entity id to `{kind, fields}` (quantized integers in schema order). States are never
 * mutated once made: applying an update returns a new state sharing unchanged entities,
 * which is what lets the interpolation buffer keep a few of them cheaply.
 * @param {number} [tick] 0 means "nothing received yet".
 * @param {Iterable<{id: number, kind: number, fields: number[]}>} [entities]
 * @returns {{tick: number, entities: Map<number, {kind: number, fields: number[]}>}}
 */
export function createState(tick = 0, entities = []) {
  const map = new Map();
  for (const e of entities) map.set(e.id, { kind: e.kind, fields: e.fields.slice() });
  return { tick, entities: map };
}

/**
 * A state as a plain object with entities sorted by id (the golden vectors' layout).
 * @param {{tick: number, entities: Map<number, {kind: number, fields: number[]}>}} state
 * @returns {{tick: number, entities: {id: number, kind: number, fields: number[]}[]}}
 */
export function stateToJSON(state) {
  const ids = [...state.entities.keys()].sort((a, b) => a - b);
  return { tick: state.tick, entities: ids.map((id) => ({ id, ...state.entities.get(id), fields: state.entities.get(id).fields.slice() })) };
}

/**
 * Applies a decoded Snapshot or Delta to `state` and returns the new state (the old one
 * is left untouched). A Snapshot replaces everything. A Delta must be based on the tick
 * held, or it throws BaseMismatchError: the client then keeps its state and waits, since
 * the server sends a keyframe or a delta from the client's baseline later.
 * @param {{tick: number, entities: Map<number, {kind: number, fields: number[]}>}} state
 * @param {object} msg A message from decodeServerMessage.
 * @returns {{tick: number, entities: Map<number, {kind: number, fields: number[]}>}}
 * @throws {BaseMismatchError | DecodeError}
 */
export function applyUpdate(state, msg) {
  if (msg.type === 'Snapshot') return createState(msg.tick, msg.entities);
  if (msg.type !== 'Delta') return state;
  if (msg.base_tick !== state.tick) throw new BaseMismatchError(msg.base_tick, state.tick);
  const next = new Map(state.entities);
  for (const e of msg.created) next.set(e.id, { kind: e.kind, fields: e.fields.slice() });
  for (const c of msg.changed) {
    const old = next.get(c.id);
    if (!old) throw new DecodeError(`change to unknown entity ${c.id}`);
    const n = old.fields.length;
    if (n < 32 && c.mask >>> n !== 0) throw new DecodeError(`mask 0x${c.mask.toString(16)} beyond fields of ${c.id}`);
    const fields = old.fields.slice();
    let k = 0;
    for (let bit = 0; bit < n; bit++) {
      // `| 0` is i32 wrapping addition, as the server's `wrapping_add`.
      if ((c.mask >>> bit) & 1) fields[bit] = (fields[bit] + c.changes[k++]) | 0;
    }
    next.set(c.id, { kind: old.kind, fields });
  }
  for (const id of msg.removed) next.delete(id);
  return { tick: msg.tick, entities: next };
}

// ---------------------------------------------------------------------------------------
// 3. Time: server clock and interpolation
// ---------------------------------------------------------------------------------------

/**
 * Estimates the server's clock on the local monotonic clock (`performance.now()`, ms).
 *
 * Two estimates, for two uses:
 * - `now()`: the server's wall clock right now, from Ping/Pong (the sample with the
 *   smallest round trip of the last few wins, as NTP does), or before the first Pong from
 *   updates plus half the RTT.
 * - `arrival()`: the server time of the freshest update one would expect to hold right
 *   now. It is the largest `server_time - arrival_time` over the last two seconds of
 *   updates (late arrivals only make that difference smaller), so it already includes
 *   the one-way latency and the server's send delay. Interpolation runs behind it.
 */
export class ServerClock {
  constructor() {
    /** @type {{offset: number, rtt: number}[]} */
    this.pongs = [];
    /** @type {{offset: number, at: number}[]} */
    this.arrivals = [];
  }

  /**
   * Records an update: its `server_time_us` and the local time it arrived.
   * @param {number} serverTimeUs @param {number} localMs
   */
  observeUpdate(serverTimeUs, localMs) {
    this.arrivals.push({ offset: serverTimeUs / 1000 - localMs, at: localMs });
    // Two seconds of updates at up to 128 Hz, and never a stale one older than that.
    while (this.arrivals.length > 256 || (this.arrivals.length > 1 && localMs - this.arrivals[0].at > 2000)) {
      this.arrivals.shift();
    }
  }

  /**
   * Records a Pong: the local time the Ping left, the server's time, and now.
   * @param {number} sentMs @param {number} serverTimeUs @param {number} localMs
   */
  observePong(sentMs, serverTimeUs, localMs) {
    const rtt = localMs - sentMs;
    this.pongs.push({ offset: serverTimeUs / 1000 - (sentMs + rtt / 2), rtt });
    if (this.pongs.length > 8) this.pongs.shift();
  }

  /** Forgets everything (another server or room). */
  reset() {
    this.pongs.length = 0;
    this.arrivals.length = 0;
  }

  /** True once at least one update arrived. @returns {boolean} */
  get ready() {
    return this.arrivals.length > 0;
  }

  /**
   * The server time (ms since the Unix epoch) of the freshest update expected by now.
   * @param {number} localMs @returns {number}
   */
  arrival(localMs) {
    let best = -Infinity;
    for (const s of this.arrivals) best = Math.max(best, s.offset);
    return localMs + best;
  }

  /**
   * The server's wall clock now (ms since the Unix epoch), or NaN before any sample.
   * @param {number} localMs @param {number} [rttMs] Used before the first Pong.
   * @returns {number}
   */
  now(localMs, rttMs = 0) {
    if (this.pongs.length > 0) {
      const best = this.pongs.reduce((a, b) => (b.rtt < a.rtt ? b : a));
      return localMs + best.offset;
    }
    if (this.arrivals.length > 0) return this.arrival(localMs) + rttMs / 2;
    return NaN;
  }
}

/**
 * Keeps the last received states with their server times and answers "what did the world
 * look like at server time t", interpolating numeric fields between the two states around
 * t. Entities shown are those of the older state (so an entity appears and disappears
 * when the server said it did); fields lerp toward the newer state when the entity is in
 * both with the same kind.
 */
export class InterpolationBuffer {
  /**
   * @param {object} options
   * @param {object} options.schema The game's schema.
   * @param {(kind: number, field: number) => boolean} [options.interpolate] Which fields lerp;
   *   default: fields with a scale above 1 (positions), others step.
   * @param {number} [options.snapDistance] A field jumping more than this (in quanta)
   *   between two states is not lerped (a respawn, a teleport).
   * @param {number} [options.capacity] States kept.
   */
  constructor({ schema, interpolate, snapDistance = Infinity, capacity = 32 }) {
    this.schema = schema;
    this.snapDistance = snapDistance;
    this.capacity = capacity;
    this.lerpable = schema.entity_kinds.map((k, kind) =>
      k.fields.map((f, field) => (interpolate ? interpolate(kind, field) : f.scale > 1)),
    );
    /** @type {{time: number, tick: number, entities: Map<number, {kind: number, fields: number[]}>}[]} */
    this.states = [];
  }

  /**
   * Adds a state with its server time in ms; out-of-order or repeated ticks are ignored.
   * @param {{tick: number, entities: Map}} state @param {number} serverMs
   */
  push(state, serverMs) {
    const last = this.states[this.states.length - 1];
    if (last && state.tick <= last.tick) {
      if (state.tick === last.tick) return;
      this.states.length = 0; // the server went back in time (a new room): start over
    }
    this.states.push({ time: serverMs, tick: state.tick, entities: state.entities });
    if (this.states.length > this.capacity) this.states.shift();
  }

  /** Drops every state. */
  clear() {
    this.states.length = 0;
  }

  /**
   * The world at server time `t`: a Map id -> {kind, fields} with fractional fields.
   * Before the oldest state it shows the oldest; after the newest, the newest (no
   * extrapolation).
   * @param {number} t Server time in ms.
   * @returns {Map<number, {kind: number, fields: number[]}>}
   */
  sample(t) {
    const s = this.states;
    if (s.length === 0) return new Map();
    let i = s.length - 1;
    if (Number.isNaN(t) || t >= s[i].time) return s[i].entities;
    if (t <= s[0].time) return s[0].entities;
    while (s[i - 1].time > t) i--;
    const from = s[i - 1];
    const to = s[i];
    const alpha = (t - from.time) / Math.max(1e-6, to.time - from.time);
    const out = new Map();
    for (const [id, a] of from.entities) {
      const b = to.entities.get(id);
      if (!b || b.kind !== a.kind) {
        out.set(id, a);
        continue;
      }
      out.set(id, { kind: a.kind, fields: this.blend(a.kind, a.fields, b.fields, alpha) });
    }
    return out;
  }

  /**
   * Blends two field arrays of one kind: lerp where allowed and the jump is small, else
   * the older value until half way, then the newer.
   * @param {number} kind @param {number[]} a @param {number[]} b @param {number} alpha
   * @returns {number[]}
   */
  blend(kind, a, b, alpha) {
    const lerp = this.lerpable[kind] || [];
    const out = new Array(a.length);
    for (let f = 0; f < a.length; f++) {
      if (lerp[f] && Math.abs(b[f] - a[f]) <= this.snapDistance) out[f] = a[f] + (b[f] - a[f]) * alpha;
      else out[f] = alpha < 0.5 ? a[f] : b[f];
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// 4. Prediction
// ---------------------------------------------------------------------------------------

/**
 * A predictor for the demo arena game: the server's fixed-point movement rule
 * (`Arena::step_quanta` in src/game/arena.rs), reproduced bit for bit. Every tick the
 * player moves `step = trunc(speed * 10 / rate_hz)` quanta along each non-zero input
 * axis; boost (buttons bit 0) makes it `trunc(step * 3 / 2)`; on a diagonal it becomes
 * `(step * 181) >> 8`; then the position is clamped to `[radius*10, (size-radius)*10]`.
 *
 * A predictor is any object `{kind, step(fields, input, ctx) -> fields, snapDistance?, idle?}`:
 * `kind` names the entity kind of the player's own entity, `step` advances its fields by
 * one tick of `input` (schema input order), `ctx` is `{rateHz}`; `snapDistance` (quanta)
 * is the largest correction smoothed rather than snapped; `idle(input)` says that
 * repeating `input` changes nothing, which lets the client stop resending it.
 * @param {{speed?: number, size?: number, playerRadius?: number, scale?: number}} [config]
 *   Arena tunables in arena units (the server's ArenaConfig defaults).
 * @returns {{kind: string, snapDistance: number, idle: (input: number[]) => boolean, step: (fields: number[], input: number[], ctx: {rateHz: number}) => number[]}}
 */
export function arenaPredictor({ speed = 200, size = 1000, playerRadius = 20, scale = 10 } = {}) {
  const lo = playerRadius * scale;
  const hi = (size - playerRadius) * scale;
  return {
    kind: 'player',
    // Corrections larger than a few ticks of boosted movement are snapped, not smoothed.
    snapDistance: 60 * scale,
    // Standing still: repeating this input changes nothing, so it need not be resent.
    idle: ([dx = 0, dy = 0]) => dx === 0 && dy === 0,
    step(fields, [dx = 0, dy = 0, buttons = 0], { rateHz }) {
      let step = Math.trunc((speed * scale) / Math.max(1, rateHz));
      if (buttons & 1) step = Math.trunc((step * 3) / 2);
      if (dx !== 0 && dy !== 0) step = (step * 181) >> 8;
      const out = fields.slice();
      out[0] = Math.min(hi, Math.max(lo, fields[0] + Math.sign(dx) * step));
      out[1] = Math.min(hi, Math.max(lo, fields[1] + Math.sign(dy) * step));
      return out;
    },
  };
}

/**
 * Client-side prediction of the player's own entity, with reconciliation.
 *
 * Each input sent is applied at once (`applyLocal`). When an update says the server
 * applied inputs up to `ack`, the authoritative fields replace the prediction and the
 * inputs after `ack` are replayed on top (`reconcile`). The visible position moves
 * smoothly: it is interpolated across the local tick, and a correction is spread over
 * ~100 ms instead of jumping (unless it is larger than the predictor's snapDistance).
 */
export class Prediction {
  /**
   * @param {object} predictor See arenaPredictor.
   * @param {number} rateHz Ticks per second.
   * @param {number[]} lerpFields Field indexes that are smoothed (positions).
   */
  constructor(predictor, rateHz, lerpFields) {
    this.predictor = predictor;
    this.rateHz = rateHz;
    this.tickMs = 1000 / rateHz;
    this.lerpFields = lerpFields;
    this.snapDistance = predictor.snapDistance ?? Infinity;
    /** Inputs sent and not yet acknowledged, oldest first. @type {{seq: number, values: number[]}[]} */
    this.pending = [];
    /** Predicted fields now, or null before the entity was seen. @type {number[] | null} */
    this.fields = null;
    this.previous = null;
    this.steppedAt = 0;
    this.error = null;
    this.errorAt = 0;
  }

  /** Forgets the prediction (new room, resumed session). */
  reset() {
    this.pending.length = 0;
    this.fields = this.previous = this.error = null;
  }

  /**
   * Applies an input just sent.
   * @param {number} seq @param {number[]} values @param {number} localMs
   */
  applyLocal(seq, values, localMs) {
    this.pending.push({ seq, values });
    // Bound the replay: with no acks for this long, the server is not applying them.
    if (this.pending.length > 4 * this.rateHz) this.pending.shift();
    if (!this.fields) return;
    this.previous = this.display(localMs);
    this.error = null;
    this.fields = this.predictor.step(this.fields, values, { rateHz: this.rateHz });
    this.steppedAt = localMs;
  }

  /**
   * Rebuilds the prediction from the server's fields at `ack`.
   * @param {number[] | null} authoritative The entity's fields in the update, or null if absent.
   * @param {number} ack The update's ack_input.
   * @param {number} localMs
   */
  reconcile(authoritative, ack, localMs) {
    while (this.pending.length > 0 && this.pending[0].seq <= ack) this.pending.shift();
    if (!authoritative) {
      this.fields = this.previous = this.error = null;
      return;
    }
    let fields = authoritative.slice();
    for (const p of this.pending) fields = this.predictor.step(fields, p.values, { rateHz: this.rateHz });
    if (!this.fields) {
      this.fields = fields;
      this.previous = this.error = null;
      return;
    }
    // Move both ends of the in-tick interpolation by the correction: a right prediction
    // changes nothing on screen, a wrong one is shown where it was and fades out.
    const shown = this.display(localMs);
    const correction = this.lerpFields.map((f) => fields[f] - this.fields[f]);
    const previous = (this.previous || this.fields).slice();
    this.lerpFields.forEach((f, i) => (previous[f] += correction[i]));
    this.previous = previous;
    this.fields = fields;
    if (correction.every((c) => c === 0)) return;
    const after = this.display(localMs, false);
    const error = this.lerpFields.map((f) => shown[f] - after[f]);
    const far = error.some((e) => Math.abs(e) > this.snapDistance);
    this.error = far ? null : error;
    this.errorAt = localMs;
  }

  /**
   * The fields to draw now: between the previous and current prediction across the local
   * tick, plus the fading correction.
   * @param {number} localMs @param {boolean} [withError]
   * @returns {number[] | null}
   */
  display(localMs, withError = true) {
    if (!this.fields) return null;
    const out = this.fields.slice();
    const alpha = Math.min(1, Math.max(0, (localMs - this.steppedAt) / this.tickMs));
    const prev = this.previous || this.fields;
    for (const f of this.lerpFields) out[f] = prev[f] + (this.fields[f] - prev[f]) * alpha;
    if (withError && this.error) {
      const fade = Math.exp(-(localMs - this.errorAt) / 100);
      this.lerpFields.forEach((f, i) => (out[f] += this.error[i] * fade));
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// 5. The client
// ---------------------------------------------------------------------------------------

/**
 * Delay before reconnect attempt `attempt` (0-based): "full jitter" exponential backoff,
 * a uniformly random delay in `[0, min(capMs, baseMs * 2^attempt))`. Randomness keeps a
 * crowd of clients dropped together from coming back together.
 * @param {number} attempt @param {number} baseMs @param {number} capMs
 * @param {() => number} [random] A source of [0, 1) numbers.
 * @returns {number} Milliseconds.
 */
export function backoffDelay(attempt, baseMs, capMs, random = Math.random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Connection states, in the order a session usually goes through them. */
export const ConnectionState = Object.freeze({
  IDLE: 'idle',
  CONNECTING: 'connecting',
  LIVE: 'live',
  RECONNECTING: 'reconnecting',
  GONE: 'gone',
});

const now = () => globalThis.performance.now();

/**
 * A connection to one room of a tickcast server, which keeps itself alive.
 *
 * Events (it is an EventTarget; every event is a CustomEvent, data in `detail`):
 * - `statechange` `{state, previous, code?, reason?, delayMs?}`, and the same event under
 *   the state's own name: `connecting`, `live`, `reconnecting`, `gone`.
 * - `welcome` (the Welcome message), `update` `{tick, ack, keyframe, events}`,
 *   `joined` `{player, name}`, `left` `{player, name}`, `chat` `{player, name, text}`,
 *   `game` `{kind, kindName, player, value}`, `notice` `{code, reason}`,
 *   `pong` `{rtt}`, `error` `{error}` (a message that could not be decoded),
 *   `matchmake` (the answer of `GET /api/matchmake`, see matchmake), `redirect`
 *   `{url, reason}` (a 4421 followed to another node).
 *
 * Cluster mode (`matchmake` option): before every connect and reconnect the client asks
 * its home server `GET /api/matchmake` where to go: `?room=<room>` for a named room or
 * to resume its player (the answer names the room's current node, or a live node that
 * restores it after a crash), no room for join-or-create. A fresh join offers the seat
 * reservation of the answer (`tickcast.seat.`) with its session token; a resume offers
 * only its resume token. A failed matchmake (network, 429, 5xx) is retried with backoff
 * like a failed connection; a 404 means the server has no matchmaking (a single node of
 * an older version) and the client connects to it directly from then on. A 4409 on a
 * join-or-create seat is asked again once (seat counts are advisory), then ends the
 * client as without the option. Without the option nothing changes, except that a
 * 4421 WRONG_NODE close is always followed (a single node never sends one).
 */
export class TickcastClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} [options.url] The server's HTTP origin; default the page's.
   * @param {string} options.name The player's display name (for the guest token).
   * @param {string | null} [options.room] A room name; null or '' for matchmaking.
   * @param {() => Promise<string>} [options.getToken] Supplies a session token; default:
   *   a guest token from `POST /api/session`.
   * @param {object} [options.predictor] Predicts the own entity (see arenaPredictor).
   * @param {(playerId: number) => number} [options.ownEntityId] The entity id of a player;
   *   default: the same number.
   * @param {number} [options.interpolationTicks] How far behind others are drawn (2).
   * @param {number} [options.snapDistance] See InterpolationBuffer.
   * @param {number} [options.backoffBaseMs] First backoff window (500 ms).
   * @param {number} [options.backoffCapMs] Largest backoff window (15 s).
   * @param {number} [options.maxRetries] Consecutive failed attempts before `gone` (Infinity).
   * @param {number} [options.silenceMs] Reconnect when a live connection is silent this long (5 s).
   * @param {number} [options.pingIntervalMs] How often RTT is measured (1 s).
   * @param {number} [options.maxChatBytes] Longest chat line sent, in UTF-8 bytes: the
   *   server's `limits.max_chat_bytes` (200 by default). It closes the session with 1008
   *   on a longer one, so the client refuses to send it.
   * @param {boolean | string} [options.matchmake] Cluster mode: place every connect and
   *   reconnect through `GET /api/matchmake` (see above). `true` asks `options.url`; a
   *   string is another HTTP base to ask (e.g. `'https://lobby.example'`). Default false:
   *   connect to `options.url` directly.
   * @param {number} [options.maxRedirects] 4421 redirects followed in a row before a close
   *   counts as a failed attempt (3).
   * @param {typeof WebSocket} [options.WebSocket] For tests.
   * @param {typeof fetch} [options.fetch] For tests.
   */
  constructor(options) {
    super();
    this.options = {
      url: globalThis.location?.origin,
      room: null,
      interpolationTicks: 2,
      snapDistance: Infinity,
      backoffBaseMs: 500,
      backoffCapMs: 15000,
      maxRetries: Infinity,
      silenceMs: 5000,
      pingIntervalMs: 1000,
      handshakeTimeoutMs: 10000,
      maxChatBytes: 200,
      matchmake: false,
      maxRedirects: 3,
      ownEntityId: (id) => id,
      WebSocket: globalThis.WebSocket,
      fetch: globalThis.fetch?.bind(globalThis),
      ...options,
    };
    if (!this.options.url) throw new TypeError('options.url is required outside a page');
    const mm = this.options.matchmake;
    /** The HTTP base asked for placement, or null without matchmaking. */
    this._matchmakeBase = mm === true ? this.options.url : typeof mm === 'string' && mm !== '' ? mm : null;
    if (this._matchmakeBase != null) {
      const base = new URL(this._matchmakeBase); // throws TypeError on garbage
      if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`options.matchmake: ${mm} is not an http(s) URL`);
    }
    /** Connection state: idle, connecting, live, reconnecting or gone. */
    this.state = ConnectionState.IDLE;
    /** Why the client is gone, if it is: `{code, reason}`. */
    this.goneReason = null;
    this.playerId = null;
    this.room = null;
    /** The cluster node of the last matchmake answer (null without one, or after a redirect). */
    this.node = null;
    /** The WebSocket URL of the current (or last) connection. */
    this.nodeUrl = null;
    this.schema = null;
    this.tickRateHz = null;
    /** Players of the room: Map id -> name (Welcome roster, then Joined/Left events). */
    this.players = new Map();
    /** Smoothed round-trip time in ms (null until the first Pong). */
    this.rtt = null;
    /** Counters for a HUD and for tests. */
    this.stats = {
      bytesReceived: 0,
      bytesPerSecond: 0,
      messages: 0,
      keyframes: 0,
      deltas: 0,
      refusedDeltas: 0,
      reconnects: 0,
      resumes: 0,
      redirects: 0,
      matchmakes: 0,
      inputsSent: 0,
      inputsSkipped: 0,
    };
    this.lastNotice = null;
    this._world = createState();
    this._clock = new ServerClock();
    this._buffer = null;
    this._prediction = null;
    this._input = null;
    this._seq = 0;
    this._lastSent = null;
    this._lags = [];
    this._refusedStreak = 0;
    this._ws = null;
    this._token = null;
    this._tokenExpiresAt = 0;
    this._resumeToken = null;
    this._attempt = 0;
    this._redirects = 0; // 4421s followed since the last Welcome or normal attempt
    this._fullRetried = false; // a 4409 on a join-or-create seat was asked again
    this._conn = null; // the current attempt: {url, seat, matchmade}
    this._timers = new Set();
    this._liveSince = 0;
    this._renderOffset = null;
    this._renderAt = 0;
    this._recentBytes = [];
    this._recentSum = 0;
    this._openedAt = now();
  }

  /** The tick of the state held (0 before the first update). @returns {number} */
  get tick() {
    return this._world.tick;
  }

  /** The authoritative entities: Map id -> {kind, fields} (do not mutate). @returns {Map<number, {kind: number, fields: number[]}>} */
  get entities() {
    return this._world.entities;
  }

  /** The player's own entity id, or null. @returns {number | null} */
  get ownEntityId() {
    return this.playerId == null ? null : this.options.ownEntityId(this.playerId);
  }

  /** Predicted fields of the own entity (null without a predictor). @returns {number[] | null} */
  get predicted() {
    return this._prediction?.fields?.slice() ?? null;
  }

  /** The name of entity kind `kind` in the schema. @param {number} kind @returns {string | undefined} */
  kindName(kind) {
    return this.schema?.entity_kinds[kind]?.name;
  }

  /** Starts connecting (no effect unless idle or gone). */
  connect() {
    if (this.state !== ConnectionState.IDLE && this.state !== ConnectionState.GONE) return;
    this.goneReason = null;
    this._attempt = 0;
    this._fullRetried = false;
    this._setState(ConnectionState.CONNECTING);
    this._open();
  }

  /**
   * Sets the input sent every tick from now on (schema input order; clamped to the
   * declared ranges).
   * @param {number[]} values
   */
  setInput(values) {
    this._input = values.map((v, i) => {
      const f = this.schema?.input[i];
      const n = Math.trunc(Number(v) || 0);
      return f ? Math.min(f.max, Math.max(f.min, n)) : n;
    });
  }

  /**
   * Sends a chat line to the room (ignored unless live, or when longer than maxChatBytes).
   * @param {string} text
   * @returns {boolean} Whether it was sent.
   */
  chat(text) {
    if (UTF8_ENCODER.encode(text).length > this.options.maxChatBytes) return false;
    return this._send({ type: 'Chat', text });
  }

  /**
   * The server's wall clock now (ms since the Unix epoch), estimated from Ping/Pong, or
   * NaN before the first update.
   * @returns {number}
   */
  serverNow() {
    return this._clock.now(now(), this.rtt ?? 0);
  }

  /** Leaves the room for good (the seat is freed at once) and stops. */
  leave() {
    this._send({ type: 'Leave' });
    this._stop(CloseCode.NORMAL, 'left');
  }

  /** Closes the connection without leaving (the server keeps the seat for its grace window) and stops. */
  close() {
    this._stop(CloseCode.NORMAL, 'closed by the client');
  }

  /**
   * What to draw now: other entities interpolated `interpolationTicks` in the past, the
   * own entity predicted. `fields` are quantized (possibly fractional); `values` are in
   * game units by field name (`fields[i] / scale`).
   * @param {number} [localMs] `performance.now()`.
   * @returns {{serverTime: number, entities: {id: number, kind: number, kindName: string, own: boolean, fields: number[], values: Record<string, number>}[]}}
   */
  view(localMs = now()) {
    if (!this.schema || !this._buffer) return { serverTime: NaN, entities: [] };
    const t = this._renderTime(localMs);
    const sampled = this._buffer.sample(t);
    const ownId = this.ownEntityId;
    const own = this._prediction?.display(localMs);
    const entities = [];
    for (const [id, e] of sampled) {
      const mine = id === ownId;
      const fields = mine && own ? own : e.fields;
      entities.push(this._viewEntity(id, e.kind, fields, mine));
    }
    // The own entity is drawn as soon as it is known, even before it is in the buffer's past.
    if (ownId != null && own && !sampled.has(ownId)) {
      const e = this._world.entities.get(ownId);
      if (e) entities.push(this._viewEntity(ownId, e.kind, own, true));
    }
    return { serverTime: t, entities };
  }

  _viewEntity(id, kind, fields, own) {
    const def = this.schema.entity_kinds[kind];
    const values = {};
    def.fields.forEach((f, i) => (values[f.name] = fields[i] / f.scale));
    return { id, kind, kindName: def.name, own, fields, values };
  }

  /** Interpolation time: behind the freshest arrivals by N ticks, changed smoothly. */
  _renderTime(localMs) {
    if (!this._clock.ready) return NaN;
    const delay = (this.options.interpolationTicks * 1000) / this.tickRateHz;
    const target = this._clock.arrival(localMs) - delay - localMs;
    const dt = Math.max(0, localMs - this._renderAt);
    this._renderAt = localMs;
    if (this._renderOffset == null || Math.abs(target - this._renderOffset) > 250) this._renderOffset = target;
    else this._renderOffset += (target - this._renderOffset) * Math.min(1, dt / 500);
    return localMs + this._renderOffset;
  }

  // --- connection lifecycle -----------------------------------------------------------

  _setState(state, detail = {}) {
    if (state === this.state && state !== ConnectionState.RECONNECTING) return;
    const previous = this.state;
    this.state = state;
    const d = { state, previous, ...detail };
    this.dispatchEvent(new CustomEvent('statechange', { detail: d }));
    this.dispatchEvent(new CustomEvent(state, { detail: d }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _later(ms, fn) {
    const t = setTimeout(() => {
      this._timers.delete(t);
      fn();
    }, ms);
    this._timers.add(t);
    return t;
  }

  _every(ms, fn) {
    const t = setInterval(fn, ms);
    this._timers.add(t);
    return t;
  }

  _clearTimers() {
    for (const t of this._timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this._timers.clear();
  }

  async _guestToken() {
    const res = await this.options.fetch(new URL('/api/session', this.options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: this.options.name }),
    });
    if (!res.ok) {
      const why = (await res.text().catch(() => '')).trim();
      const err = new Error(`POST /api/session: ${res.status} ${why}`);
      // 4xx other than 429 means the request itself is wrong (e.g. a bad name): retrying repeats it.
      err.fatal = res.status >= 400 && res.status < 500 && res.status !== 429;
      throw err;
    }
    const body = await res.json();
    // Refresh a little early so a token never expires between fetch and handshake.
    this._tokenExpiresAt = now() + Math.max(0, body.expires_in - 30) * 1000;
    return body.token;
  }

  /**
   * Opens one connection attempt. `redirect` (a 4421's target) reuses the credentials of
   * the attempt it replaces; otherwise the target comes from matchmaking or `options.url`.
   * @param {{url: string, seat: string | null, matchmade: boolean}} [redirect]
   */
  async _open(redirect) {
    const generation = (this._generation = (this._generation || 0) + 1);
    const stale = () => generation !== this._generation || this.state === ConnectionState.GONE;
    if (!redirect) this._redirects = 0;
    let protocol;
    if (this._resumeToken) {
      protocol = RESUME_PREFIX + this._resumeToken;
    } else {
      if (!this._token || now() >= this._tokenExpiresAt) {
        try {
          this._token = null;
          this._token = this.options.getToken ? await this.options.getToken() : await this._guestToken();
          if (this.options.getToken) this._tokenExpiresAt = Infinity;
        } catch (error) {
          if (stale()) return;
          if (error.fatal) return this._gone(0, error.message);
          return this._retry(0, `token: ${error.message}`);
        }
        if (stale()) return;
      }
      protocol = TOKEN_PREFIX + this._token;
    }
    const resuming = protocol.startsWith(RESUME_PREFIX);
    let target = redirect;
    if (!target && this._matchmakeBase != null) {
      // Asked after the token, so the seat (valid a few seconds) is as fresh as can be.
      target = await this._placement(resuming, stale);
      if (stale() || !target) return;
    }
    if (!target) target = { url: this._directUrl(), seat: null, matchmade: false };
    const protocols = [SUBPROTOCOL, protocol];
    if (target.seat && !resuming) protocols.push(SEAT_PREFIX + target.seat);
    let ws;
    try {
      ws = new this.options.WebSocket(target.url, protocols);
    } catch (error) {
      return this._gone(0, `cannot open WebSocket: ${error.message}`);
    }
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    this._conn = target;
    this.nodeUrl = target.url;
    this._openedAt = now();
    this._resuming = resuming;
    this.lastNotice = null;
    this._lastHeard = now();
    this._welcomed = false;
    ws.onmessage = (ev) => this._onMessage(ws, ev.data);
    ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {}; // a close event always follows; its code says what to do
    this._later(this.options.handshakeTimeoutMs, () => {
      if (this._ws === ws && !this._welcomed) this._drop(ws, 'no Welcome in time');
    });
  }

  /** `/ws` of `options.url` (or of `base`), with the room asked for. @param {string} [room] @param {string} [base] */
  _directUrl(room = this.options.room, base = this.options.url) {
    const url = new URL('/ws', base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (room) url.searchParams.set('room', room);
    return url.href;
  }

  /**
   * Asks the home server where to connect. Resolves to `{url, seat, matchmade}`, or to
   * null when it already scheduled a retry or ended the client.
   * @param {boolean} resuming Whether the attempt resumes the player (no seat needed).
   * @param {() => boolean} stale True once the attempt was superseded (closed, reconnected).
   */
  async _placement(resuming, stale) {
    // A resume goes back to its own room wherever it now lives; a join to the room asked.
    const room = resuming ? this.room : this.options.room || null;
    this.stats.matchmakes++;
    let answer;
    try {
      answer = await matchmake(this._matchmakeBase, room, {
        fetch: this.options.fetch,
        timeoutMs: this.options.handshakeTimeoutMs,
        resume: resuming,
      });
    } catch (error) {
      if (stale()) return null;
      const status = error.status ?? 0;
      if (status === 404) {
        // No /api/matchmake: a single server of an older version. Connect to it directly.
        this._matchmakeBase = null;
        return { url: this._directUrl(room), seat: null, matchmade: false };
      }
      if (status === 410 && resuming) {
        // The room is gone (disposed, or lost with no snapshot): join afresh.
        this._resumeToken = null;
        this._resuming = false;
        this._retry(0, `resume refused: ${error.message}`, 0);
        return null;
      }
      if (status === 409) {
        // The matchmaker's seat count includes the seat our player still holds in its
        // grace window, so a resume can see "full": any node redirects (4421) a resume
        // to the room's owner, so ask the home server's own /ws.
        if (resuming) return { url: this._directUrl(room, this._matchmakeBase), seat: null, matchmade: false };
        this._roomFull(`matchmake: ${error.message}`, !room);
        return null;
      }
      if (error.retryable) {
        this._retry(0, error.message);
        return null;
      }
      this._gone(0, error.message);
      return null;
    }
    if (stale()) return null;
    this.node = answer.node;
    this._emit('matchmake', answer);
    return { url: answer.url, seat: resuming ? null : answer.seat, matchmade: !resuming && !room };
  }

  /**
   * A full room (a 4409 close, or a 409 from matchmaking): a join-or-create seat is asked
   * for again once, since the cluster's seat counts are only advisory; otherwise the end.
   * @param {string} reason @param {boolean} matchmade Whether the seat was join-or-create.
   */
  _roomFull(reason, matchmade) {
    if (matchmade && !this._fullRetried && this._matchmakeBase != null) {
      this._fullRetried = true;
      this._open();
      return;
    }
    this._gone(CloseCode.ROOM_FULL, reason);
  }

  /**
   * Follows a 4421 WRONG_NODE close to the node named in `reason`, at once and with the
   * same credentials; an unusable reason or too many redirects in a row is a failed
   * attempt (backoff).
   * @param {number} code @param {string} reason
   */
  _redirect(code, reason) {
    const from = this._conn;
    const url = wrongNodeTarget(reason, from?.url);
    if (!url) return this._retry(code, `wrong node, unusable redirect: ${reason}`);
    if (this._redirects >= this.options.maxRedirects) {
      return this._retry(code, `wrong node, ${this._redirects} redirects in a row: ${reason}`);
    }
    this._redirects++;
    this.stats.redirects++;
    // Its name is unknown until the next matchmake answer.
    this.node = null;
    if (this.state === ConnectionState.LIVE) {
      this._setState(ConnectionState.RECONNECTING, { code, reason, delayMs: 0, attempt: this._attempt });
    }
    this._emit('redirect', { url, reason });
    this._open({ url, seat: from?.seat ?? null, matchmade: from?.matchmade ?? false });
  }

  /** Abandons a socket we no longer trust and reconnects. */
  _drop(ws, reason) {
    this._detach(ws);
    try {
      ws.close(4000, reason);
    } catch {
      /* already closing */
    }
    this._afterClose(CloseCode.ABNORMAL, reason);
  }

  _detach(ws) {
    ws.onmessage = ws.onclose = ws.onerror = null;
    if (this._ws === ws) this._ws = null;
  }

  _onClose(ws, code, reason) {
    if (this._ws !== ws) return;
    this._detach(ws);
    // A connection reset after the Notice (a stalled socket is torn down) arrives as
    // 1006: the Notice carries the real code.
    if ((code === CloseCode.ABNORMAL || code === 1005) && this.lastNotice?.code) {
      code = this.lastNotice.code;
      reason = this.lastNotice.reason;
    }
    this._afterClose(code, reason || this.lastNotice?.reason || '');
  }

  _afterClose(code, reason) {
    this._clearTimers();
    if (this.state === ConnectionState.GONE) return;
    const wasLive = this.state === ConnectionState.LIVE;
    // A session that lasted counts as success: its drop starts the backoff afresh.
    if (wasLive && now() - this._liveSince > 5000) this._attempt = 0;
    switch (closeAction(code)) {
      case 'stop':
        // Asked "right after" a join-or-create seat: the room filled up meanwhile.
        if (code === CloseCode.ROOM_FULL && !this._welcomed) return this._roomFull(reason, !!this._conn?.matchmade);
        return this._gone(code, reason);
      case 'redirect':
        return this._redirect(code, reason);
      case 'reauth':
        if (this._resuming) {
          // The grace window is over (or the room is gone): join as a new player.
          this._resumeToken = null;
          this._resuming = false;
          return this._retry(code, reason, 0);
        }
        this._token = null;
        return this._retry(code, reason);
      default:
        // Be gentler with a server that says we are too much for it.
        if (code === CloseCode.POLICY) this._attempt = Math.max(this._attempt, 3);
        return this._retry(code, reason);
    }
  }

  _retry(code, reason, delayMs) {
    if (this._attempt >= this.options.maxRetries) return this._gone(code, `gave up after ${this._attempt} attempts: ${reason}`);
    const delay = delayMs ?? backoffDelay(this._attempt, this.options.backoffBaseMs, this.options.backoffCapMs);
    this._attempt++;
    this.stats.reconnects++;
    this._setState(ConnectionState.RECONNECTING, { code, reason, delayMs: delay, attempt: this._attempt });
    this._later(delay, () => {
      if (this.state === ConnectionState.RECONNECTING) this._open();
    });
  }

  _gone(code, reason) {
    this._clearTimers();
    this.goneReason = { code, reason };
    this._setState(ConnectionState.GONE, { code, reason });
  }

  _stop(code, reason) {
    const ws = this._ws;
    this._generation = (this._generation || 0) + 1;
    if (ws) {
      this._detach(ws);
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
    this._resumeToken = null;
    this._gone(code, reason);
  }

  _send(msg) {
    const ws = this._ws;
    if (!ws || this.state !== ConnectionState.LIVE || ws.readyState !== 1) return false;
    ws.send(encodeClientMessage(msg));
    return true;
  }

  // --- messages -----------------------------------------------------------------------

  /** Counts received bytes; bytesPerSecond covers the last second (less just after connecting). */
  _countBytes(n, t) {
    this.stats.bytesReceived += n;
    this.stats.messages++;
    const recent = this._recentBytes;
    recent.push({ t, n });
    this._recentSum += n;
    while (t - recent[0].t > 1000) this._recentSum -= recent.shift().n;
    const span = Math.min(1000, Math.max(250, t - this._openedAt));
    this.stats.bytesPerSecond = Math.round((this._recentSum * 1000) / span);
  }

  _onMessage(ws, data) {
    if (this._ws !== ws) return;
    const t = now();
    this._lastHeard = t;
    if (!(data instanceof ArrayBuffer)) return this._drop(ws, 'text frame from server');
    this._countBytes(data.byteLength, t);
    let msg;
    try {
      msg = decodeServerMessage(data, this.schema);
    } catch (error) {
      this._emit('error', { error });
      return this._drop(ws, `undecodable server message: ${error.message}`);
    }
    switch (msg.type) {
      case 'Welcome':
        return this._onWelcome(msg, t);
      case 'Snapshot':
      case 'Delta':
        return this._onUpdate(msg, t);
      case 'Pong':
        return this._onPong(msg, t);
      case 'Notice':
        if (msg.code !== 0) this.lastNotice = msg;
        return this._emit('notice', msg);
    }
  }

  _onWelcome(msg, t) {
    if (msg.protocol !== PROTOCOL_VERSION) {
      this._stop(CloseCode.NORMAL, `server speaks protocol ${msg.protocol}, client ${PROTOCOL_VERSION}`);
      return;
    }
    const resumed = this._resuming && msg.player_id === this.playerId && msg.room === this.room;
    if (!resumed) {
      // A new player (first join, or a resume refused): nothing held carries over.
      this._world = createState();
    } else {
      this.stats.resumes++;
    }
    // Every Welcome starts a new timeline. The room may have been restored on another
    // node from an older snapshot (its ticks go back, its clock is another machine's),
    // so nothing that assumes increasing ticks or one server clock is kept: the
    // interpolation buffer, the clock samples, the prediction (below) and the input
    // numbering (the server's acknowledgement restarts at 0 anyway). The held state
    // stays readable until the Snapshot that follows every Welcome replaces it.
    this._clock.reset();
    this._renderOffset = null;
    this._seq = 0;
    this._redirects = 0;
    this._fullRetried = false;
    this.playerId = msg.player_id;
    this.room = msg.room;
    this.schema = msg.schema;
    this.tickRateHz = msg.tick_rate_hz;
    this._resumeToken = msg.resume_token;
    this.players = new Map(msg.players.map((p) => [p.id, p.name]));
    if (!this.players.has(msg.player_id) && this.options.name) this.players.set(msg.player_id, this.options.name);
    this._buffer = new InterpolationBuffer({ schema: msg.schema, snapDistance: this.options.snapDistance });
    this._setupPrediction();
    if (this._input == null || this._input.length !== msg.schema.input.length) this.setInput(msg.schema.input.map(() => 0));
    // A new connection: send the current input at once (it may have changed meanwhile).
    this._lastSent = null;
    this._lags.length = 0;
    this._refusedStreak = 0;
    this._welcomed = true;
    this._liveSince = t;
    this._lastHeard = t;
    this._emit('welcome', msg);
    this._setState(ConnectionState.LIVE, { resumed });
    this._startLoops();
  }

  _setupPrediction() {
    const p = this.options.predictor;
    this._prediction = null;
    if (!p) return;
    const kind = this.schema.entity_kinds.findIndex((k) => k.name === p.kind);
    if (kind < 0) return;
    const lerp = [];
    this.schema.entity_kinds[kind].fields.forEach((f, i) => f.scale > 1 && lerp.push(i));
    this._prediction = new Prediction(p, this.tickRateHz, lerp);
    this._predictedKind = kind;
  }

  _startLoops() {
    const tickMs = 1000 / this.tickRateHz;
    this._every(tickMs, () => this._sendInput());
    this._ping();
    this._every(this.options.pingIntervalMs, () => this._ping());
    this._every(1000, () => {
      const ws = this._ws;
      if (ws && now() - this._lastHeard > this.options.silenceMs) this._drop(ws, 'server silent');
    });
  }

  /**
   * Runs once per tick. The server applies at most one queued input per tick and keeps
   * the last one acting when none is queued, so with prediction every tick's input is
   * sent (the replay after an ack then counts ticks exactly), except when skipping is
   * exact: the input is unchanged and idle, or the server holds a backlog of ours.
   * Without prediction only changes are sent.
   */
  _sendInput() {
    const ws = this._ws;
    // Only when the socket has nothing queued: an input stuck behind others is stale
    // when it lands, and queueing more only adds latency.
    if (!ws || ws.readyState !== 1 || ws.bufferedAmount !== 0 || !this._input) return;
    const values = this._input.slice();
    const unchanged = this._lastSent != null && values.every((v, i) => v === this._lastSent[i]);
    if (unchanged && (!this._prediction || this.options.predictor.idle?.(values) || this._backlogged())) return;
    const seq = ++this._seq;
    ws.send(encodeClientMessage({ type: 'Input', seq, values }));
    this._lastSent = values;
    this.stats.inputsSent++;
    this._prediction?.applyLocal(seq, values, now());
  }

  /**
   * True when the server seems to hold a backlog of our inputs: over the last second of
   * updates, even the smallest gap between the newest seq sent and the acked one is two
   * more than the round trip explains. A network hiccup that delivers two inputs in one
   * tick leaves one queued for good (one is applied per tick); skipping one unchanged
   * input drains it without changing what the server does (it keeps the last input).
   */
  _backlogged() {
    const lags = this._lags;
    if (lags.length < this.tickRateHz) return false;
    const expected = Math.ceil((this.rtt ?? 0) / (1000 / this.tickRateHz)) + 1;
    if (Math.min(...lags) < expected + 2) return false;
    lags.length = 0;
    this.stats.inputsSkipped++;
    return true;
  }

  _ping() {
    // The Ping carries our monotonic clock in µs; the Pong echoes it.
    this._send({ type: 'Ping', client_time: Math.round(now() * 1000) });
  }

  _onPong(msg, t) {
    const sent = msg.client_time / 1000;
    const sample = t - sent;
    if (!(sample >= 0)) return;
    this.rtt = this.rtt == null ? sample : this.rtt * 0.8 + sample * 0.2;
    this.lastRtt = sample;
    this._clock.observePong(sent, msg.server_time_us, t);
    this._emit('pong', { rtt: sample });
  }

  _onUpdate(msg, t) {
    let next;
    try {
      next = applyUpdate(this._world, msg);
    } catch (error) {
      if (error instanceof BaseMismatchError) {
        // Keep the state and wait for a Snapshot or a delta from the tick we hold. The
        // server deltas from the last update it handed us, so a client that lost one
        // would wait forever: after a second of refusals, resume (a Snapshot follows).
        this.stats.refusedDeltas++;
        if (++this._refusedStreak >= Math.max(10, this.tickRateHz)) this._drop(this._ws, 'delta chain broken');
        return;
      }
      this._emit('error', { error });
      return this._drop(this._ws, `bad update: ${error.message}`);
    }
    this._world = next;
    this._refusedStreak = 0;
    this._lags.push(this._seq - msg.ack_input);
    if (this._lags.length > this.tickRateHz) this._lags.shift();
    if (msg.type === 'Snapshot') this.stats.keyframes++;
    else this.stats.deltas++;
    this._clock.observeUpdate(msg.server_time_us, t);
    this._buffer.push(next, msg.server_time_us / 1000);
    if (this._prediction) {
      const own = next.entities.get(this.ownEntityId);
      const fields = own && own.kind === this._predictedKind ? own.fields : null;
      this._prediction.reconcile(fields, msg.ack_input, t);
    }
    for (const e of msg.events) this._onEvent(e);
    this._emit('update', { tick: msg.tick, ack: msg.ack_input, keyframe: msg.type === 'Snapshot', events: msg.events });
  }

  _onEvent(e) {
    switch (e.type) {
      case 'Joined':
        this.players.set(e.player, e.name);
        return this._emit('joined', { player: e.player, name: e.name });
      case 'Left': {
        const name = this.players.get(e.player);
        this.players.delete(e.player);
        return this._emit('left', { player: e.player, name });
      }
      case 'Chat':
        return this._emit('chat', { player: e.player, name: this.players.get(e.player), text: e.text });
      case 'Game':
        return this._emit('game', { ...e, kindName: this.schema.event_kinds[e.kind] });
    }
  }
}

// ---------------------------------------------------------------------------------------
// 6. Clusters: matchmaking and redirects
// ---------------------------------------------------------------------------------------

const ROOM_NAME_RE = /^[A-Za-z0-9_-]+$/;
// Tokens travel in a subprotocol: `A–Z a–z 0–9 - _ .` only (docs/PROTOCOL.md).
const TOKEN_RE = /^[A-Za-z0-9_.-]+$/;

/** A failed `GET /api/matchmake`: `status` is the HTTP status (0: no answer), `text` its body. */
export class MatchmakeError extends Error {
  /**
   * @param {string} message
   * @param {number} status HTTP status, 0 when the request did not complete.
   * @param {string} [text] The answer's body (plain-text reason), trimmed.
   */
  constructor(message, status, text = '') {
    super(message);
    this.name = 'MatchmakeError';
    this.status = status;
    this.text = text;
    /**
     * Worth asking again later: no answer, 429, a 5xx (503: no capacity, or the cluster
     * directory is unavailable), or a 200 that is not a valid answer (a proxy in between).
     */
    this.retryable = status === 0 || status === 429 || status >= 500 || status === 200;
  }
}

/**
 * The node a 4421 WRONG_NODE close sends the client to, or null when the reason is not
 * one: it must be a whole absolute `ws://` or `wss://` URL with a host, without user
 * info or fragment. Credentials are offered to that URL, so a `wss:` connection is never
 * redirected to plain `ws:`.
 * @param {string} reason The close reason (or a matchmake answer's `url`).
 * @param {string} [from] The URL of the connection that was closed (or, for matchmaking,
 *   the HTTP base asked): an `https:`/`wss:` one only accepts `wss:`.
 * @returns {string | null} The normalized URL.
 */
export function wrongNodeTarget(reason, from) {
  if (typeof reason !== 'string' || reason.length > 2048 || !/^wss?:\/\/[^\s]+$/i.test(reason)) return null;
  let url;
  try {
    url = new URL(reason);
  } catch {
    return null;
  }
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || !url.hostname) return null;
  if (url.username || url.password || reason.includes('#')) return null;
  if (from && /^(https|wss):/i.test(from) && url.protocol !== 'wss:') return null;
  return url.href;
}

/**
 * Asks a tickcast server (any node of a cluster, or a single server) where to play:
 * `GET <base>/api/matchmake[?room=NAME]`. Without `room` it is join-or-create
 * matchmaking across the cluster; with it, the node that owns (or will create or restore)
 * that room. The answer is checked field by field:
 * - `url`: the WebSocket URL to connect to (ws: or wss:; wss: when `base` is https:),
 * - `room`: the room's name (the one asked for, if any),
 * - `node`: the node's name,
 * - `seat`: a short-lived seat reservation, offered as `SEAT_PREFIX + seat` with a session
 *   token (a resume does not need it),
 * - `expires_in`: seconds the seat stays reserved.
 * @param {string} base The server's HTTP base, e.g. `'https://game.example'`.
 * @param {string | null} [room] A room name; null or '' for join-or-create.
 * @param {object} [options]
 * @param {typeof fetch} [options.fetch] For tests; default the global fetch.
 * @param {number} [options.timeoutMs] Abort the request after this long (no limit by default).
 * @param {boolean} [options.resume] Only locate `room` for a resume (`&resume=1`): no seat is
 *   taken, a room whose node died is restored, and a room that is gone answers 410.
 * @returns {Promise<{url: string, room: string, node: string, seat: string, expires_in: number}>}
 * @throws {MatchmakeError} With `status` (0 when there was no answer, 200 for an answer
 *   that is not valid) and `text` (the server's plain-text reason).
 */
export async function matchmake(base, room, { fetch = globalThis.fetch?.bind(globalThis), timeoutMs, resume = false } = {}) {
  const url = new URL('/api/matchmake', base);
  if (room != null && room !== '') url.searchParams.set('room', room);
  // A resuming player keeps its seat: only ask where the room is (restored if need be).
  if (resume && room) url.searchParams.set('resume', '1');
  const what = `GET ${url.pathname}${url.search}`;
  const abort = timeoutMs > 0 && typeof AbortController === 'function' ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), timeoutMs) : null;
  let status;
  let text;
  try {
    const res = await fetch(url, { method: 'GET', headers: { accept: 'application/json' }, signal: abort?.signal });
    status = res.status;
    text = (await res.text()).trim();
  } catch (error) {
    throw new MatchmakeError(`${what}: ${abort?.signal.aborted ? 'timed out' : error.message}`, 0);
  } finally {
    if (timer) clearTimeout(timer);
  }
  if (status !== 200) {
    const reason = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new MatchmakeError(`${what}: ${status}${reason ? ` ${reason}` : ''}`, status, text);
  }
  const bad = (why) => new MatchmakeError(`${what}: 200 but ${why}`, 200, text);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw bad('the answer is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('the answer is not a JSON object');
  for (const [field, type] of [['url', 'string'], ['room', 'string'], ['node', 'string'], ['seat', 'string'], ['expires_in', 'number']]) {
    if (typeof body[field] !== type) throw bad(`"${field}" is ${body[field] === undefined ? 'missing' : `not a ${type}`}`);
  }
  const wsUrl = wrongNodeTarget(body.url, String(base));
  if (!wsUrl) throw bad(`"url" is not a usable WebSocket URL: ${body.url.slice(0, 100)}`);
  if (!ROOM_NAME_RE.test(body.room)) throw bad(`"room" is not a room name: ${body.room.slice(0, 40)}`);
  if (room && body.room !== room) throw bad(`it names room ${body.room}, not ${room}`);
  if (!TOKEN_RE.test(body.seat)) throw bad('"seat" is not a token');
  if (!Number.isFinite(body.expires_in) || body.expires_in < 0) throw bad('"expires_in" is not a number of seconds');
  return { url: wsUrl, room: body.room, node: body.node, seat: body.seat, expires_in: body.expires_in };
}

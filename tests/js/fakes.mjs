// Shared fakes for the client tests: server-side message encoders (what src/protocol
// writes), a scripted WebSocket, and small async helpers. Not a test file itself
// (node --test only runs `*.test.mjs` here).

import { ByteWriter, decodeClientMessage } from '../../assets/tickcast.js';

export const SCHEMA = {
  game: 'arena',
  entity_kinds: [
    { name: 'player', fields: [{ name: 'x', scale: 10 }, { name: 'y', scale: 10 }, { name: 'score', scale: 1 }] },
    { name: 'orb', fields: [{ name: 'x', scale: 10 }, { name: 'y', scale: 10 }] },
  ],
  input: [{ name: 'dx', min: -1, max: 1 }, { name: 'dy', min: -1, max: 1 }, { name: 'buttons', min: 0, max: 255 }],
  event_kinds: ['scored'],
};

// --- server-side encoders (what src/protocol writes) ----------------------------------

export function welcome({ player, room = 'r', rate = 20, tick = 0, resume = `resume-${player}`, players = [], constants = null }) {
  const w = new ByteWriter();
  w.uint(0);
  // `constants` (a list of {name, value}) makes it a protocol version 2 Welcome.
  w.uint(constants ? 2 : 1);
  w.uint(player);
  w.string(room);
  w.uint(rate);
  w.uint(tick);
  w.string(resume);
  w.uint(players.length);
  for (const p of players) {
    w.uint(p.id);
    w.string(p.name);
  }
  w.string(SCHEMA.game);
  w.uint(SCHEMA.entity_kinds.length);
  for (const k of SCHEMA.entity_kinds) {
    w.string(k.name);
    w.uint(k.fields.length);
    for (const f of k.fields) {
      w.string(f.name);
      w.uint(f.scale);
    }
  }
  w.uint(SCHEMA.input.length);
  for (const f of SCHEMA.input) {
    w.string(f.name);
    w.int(f.min);
    w.int(f.max);
  }
  w.uint(SCHEMA.event_kinds.length);
  for (const e of SCHEMA.event_kinds) w.string(e);
  if (constants) {
    w.uint(constants.length);
    for (const c of constants) {
      w.string(c.name);
      w.int(c.value);
    }
  }
  return w.finish();
}

function events(w, list) {
  w.uint(list.length);
  for (const e of list) {
    if (e.type === 'Joined') {
      w.uint(0);
      w.uint(e.player);
      w.string(e.name);
    } else if (e.type === 'Left') {
      w.uint(1);
      w.uint(e.player);
    } else if (e.type === 'Chat') {
      w.uint(2);
      w.uint(e.player);
      w.string(e.text);
    } else if (e.type === 'Game') {
      w.uint(3);
      w.uint(e.kind);
      w.uint(e.player);
      w.int(e.value);
    }
  }
}

function entityList(w, entities) {
  w.uint(entities.length);
  let prev = 0;
  for (const e of entities) {
    w.uint(e.id - prev);
    prev = e.id;
    w.uint(e.kind);
    for (const f of e.fields) w.int(f);
  }
}

export function snapshot({ tick, ack = 0, time = Date.now() * 1000, entities, ev = [] }) {
  const w = new ByteWriter();
  w.uint(1);
  w.uint(tick);
  w.uint(ack);
  w.uint(time);
  entityList(w, entities);
  events(w, ev);
  return w.finish();
}

/** A Delta; `changed` is `[{id, mask, changes}]`, ids sorted. */
export function delta({ tick, base, ack = 0, time = Date.now() * 1000, created = [], changed = [], removed = [], ev = [] }) {
  const w = new ByteWriter();
  for (const v of [2, tick, base, ack, time]) w.uint(v);
  entityList(w, created);
  w.uint(changed.length);
  let prev = 0;
  for (const c of changed) {
    w.uint(c.id - prev);
    prev = c.id;
    w.uint(c.mask);
    for (const v of c.changes) w.int(v);
  }
  w.uint(removed.length);
  prev = 0;
  for (const id of removed) {
    w.uint(id - prev);
    prev = id;
  }
  events(w, ev);
  return w.finish();
}

// Bodies on their own, for Cell updates (protocol version 3): a section's body is
// length-prefixed, the room part's is not.

/** A snapshot body: entities (ids sorted), then events. */
export function snapshotBody({ entities = [], ev = [] } = {}) {
  const w = new ByteWriter();
  entityList(w, entities);
  events(w, ev);
  return w.finish();
}

/** A delta body: created, changed `[{id, mask, changes}]`, removed, then events. */
export function deltaBody({ created = [], changed = [], removed = [], ev = [] } = {}) {
  // A Delta's bytes after its header (tag, tick, base, ack, time: one byte each here).
  return delta({ tick: 1, base: 1, ack: 0, time: 0, created, changed, removed, ev }).subarray(5);
}

/**
 * A cell delta body (docs/PROTOCOL.md, "Cell delta body"): flags (by default, the parts
 * that are not empty), created entities, changed `[{index, mask, changes}]` and removed
 * indexes (both increasing, sent as gaps), events.
 */
export function cellDeltaBody({ created = [], changed = [], removed = [], ev = [], flags } = {}) {
  const w = new ByteWriter();
  const f = flags ?? (created.length ? 1 : 0) | (changed.length ? 2 : 0) | (removed.length ? 4 : 0) | (ev.length ? 8 : 0);
  w.uint(f);
  if (f & 1) entityList(w, created);
  if (f & 2) {
    w.uint(changed.length);
    let prev = 0;
    for (const c of changed) {
      w.uint(c.index - prev);
      prev = c.index;
      w.uint(c.mask);
      for (const v of c.changes) w.int(v);
    }
  }
  if (f & 4) {
    w.uint(removed.length);
    let prev = 0;
    for (const i of removed) {
      w.uint(i - prev);
      prev = i;
    }
  }
  if (f & 8) events(w, ev);
  return w.finish();
}

/**
 * A Cell update (tag 5): header, the room part's body (bytes), `sections`
 * `[{cell: [x, y], age, body}]` and `dropped` `[[x, y]]`, written as given (unsorted
 * ones too, for the tests of refusals). `bodyLen` overrides a section's body_len.
 */
export function cellUpdate({ tick, base, ack = 0, time = Date.now() * 1000, room, sections = [], dropped = [] }) {
  const w = new ByteWriter();
  for (const v of [5, tick, base, ack, time]) w.uint(v);
  const parts = [w.finish(), room];
  const t = new ByteWriter();
  t.uint(sections.length);
  parts.push(t.finish());
  for (const s of sections) {
    const h = new ByteWriter();
    h.int(s.cell[0]);
    h.int(s.cell[1]);
    h.uint(s.age);
    h.uint(s.bodyLen ?? s.body.length);
    parts.push(h.finish(), s.body);
  }
  const d = new ByteWriter();
  d.uint(dropped.length);
  for (const [x, y] of dropped) {
    d.int(x);
    d.int(y);
  }
  parts.push(d.finish());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function emptyDelta({ tick, base, ack = 0, time = Date.now() * 1000 }) {
  return delta({ tick, base, ack, time });
}

export function pong(clientTime) {
  const w = new ByteWriter();
  w.uint(3);
  w.uint(clientTime);
  w.uint(Date.now() * 1000);
  return w.finish();
}

export function notice(code, reason) {
  const w = new ByteWriter();
  w.uint(4);
  w.uint(code);
  w.string(reason);
  return w.finish();
}

// --- a scripted WebSocket --------------------------------------------------------------

export class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 1;
    this.bufferedAmount = 0;
    this.sent = [];
    this.closed = null;
    FakeSocket.all.push(this);
  }
  send(bytes) {
    this.sent.push(decodeClientMessage(bytes));
  }
  close(code, reason) {
    this.readyState = 3;
    this.closed = { code, reason };
  }
  deliver(bytes) {
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }
  /** The server's way to close: a Notice with the code and reason, then the close. */
  serverClose(code, reason = '') {
    this.deliver(notice(code, reason));
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  #offered(prefix) {
    return this.protocols.find((p) => p.startsWith(prefix))?.slice(prefix.length);
  }
  get token() {
    return this.#offered('tickcast.token.');
  }
  get resume() {
    return this.#offered('tickcast.resume.');
  }
  get seat() {
    return this.#offered('tickcast.seat.');
  }
}

export const lastSocket = () => FakeSocket.all[FakeSocket.all.length - 1];

// --- waiting -------------------------------------------------------------------------

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

export async function until(what, predicate, ms = 2000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}

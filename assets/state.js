// state.js: a client's copy of a room's entities, and applying Snapshot, Delta and Cell
// updates to it with the same rules as `RoomState::apply` in `tickcast-client/src/room.rs`.
//
// Owns: the state shape `{tick, entities}` (plus, in a room with interest management,
// `room` and `cells`, of which `entities` is the merged view) and its immutable updates
// (a new state per update, sharing unchanged entities and cells).
// Never: mutates a state it was given, reads bytes (that is codec.js), or keeps anything
// between calls: time, sockets and prediction live elsewhere.

/** @import { Entity, EntityChange, ServerMessage, CellBody, CellSection } from './codec.js' */
/**
 * An entity as a state holds it: its kind and quantized fields (its id is the Map key).
 * @typedef {{kind: number, fields: number[]}} EntityState
 */
/**
 * The client's copy of one cell: its `[x, y]`, the tick of the update whose section
 * last changed it (not its `cell_base`), and its entities.
 * @typedef {{cell: [number, number], tick: number, entities: Map<number, EntityState>}} CellState
 */
/**
 * A room's state: the tick it is at (0: nothing received yet) and its entities by id,
 * which is what to show in either kind of room. In a room with interest management
 * (protocol version 3) `entities` is the merged view of `room`, the room-wide part, and
 * every cell of `cells` (keyed `"x,y"`): an id held by two cells takes the copy of the
 * cell updated at the newest tick (on a tie the first in `(x, y)` order), an id of the
 * room part the room part's. Without cells, `room` and `cells` are absent.
 * @typedef {{tick: number, entities: Map<number, EntityState>, room?: Map<number, EntityState>,
 *   cells?: Map<string, CellState>}} State
 */

import { DecodeError, compareCells } from './codec.js';

/** A Delta whose base is not the tick the client holds: ignore it and wait. */
export class BaseMismatchError extends Error {
  /** The tick the Delta was based on. @type {number} */
  baseTick;
  /** The tick the client holds. @type {number} */
  heldTick;

  /** @param {number} baseTick @param {number} heldTick */
  constructor(baseTick, heldTick) {
    super(`delta from tick ${baseTick} but client holds tick ${heldTick}`);
    this.name = 'BaseMismatchError';
    this.baseTick = baseTick;
    this.heldTick = heldTick;
  }
}

/**
 * A client's copy of a room's state: `{tick, entities}` where `entities` is a Map from
 * entity id to `{kind, fields}` (quantized integers in schema order). States are never
 * mutated once made: applying an update returns a new state sharing unchanged entities,
 * which is what lets the interpolation buffer keep a few of them cheaply.
 * @param {number} [tick] 0 means "nothing received yet".
 * @param {Iterable<Entity>} [entities]
 * @returns {State}
 */
export function createState(tick = 0, entities = []) {
  /** @type {Map<number, EntityState>} */
  const map = new Map();
  for (const e of entities) map.set(e.id, { kind: e.kind, fields: e.fields.slice() });
  return { tick, entities: map };
}

/**
 * A state of a room with interest management: the room part and `cells`, each held as
 * of `tick` (e.g. a golden vector's `state_before`).
 * @param {number} tick
 * @param {Iterable<Entity>} entities The room-wide entities.
 * @param {Iterable<{cell: [number, number], entities: Iterable<Entity>}>} cells
 * @returns {State}
 */
export function createCellState(tick, entities, cells) {
  const room = createState(tick, entities).entities;
  /** @type {Map<string, CellState>} */
  const held = new Map();
  for (const c of cells) {
    /** @type {[number, number]} */
    const cell = [c.cell[0], c.cell[1]];
    held.set(cellKey(cell), { cell, tick, entities: createState(tick, c.entities).entities });
  }
  return { tick, entities: merge(room, held), room, cells: held };
}

/** The key of a cell in `State.cells`. @param {[number, number]} cell @returns {string} */
export function cellKey(cell) {
  return `${cell[0]},${cell[1]}`;
}

/** @param {Map<number, EntityState>} map @returns {Entity[]} */
function entityList(map) {
  const ids = [...map.keys()].sort((a, b) => a - b);
  return ids.map((id) => {
    const e = /** @type {EntityState} */ (map.get(id)); // one of the keys
    return { id, ...e, fields: e.fields.slice() };
  });
}

/**
 * A state as a plain object with entities sorted by id (the golden vectors' layout). A
 * state with cells gives its room part as `entities` and its cells, sorted, as `cells`.
 * @param {State} state
 * @returns {{tick: number, entities: Entity[], cells?: {cell: [number, number], entities: Entity[]}[]}}
 */
export function stateToJSON(state) {
  if (!state.cells) return { tick: state.tick, entities: entityList(state.entities) };
  const cells = [...state.cells.values()].sort((a, b) => compareCells(a.cell, b.cell));
  return {
    tick: state.tick,
    entities: entityList(state.room ?? state.entities),
    cells: cells.map((c) => ({ cell: [c.cell[0], c.cell[1]], entities: entityList(c.entities) })),
  };
}

/**
 * `held` with a body applied, as a new Map (`held` is untouched). A delta's base is
 * not checked here: the room part's is, by the caller, and a cell's must not be.
 * @param {Map<number, EntityState>} held
 * @param {{entities: Entity[]} | {created: Entity[], changed: EntityChange[], removed: number[]}} body
 * @returns {Map<number, EntityState>}
 */
function applyBody(held, body) {
  if ('entities' in body) return createState(0, body.entities).entities;
  const next = new Map(held);
  for (const e of body.created) next.set(e.id, { kind: e.kind, fields: e.fields.slice() });
  for (const c of body.changed) {
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
  for (const id of body.removed) next.delete(id);
  return next;
}

/**
 * A cell section as a body over ids: a cell delta names changed and removed entities by
 * their index in the copy held (its ids sorted), which become ids here; an index beyond
 * the copy is malformed. A whole cell is already a snapshot body.
 * @param {CellSection} section @param {Map<number, EntityState>} copy
 * @returns {{entities: Entity[]} | {created: Entity[], changed: EntityChange[], removed: number[]}}
 */
function resolveSection(section, copy) {
  if ('entities' in section) return section;
  const ids = [...copy.keys()].sort((a, b) => a - b);
  /** @param {number} index */
  const idAt = (index) => {
    if (index >= ids.length) throw new DecodeError(`index ${index} beyond the ${ids.length} entities of the cell's copy`);
    return ids[index];
  };
  return {
    created: section.created,
    changed: section.changed.map((c) => ({ id: idAt(c.index), mask: c.mask, changes: c.changes })),
    removed: section.removed.map(idAt),
  };
}

/**
 * The merged view: the room part, then each cell in (x, y) order, an id taken from a
 * cell only when the room part lacks it and no cell updated at a newer or equal tick
 * gave it already.
 * @param {Map<number, EntityState>} room @param {Map<string, CellState>} cells
 * @returns {Map<number, EntityState>}
 */
function merge(room, cells) {
  if (cells.size === 0) return room;
  const merged = new Map(room);
  /** @type {Map<number, number>} */
  const takenAt = new Map();
  const sorted = [...cells.values()].sort((a, b) => compareCells(a.cell, b.cell));
  for (const c of sorted) {
    for (const [id, e] of c.entities) {
      if (room.has(id)) continue;
      const t = takenAt.get(id);
      if (t !== undefined && t >= c.tick) continue;
      takenAt.set(id, c.tick);
      merged.set(id, e);
    }
  }
  return merged;
}

/**
 * Applies a decoded Snapshot, Delta or Cell update to `state` and returns the new state
 * (the old one is left untouched). A Snapshot replaces everything, cells included. A
 * Delta, or a Cell update's room part with a base, must be based on the tick held, or
 * it throws BaseMismatchError: the client then keeps its state and waits, since the
 * server sends a keyframe or a delta from the client's baseline later. A Cell update's
 * sections then replace their cell (age 0) or apply as a cell delta to that cell's
 * entities only (a cell never received is empty; indexes name entities of the copy in
 * id order), their base never compared with anything; its
 * dropped cells are forgotten (one not held is ignored). Every part is applied before
 * the new state is made, so a malformed update throws and changes nothing.
 * @param {State} state
 * @param {ServerMessage} msg A message from decodeServerMessage (others than updates
 *   leave the state as it is).
 * @returns {State}
 * @throws {BaseMismatchError | DecodeError}
 */
export function applyUpdate(state, msg) {
  if (msg.type === 'Snapshot') return createState(msg.tick, msg.entities);
  if (msg.type !== 'Delta' && msg.type !== 'CellUpdate') return state;
  const whole = msg.type === 'CellUpdate' && msg.base_tick === 0;
  if (!whole && msg.base_tick !== state.tick) throw new BaseMismatchError(msg.base_tick, state.tick);
  const held = state.room ?? state.entities;
  /** @type {CellBody} */
  const body = msg.type === 'CellUpdate' ? msg.room : msg;
  const room = applyBody(held, body);
  if (msg.type === 'Delta') {
    if (!state.cells) return { tick: msg.tick, entities: room };
    return { tick: msg.tick, entities: merge(room, state.cells), room, cells: state.cells };
  }
  const cells = new Map(state.cells ?? []);
  for (const s of msg.sections) {
    const key = cellKey(s.cell);
    const copy = cells.get(key)?.entities ?? new Map();
    let entities;
    try {
      entities = applyBody(copy, resolveSection(s, copy));
    } catch (error) {
      throw new DecodeError(`cell ${s.cell}: ${/** @type {Error} */ (error).message}`);
    }
    cells.set(key, { cell: [s.cell[0], s.cell[1]], tick: msg.tick, entities });
  }
  for (const cell of msg.dropped) cells.delete(cellKey(cell));
  return { tick: msg.tick, entities: merge(room, cells), room, cells };
}

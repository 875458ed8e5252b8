// state.js: a client's copy of a room's entities, and applying Snapshot and Delta to it
// with the same rules as `World::apply` in `tickcast-client/src/world.rs`.
//
// Owns: the state shape `{tick, entities}` and its immutable updates (a new state per
// update, sharing unchanged entities).
// Never: mutates a state it was given, reads bytes (that is codec.js), or keeps anything
// between calls: time, sockets and prediction live elsewhere.

/** @import { Entity, ServerMessage } from './codec.js' */
/**
 * An entity as a state holds it: its kind and quantized fields (its id is the Map key).
 * @typedef {{kind: number, fields: number[]}} EntityState
 */
/**
 * A room's state: the tick it is at (0: nothing received yet) and its entities by id.
 * @typedef {{tick: number, entities: Map<number, EntityState>}} State
 */

import { DecodeError } from './codec.js';

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
 * A state as a plain object with entities sorted by id (the golden vectors' layout).
 * @param {State} state
 * @returns {{tick: number, entities: Entity[]}}
 */
export function stateToJSON(state) {
  const ids = [...state.entities.keys()].sort((a, b) => a - b);
  return {
    tick: state.tick,
    entities: ids.map((id) => {
      const e = /** @type {EntityState} */ (state.entities.get(id)); // one of the keys
      return { id, ...e, fields: e.fields.slice() };
    }),
  };
}

/**
 * Applies a decoded Snapshot or Delta to `state` and returns the new state (the old one
 * is left untouched). A Snapshot replaces everything. A Delta must be based on the tick
 * held, or it throws BaseMismatchError: the client then keeps its state and waits, since
 * the server sends a keyframe or a delta from the client's baseline later.
 * @param {State} state
 * @param {ServerMessage} msg A message from decodeServerMessage (others than updates
 *   leave the state as it is).
 * @returns {State}
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

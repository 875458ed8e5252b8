/**
 * A client's copy of a room's state: `{tick, entities}` where `entities` is a Map from
 * entity id to `{kind, fields}` (quantized integers in schema order). States are never
 * mutated once made: applying an update returns a new state sharing unchanged entities,
 * which is what lets the interpolation buffer keep a few of them cheaply.
 * @param {number} [tick] 0 means "nothing received yet".
 * @param {Iterable<Entity>} [entities]
 * @returns {State}
 */
export function createState(tick?: number, entities?: Iterable<Entity>): State;
/**
 * A state as a plain object with entities sorted by id (the golden vectors' layout).
 * @param {State} state
 * @returns {{tick: number, entities: Entity[]}}
 */
export function stateToJSON(state: State): {
    tick: number;
    entities: Entity[];
};
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
export function applyUpdate(state: State, msg: ServerMessage): State;
/** A Delta whose base is not the tick the client holds: ignore it and wait. */
export class BaseMismatchError extends Error {
    /** @param {number} baseTick @param {number} heldTick */
    constructor(baseTick: number, heldTick: number);
    /** The tick the Delta was based on. @type {number} */
    baseTick: number;
    /** The tick the client holds. @type {number} */
    heldTick: number;
}
/**
 * An entity as a state holds it: its kind and quantized fields (its id is the Map key).
 */
export type EntityState = {
    kind: number;
    fields: number[];
};
/**
 * A room's state: the tick it is at (0: nothing received yet) and its entities by id.
 */
export type State = {
    tick: number;
    entities: Map<number, EntityState>;
};
import type { Entity } from './codec.js';
import type { ServerMessage } from './codec.js';

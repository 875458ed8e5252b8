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
 * A state of a room with interest management: the room part and `cells`, each held as
 * of `tick` (e.g. a golden vector's `state_before`).
 * @param {number} tick
 * @param {Iterable<Entity>} entities The room-wide entities.
 * @param {Iterable<{cell: [number, number], entities: Iterable<Entity>}>} cells
 * @returns {State}
 */
export function createCellState(tick: number, entities: Iterable<Entity>, cells: Iterable<{
    cell: [number, number];
    entities: Iterable<Entity>;
}>): State;
/** The key of a cell in `State.cells`. @param {[number, number]} cell @returns {string} */
export function cellKey(cell: [number, number]): string;
/**
 * A state as a plain object with entities sorted by id (the golden vectors' layout). A
 * state with cells gives its room part as `entities` and its cells, sorted, as `cells`.
 * @param {State} state
 * @returns {{tick: number, entities: Entity[], cells?: {cell: [number, number], entities: Entity[]}[]}}
 */
export function stateToJSON(state: State): {
    tick: number;
    entities: Entity[];
    cells?: {
        cell: [number, number];
        entities: Entity[];
    }[];
};
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
 * The client's copy of one cell: its `[x, y]`, the tick of the update whose section
 * last changed it (not its `cell_base`), and its entities.
 */
export type CellState = {
    cell: [number, number];
    tick: number;
    entities: Map<number, EntityState>;
};
/**
 * A room's state: the tick it is at (0: nothing received yet) and its entities by id,
 * which is what to show in either kind of room. In a room with interest management
 * (protocol version 3) `entities` is the merged view of `room`, the room-wide part, and
 * every cell of `cells` (keyed `"x,y"`): an id held by two cells takes the copy of the
 * cell updated at the newest tick (on a tie the first in `(x, y)` order), an id of the
 * room part the room part's. Without cells, `room` and `cells` are absent.
 */
export type State = {
    tick: number;
    entities: Map<number, EntityState>;
    room?: Map<number, EntityState>;
    cells?: Map<string, CellState>;
};
import type { Entity } from './codec.js';
import type { ServerMessage } from './codec.js';

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
    /** The last few Pongs: server minus local time (ms) and round trip. @type {{offset: number, rtt: number}[]} */
    pongs: {
        offset: number;
        rtt: number;
    }[];
    /** Recent updates: server time minus arrival time (ms), and arrival time. @type {{offset: number, at: number}[]} */
    arrivals: {
        offset: number;
        at: number;
    }[];
    /**
     * Records an update: its `server_time_us` and the local time it arrived.
     * @param {number} serverTimeUs @param {number} localMs
     */
    observeUpdate(serverTimeUs: number, localMs: number): void;
    /**
     * Records a Pong: the local time the Ping left, the server's time, and now.
     * @param {number} sentMs @param {number} serverTimeUs @param {number} localMs
     */
    observePong(sentMs: number, serverTimeUs: number, localMs: number): void;
    /** Forgets everything (another server or room). */
    reset(): void;
    /** True once at least one update arrived. @returns {boolean} */
    get ready(): boolean;
    /**
     * The server time (ms since the Unix epoch) of the freshest update expected by now.
     * @param {number} localMs @returns {number}
     */
    arrival(localMs: number): number;
    /**
     * The server's wall clock now (ms since the Unix epoch), or NaN before any sample.
     * @param {number} localMs @param {number} [rttMs] Used before the first Pong.
     * @returns {number}
     */
    now(localMs: number, rttMs?: number): number;
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
     * @param {Schema} options.schema The game's schema.
     * @param {(kind: number, field: number) => boolean} [options.interpolate] Which fields lerp;
     *   default: fields with a scale above 1 (positions), others step.
     * @param {number} [options.snapDistance] A field jumping more than this (in quanta)
     *   between two states is not lerped (a respawn, a teleport).
     * @param {number} [options.capacity] States kept.
     */
    constructor({ schema, interpolate, snapDistance, capacity }: {
        schema: Schema;
        interpolate?: ((kind: number, field: number) => boolean) | undefined;
        snapDistance?: number | undefined;
        capacity?: number | undefined;
    });
    /** The game's schema. @type {Schema} */
    schema: Schema;
    /** Largest jump (in quanta) that is lerped. @type {number} */
    snapDistance: number;
    /** States kept. @type {number} */
    capacity: number;
    /** Per entity kind, per field: whether it lerps. @type {boolean[][]} */
    lerpable: boolean[][];
    /** The states held, oldest first, with their server times (ms). @type {{time: number, tick: number, entities: Map<number, EntityState>}[]} */
    states: {
        time: number;
        tick: number;
        entities: Map<number, EntityState>;
    }[];
    /**
     * Adds a state with its server time in ms; out-of-order or repeated ticks are ignored.
     * @param {State} state @param {number} serverMs
     */
    push(state: State, serverMs: number): void;
    /** Drops every state. */
    clear(): void;
    /**
     * The world at server time `t`: a Map id -> {kind, fields} with fractional fields.
     * Before the oldest state it shows the oldest; after the newest, the newest (no
     * extrapolation).
     * @param {number} t Server time in ms.
     * @returns {Map<number, EntityState>}
     */
    sample(t: number): Map<number, EntityState>;
    /**
     * Blends two field arrays of one kind: lerp where allowed and the jump is small, else
     * the older value until half way, then the newer.
     * @param {number} kind @param {number[]} a @param {number[]} b @param {number} alpha
     * @returns {number[]}
     */
    blend(kind: number, a: number[], b: number[], alpha: number): number[];
}
import type { Schema } from './codec.js';
import type { EntityState } from './state.js';
import type { State } from './state.js';

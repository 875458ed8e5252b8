// clock.js: time. A server-clock estimate on the local monotonic clock, and the
// interpolation buffer that shows other entities a little in the past.
//
// Owns: clock samples (Pong round trips, update arrivals) and the last few states with
// their server times.
// Never: reads the clock itself (every method is given the local time, so it is
// testable and deterministic), sends anything, or changes the states it holds.


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
  pongs;
  /** Recent updates: server time minus arrival time (ms), and arrival time. @type {{offset: number, at: number}[]} */
  arrivals;

  constructor() {
    this.pongs = [];
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
  /** The game's schema. @type {Schema} */
  schema;
  /** Largest jump (in quanta) that is lerped. @type {number} */
  snapDistance;
  /** States kept. @type {number} */
  capacity;
  /** Per entity kind, per field: whether it lerps. @type {boolean[][]} */
  lerpable;
  /** The states held, oldest first, with their server times (ms). @type {{time: number, tick: number, entities: Map<number, EntityState>}[]} */
  states;

  /**
   * @param {object} options
   * @param {Schema} options.schema The game's schema.
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
    this.states = [];
  }

  /**
   * Adds a state with its server time in ms; out-of-order or repeated ticks are ignored.
   * @param {State} state @param {number} serverMs
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
   * @returns {Map<number, EntityState>}
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
    /** @type {Map<number, EntityState>} */
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

// Types used above (JSDoc only; at the end so no declaration in types/ carries them).
/** @import { Schema } from './codec.js' */
/** @import { State, EntityState } from './state.js' */

// prediction.js: client-side prediction of the player's own entity, and its
// reconciliation with the server, for any game.
//
// Owns: the inputs sent and not yet acknowledged, the predicted fields, and the
// smoothing of corrections.
// Never: knows a game's rules (a game-supplied predictor steps the fields, see arena.js),
// reads the clock itself (it is given the local time) or sends inputs (client.js does).

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
  /** @type {Predictor} */
  predictor;
  /** Ticks per second. @type {number} */
  rateHz;
  /** One tick, in ms. @type {number} */
  tickMs;
  /** Field indexes that are smoothed (positions). @type {number[]} */
  lerpFields;
  /** The predictor's snapDistance, or Infinity. @type {number} */
  snapDistance;
  /** Inputs sent and not yet acknowledged, oldest first. @type {{seq: number, values: number[]}[]} */
  pending;
  /** Predicted fields now, or null before the entity was seen. @type {number[] | null} */
  fields;
  /** The displayed fields when the last step started (the in-tick lerp's start). @type {number[] | null} */
  #previous;
  /** When the last step was taken (local ms). @type {number} */
  #steppedAt;
  /** The correction still being faded out, per lerped field, or null. @type {number[] | null} */
  #error;
  /** When that correction was made (local ms). @type {number} */
  #errorAt;

  /**
   * @param {Predictor} predictor See arenaPredictor.
   * @param {number} rateHz Ticks per second.
   * @param {number[]} lerpFields Field indexes that are smoothed (positions).
   */
  constructor(predictor, rateHz, lerpFields) {
    this.predictor = predictor;
    this.rateHz = rateHz;
    this.tickMs = 1000 / rateHz;
    this.lerpFields = lerpFields;
    this.snapDistance = predictor.snapDistance ?? Infinity;
    this.pending = [];
    this.fields = null;
    this.#previous = null;
    this.#steppedAt = 0;
    this.#error = null;
    this.#errorAt = 0;
  }

  /** Forgets the prediction (new room, resumed session). */
  reset() {
    this.pending.length = 0;
    this.fields = this.#previous = this.#error = null;
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
    this.#previous = this.display(localMs);
    this.#error = null;
    this.fields = this.predictor.step(this.fields, values, { rateHz: this.rateHz });
    this.#steppedAt = localMs;
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
      this.fields = this.#previous = this.#error = null;
      return;
    }
    let fields = authoritative.slice();
    for (const p of this.pending) fields = this.predictor.step(fields, p.values, { rateHz: this.rateHz });
    const current = this.fields;
    if (!current) {
      this.fields = fields;
      this.#previous = this.#error = null;
      return;
    }
    // Move both ends of the in-tick interpolation by the correction: a right prediction
    // changes nothing on screen, a wrong one is shown where it was and fades out.
    // (display() is never null here: there are fields.)
    const shown = /** @type {number[]} */ (this.display(localMs));
    const correction = this.lerpFields.map((f) => fields[f] - current[f]);
    const previous = (this.#previous || current).slice();
    this.lerpFields.forEach((f, i) => (previous[f] += correction[i]));
    this.#previous = previous;
    this.fields = fields;
    if (correction.every((c) => c === 0)) return;
    const after = /** @type {number[]} */ (this.display(localMs, false));
    const error = this.lerpFields.map((f) => shown[f] - after[f]);
    const far = error.some((e) => Math.abs(e) > this.snapDistance);
    this.#error = far ? null : error;
    this.#errorAt = localMs;
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
    const alpha = Math.min(1, Math.max(0, (localMs - this.#steppedAt) / this.tickMs));
    const prev = this.#previous || this.fields;
    for (const f of this.lerpFields) out[f] = prev[f] + (this.fields[f] - prev[f]) * alpha;
    const error = this.#error;
    if (withError && error) {
      const fade = Math.exp(-(localMs - this.#errorAt) / 100);
      this.lerpFields.forEach((f, i) => (out[f] += error[i] * fade));
    }
    return out;
  }
}

// The predictor's shape (JSDoc only; at the end so no declaration in types/ carries it).
/**
 * A game's predictor of the player's own entity: the server's rule for it, run locally.
 * @typedef {object} Predictor
 * @property {string} kind The entity kind (its name in the schema) of the player's own entity.
 * @property {(fields: number[], input: number[], ctx: {rateHz: number}) => number[]} step
 *   Advances the entity's quantized fields by one tick of `input` (schema input order)
 *   and returns the new fields; pure, and bit for bit the server's rule.
 * @property {number} [snapDistance] The largest correction (quanta) smoothed rather than
 *   snapped (default: every one is smoothed).
 * @property {(input: number[]) => boolean} [idle] Whether repeating `input` changes
 *   nothing, which lets the client stop resending it.
 */

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
     * @param {Predictor} predictor See arenaPredictor.
     * @param {number} rateHz Ticks per second.
     * @param {number[]} lerpFields Field indexes that are smoothed (positions).
     */
    constructor(predictor: Predictor, rateHz: number, lerpFields: number[]);
    /** @type {Predictor} */
    predictor: Predictor;
    /** Ticks per second. @type {number} */
    rateHz: number;
    /** One tick, in ms. @type {number} */
    tickMs: number;
    /** Field indexes that are smoothed (positions). @type {number[]} */
    lerpFields: number[];
    /** The predictor's snapDistance, or Infinity. @type {number} */
    snapDistance: number;
    /** Inputs sent and not yet acknowledged, oldest first. @type {{seq: number, values: number[]}[]} */
    pending: {
        seq: number;
        values: number[];
    }[];
    /** Predicted fields now, or null before the entity was seen. @type {number[] | null} */
    fields: number[] | null;
    /** Forgets the prediction (new room, resumed session). */
    reset(): void;
    /**
     * Applies an input just sent.
     * @param {number} seq @param {number[]} values @param {number} localMs
     */
    applyLocal(seq: number, values: number[], localMs: number): void;
    /**
     * Rebuilds the prediction from the server's fields at `ack`.
     * @param {number[] | null} authoritative The entity's fields in the update, or null if absent.
     * @param {number} ack The update's ack_input.
     * @param {number} localMs
     */
    reconcile(authoritative: number[] | null, ack: number, localMs: number): void;
    /**
     * The fields to draw now: between the previous and current prediction across the local
     * tick, plus the fading correction.
     * @param {number} localMs @param {boolean} [withError]
     * @returns {number[] | null}
     */
    display(localMs: number, withError?: boolean): number[] | null;
    #private;
}
/**
 * A game's predictor of the player's own entity: the server's rule for it, run locally.
 */
export type Predictor = {
    /**
     * The entity kind (its name in the schema) of the player's own entity.
     */
    kind: string;
    /**
     *   Advances the entity's quantized fields by one tick of `input` (schema input order)
     *   and returns the new fields; pure, and bit for bit the server's rule.
     */
    step: (fields: number[], input: number[], ctx: {
        rateHz: number;
    }) => number[];
    /**
     * The largest correction (quanta) smoothed rather than
     * snapped (default: every one is smoothed).
     */
    snapDistance?: number | undefined;
    /**
     * Whether repeating `input` changes
     * nothing, which lets the client stop resending it.
     */
    idle?: ((input: number[]) => boolean) | undefined;
};

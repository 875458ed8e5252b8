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
 * @returns {Required<import('./prediction.js').Predictor>}
 */
export function arenaPredictor({ speed, size, playerRadius, scale }?: {
    speed?: number;
    size?: number;
    playerRadius?: number;
    scale?: number;
}): Required<import("./prediction.js").Predictor>;
/**
 * The arena's predictor for the constants of a Welcome (protocol version 2: `size`,
 * `speed`, `player_radius`), falling back to the server's defaults for any it lacks (a
 * version 1 server sends none). Pass it as the client's `predictor`, so prediction
 * follows the server's configuration: `new TickcastClient({predictor: arenaPredictorFromConstants})`.
 * @param {Record<string, number>} constants
 * @returns {Required<import('./prediction.js').Predictor>}
 */
export function arenaPredictorFromConstants(constants: Record<string, number>): Required<import("./prediction.js").Predictor>;

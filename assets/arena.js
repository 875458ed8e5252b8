// arena.js: the demo arena game's predictor, the only game-specific code of the client.
//
// Owns: the arena's movement rule, reproduced bit for bit from `src/game/arena.rs`.
// Never: holds state between calls or reaches outside its arguments: a predictor is pure,
// so that replaying inputs after an acknowledgement gives the server's answer exactly.
// Another game supplies its own predictor of the same shape (see prediction.js).

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
export function arenaPredictor({ speed = 200, size = 1000, playerRadius = 20, scale = 10 } = {}) {
  const lo = playerRadius * scale;
  const hi = (size - playerRadius) * scale;
  return {
    kind: 'player',
    // Corrections larger than a few ticks of boosted movement are snapped, not smoothed.
    snapDistance: 60 * scale,
    // Standing still: repeating this input changes nothing, so it need not be resent.
    idle: ([dx = 0, dy = 0]) => dx === 0 && dy === 0,
    step(fields, [dx = 0, dy = 0, buttons = 0], { rateHz }) {
      let step = Math.trunc((speed * scale) / Math.max(1, rateHz));
      if (buttons & 1) step = Math.trunc((step * 3) / 2);
      if (dx !== 0 && dy !== 0) step = (step * 181) >> 8;
      const out = fields.slice();
      out[0] = Math.min(hi, Math.max(lo, fields[0] + Math.sign(dx) * step));
      out[1] = Math.min(hi, Math.max(lo, fields[1] + Math.sign(dy) * step));
      return out;
    },
  };
}

/**
 * The arena's predictor for the constants of a Welcome (protocol version 2: `size`,
 * `speed`, `player_radius`), falling back to the server's defaults for any it lacks (a
 * version 1 server sends none). Pass it as the client's `predictor`, so prediction
 * follows the server's configuration: `new TickcastClient({predictor: arenaPredictorFromConstants})`.
 * @param {Record<string, number>} constants
 * @returns {Required<import('./prediction.js').Predictor>}
 */
export function arenaPredictorFromConstants(constants) {
  return arenaPredictor({ speed: constants.speed, size: constants.size, playerRadius: constants.player_radius });
}

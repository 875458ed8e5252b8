// tickcast.js: the browser client of a tickcast server, as plain ES modules served as
// they are (no build step). This module only re-exports them, so a page or a test needs
// one import. Each module has one job:
//
//   codec.js       wire codec: bincode-2 integers, every server message decoded, every
//                  client message encoded, byte for byte as `src/protocol/` does.
//   state.js       applying a Snapshot (keyframe), a Delta or a Cell update (protocol
//                  version 3: a big room's cells) to a local copy of the room's
//                  entities, by the rules of `RoomState::apply` (tickcast-client);
//                  `entities` is always what to draw, a big room's cells merged.
//   clock.js       a server-clock estimate, and interpolation of other entities about
//                  two ticks in the past.
//   prediction.js  the player's own entity moved at once by a game-supplied predictor,
//                  reconciled with the server when updates acknowledge inputs.
//   client.js      TickcastClient: token, WebSocket, input and ping loops, reconnection
//                  with backoff that resumes the same player while its seat is held.
//   matchmake.js   clusters: `matchmake()` asks `GET /api/matchmake` which node hosts (or
//                  will host) a room and reserves a seat there; `wrongNodeTarget()` checks
//                  where a 4421 WRONG_NODE close sends the client.
//   arena.js       `arenaPredictor`, `arenaPredictorFromConstants`: the demo arena's
//                  predictor, the only game-specific code.
//
// Nothing but arena.js knows a particular game: entities are decoded from the schema the
// server sends in Welcome. Types: JSDoc in each module, checked by `npm run typecheck`;
// the declarations generated from it are in `types/` (see README.md).
//
// Usage:
//
//   import { TickcastClient, arenaPredictorFromConstants } from '/tickcast.js';
//
//   // The predictor is made from each Welcome's game constants (protocol version 2).
//   const client = new TickcastClient({ name: 'alice', room: 'lobby', predictor: arenaPredictorFromConstants });
//   client.addEventListener('statechange', (e) => console.log('connection', e.detail.state));
//   client.addEventListener('joined', (e) => console.log(e.detail.name, 'joined'));
//   client.connect();
//   addEventListener('keydown', () => client.setInput([1, 0, 0]));   // dx, dy, buttons
//   requestAnimationFrame(function frame() {
//     for (const e of client.view().entities) draw(e.kindName, e.values.x, e.values.y);
//     requestAnimationFrame(frame);
//   });
//
//   // Against a cluster (several nodes sharing rooms), the server places the player:
//   new TickcastClient({ name: 'alice', room: null, matchmake: true });
//
// Test hook: a page that wants to be inspected sets `window.tickcast = client`; the
// client's `state`, `playerId`, `room`, `tick`, `entities` (Map id -> {kind, fields}, merged
// over the cells in a room with interest management),
// `players` (Map id -> name), `rtt` (ms), `stats`, `node` and `nodeUrl` are plain
// read-only properties.

export * from './codec.js';
export * from './state.js';
export * from './clock.js';
export * from './prediction.js';
export * from './client.js';
export * from './matchmake.js';
export * from './arena.js';

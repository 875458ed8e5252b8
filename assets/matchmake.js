// matchmake.js: clusters. Asking a server where a room is played (`GET /api/matchmake`)
// and checking the node a 4421 WRONG_NODE close redirects to.
//
// Owns: the validation of everything a matchmaking answer or a redirect names (URLs,
// room names, seat tokens), so credentials are offered only to a well-formed ws:/wss:
// URL and never downgraded from wss: to ws:.
// Never: opens a WebSocket, keeps state between calls, or decides when to retry (it says
// whether an error is worth retrying; client.js decides).

/**
 * Where to play, as `GET /api/matchmake` answers it (checked field by field).
 * @typedef {object} MatchmakeAnswer
 * @property {string} url The WebSocket URL of the node to connect to.
 * @property {string} room The room's name.
 * @property {string} node The node's name.
 * @property {string} seat A short-lived seat reservation (offered as `SEAT_PREFIX + seat`).
 * @property {number} expires_in Seconds the seat stays reserved.
 */

const ROOM_NAME_RE = /^[A-Za-z0-9_-]+$/;
// Tokens travel in a subprotocol: `A–Z a–z 0–9 - _ .` only (docs/PROTOCOL.md).
const TOKEN_RE = /^[A-Za-z0-9_.-]+$/;

/** A failed `GET /api/matchmake`: `status` is the HTTP status (0: no answer), `text` its body. */
export class MatchmakeError extends Error {
  /** HTTP status, 0 when the request did not complete. @type {number} */
  status;
  /** The answer's body (plain-text reason), trimmed. @type {string} */
  text;
  /**
   * Worth asking again later: no answer, 429, a 5xx (503: no capacity, or the cluster
   * directory is unavailable), or a 200 that is not a valid answer (a proxy in between).
   * @type {boolean}
   */
  retryable;

  /**
   * @param {string} message
   * @param {number} status HTTP status, 0 when the request did not complete.
   * @param {string} [text] The answer's body (plain-text reason), trimmed.
   */
  constructor(message, status, text = '') {
    super(message);
    this.name = 'MatchmakeError';
    this.status = status;
    this.text = text;
    this.retryable = status === 0 || status === 429 || status >= 500 || status === 200;
  }
}

/**
 * The node a 4421 WRONG_NODE close sends the client to, or null when the reason is not
 * one: it must be a whole absolute `ws://` or `wss://` URL with a host, without user
 * info or fragment. Credentials are offered to that URL, so a `wss:` connection is never
 * redirected to plain `ws:`.
 * @param {string} reason The close reason (or a matchmake answer's `url`).
 * @param {string} [from] The URL of the connection that was closed (or, for matchmaking,
 *   the HTTP base asked): an `https:`/`wss:` one only accepts `wss:`.
 * @returns {string | null} The normalized URL.
 */
export function wrongNodeTarget(reason, from) {
  if (typeof reason !== 'string' || reason.length > 2048 || !/^wss?:\/\/[^\s]+$/i.test(reason)) return null;
  let url;
  try {
    url = new URL(reason);
  } catch {
    return null;
  }
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || !url.hostname) return null;
  if (url.username || url.password || reason.includes('#')) return null;
  if (from && /^(https|wss):/i.test(from) && url.protocol !== 'wss:') return null;
  return url.href;
}

/**
 * Asks a tickcast server (any node of a cluster, or a single server) where to play:
 * `GET <base>/api/matchmake[?room=NAME]`. Without `room` it is join-or-create
 * matchmaking across the cluster; with it, the node that owns (or will create or restore)
 * that room. The answer is checked field by field:
 * - `url`: the WebSocket URL to connect to (ws: or wss:; wss: when `base` is https:),
 * - `room`: the room's name (the one asked for, if any),
 * - `node`: the node's name,
 * - `seat`: a short-lived seat reservation, offered as `SEAT_PREFIX + seat` with a session
 *   token (a resume does not need it),
 * - `expires_in`: seconds the seat stays reserved.
 * @param {string} base The server's HTTP base, e.g. `'https://game.example'`.
 * @param {string | null} [room] A room name; null or '' for join-or-create.
 * @param {object} [options]
 * @param {typeof globalThis.fetch} [options.fetch] For tests; default the global fetch.
 * @param {number} [options.timeoutMs] Abort the request after this long (no limit by default).
 * @param {boolean} [options.resume] Only locate `room` for a resume (`&resume=1`): no seat is
 *   taken, a room whose node died is restored, and a room that is gone answers 410.
 * @returns {Promise<MatchmakeAnswer>}
 * @throws {MatchmakeError} With `status` (0 when there was no answer, 200 for an answer
 *   that is not valid) and `text` (the server's plain-text reason).
 */
export async function matchmake(base, room, { fetch = globalThis.fetch?.bind(globalThis), timeoutMs, resume = false } = {}) {
  const url = new URL('/api/matchmake', base);
  if (room != null && room !== '') url.searchParams.set('room', room);
  // A resuming player keeps its seat: only ask where the room is (restored if need be).
  if (resume && room) url.searchParams.set('resume', '1');
  const what = `GET ${url.pathname}${url.search}`;
  const abort = timeoutMs !== undefined && timeoutMs > 0 && typeof AbortController === 'function' ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), timeoutMs) : null;
  let status;
  let text;
  try {
    const res = await fetch(url, { method: 'GET', headers: { accept: 'application/json' }, signal: abort?.signal });
    status = res.status;
    text = (await res.text()).trim();
  } catch (error) {
    throw new MatchmakeError(`${what}: ${abort?.signal.aborted ? 'timed out' : /** @type {Error} */ (error).message}`, 0);
  } finally {
    if (timer) clearTimeout(timer);
  }
  if (status !== 200) {
    const reason = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new MatchmakeError(`${what}: ${status}${reason ? ` ${reason}` : ''}`, status, text);
  }
  const bad = (/** @type {string} */ why) => new MatchmakeError(`${what}: 200 but ${why}`, 200, text);
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('the answer is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('the answer is not a JSON object');
  const fields = /** @type {Record<string, unknown>} */ (parsed);
  for (const [field, type] of [['url', 'string'], ['room', 'string'], ['node', 'string'], ['seat', 'string'], ['expires_in', 'number']]) {
    if (typeof fields[field] !== type) throw bad(`"${field}" is ${fields[field] === undefined ? 'missing' : `not a ${type}`}`);
  }
  const body = /** @type {MatchmakeAnswer} */ (fields); // every field's type was checked above
  const wsUrl = wrongNodeTarget(body.url, String(base));
  if (!wsUrl) throw bad(`"url" is not a usable WebSocket URL: ${body.url.slice(0, 100)}`);
  if (!ROOM_NAME_RE.test(body.room)) throw bad(`"room" is not a room name: ${body.room.slice(0, 40)}`);
  if (room && body.room !== room) throw bad(`it names room ${body.room}, not ${room}`);
  if (!TOKEN_RE.test(body.seat)) throw bad('"seat" is not a token');
  if (!Number.isFinite(body.expires_in) || body.expires_in < 0) throw bad('"expires_in" is not a number of seconds');
  return { url: wsUrl, room: body.room, node: body.node, seat: body.seat, expires_in: body.expires_in };
}

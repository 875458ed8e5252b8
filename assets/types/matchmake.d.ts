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
export function wrongNodeTarget(reason: string, from?: string): string | null;
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
export function matchmake(base: string, room?: string | null, { fetch, timeoutMs, resume }?: {
    fetch?: typeof globalThis.fetch | undefined;
    timeoutMs?: number | undefined;
    resume?: boolean | undefined;
}): Promise<MatchmakeAnswer>;
/** A failed `GET /api/matchmake`: `status` is the HTTP status (0: no answer), `text` its body. */
export class MatchmakeError extends Error {
    /**
     * @param {string} message
     * @param {number} status HTTP status, 0 when the request did not complete.
     * @param {string} [text] The answer's body (plain-text reason), trimmed.
     */
    constructor(message: string, status: number, text?: string);
    /** HTTP status, 0 when the request did not complete. @type {number} */
    status: number;
    /** The answer's body (plain-text reason), trimmed. @type {string} */
    text: string;
    /**
     * Worth asking again later: no answer, 429, a 5xx (503: no capacity, or the cluster
     * directory is unavailable), or a 200 that is not a valid answer (a proxy in between).
     * @type {boolean}
     */
    retryable: boolean;
}
/**
 * Where to play, as `GET /api/matchmake` answers it (checked field by field).
 */
export type MatchmakeAnswer = {
    /**
     * The WebSocket URL of the node to connect to.
     */
    url: string;
    /**
     * The room's name.
     */
    room: string;
    /**
     * The node's name.
     */
    node: string;
    /**
     * A short-lived seat reservation (offered as `SEAT_PREFIX + seat`).
     */
    seat: string;
    /**
     * Seconds the seat stays reserved.
     */
    expires_in: number;
};

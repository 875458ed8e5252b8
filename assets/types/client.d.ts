/**
 * What a client should do after a close with `code`, as `docs/PROTOCOL.md` prescribes.
 * - `'stop'`: do not reconnect (left, kicked, room full, replaced, a room that needs
 *   protocol version 3 (4426, which this client offers already), or a client bug that
 *   would only repeat).
 * - `'reauth'`: the token (or resume token) was refused: get a new one, then retry.
 * - `'redirect'`: 4421, the room lives on another node: reconnect at once, with the
 *   same credentials, to the URL in the close reason (see wrongNodeTarget); a reason that
 *   is not a ws:/wss: URL, or too many redirects in a row, count as a `'retry'`.
 * - `'retry'`: reconnect with backoff, resuming the player if possible.
 * @param {number} code WebSocket close code.
 * @returns {'stop' | 'reauth' | 'redirect' | 'retry'}
 */
export function closeAction(code: number): "stop" | "reauth" | "redirect" | "retry";
/**
 * Delay before reconnect attempt `attempt` (0-based): "full jitter" exponential backoff,
 * a uniformly random delay in `[0, min(capMs, baseMs * 2^attempt))`. Randomness keeps a
 * crowd of clients dropped together from coming back together.
 * @param {number} attempt @param {number} baseMs @param {number} capMs
 * @param {() => number} [random] A source of [0, 1) numbers.
 * @returns {number} Milliseconds.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random?: () => number): number;
/** Connection states, in the order a session usually goes through them. */
export const ConnectionState: Readonly<{
    IDLE: "idle";
    CONNECTING: "connecting";
    LIVE: "live";
    RECONNECTING: "reconnecting";
    GONE: "gone";
}>;
declare const TickcastClient_base: new () => TypedEventTarget<ClientEventMap>;
/**
 * A connection to one room of a tickcast server, which keeps itself alive.
 *
 * Events (it is an EventTarget; every event is a CustomEvent, data in `detail`):
 * - `statechange` `{state, previous, code?, reason?, delayMs?}`, and the same event under
 *   the state's own name: `connecting`, `live`, `reconnecting`, `gone`.
 * - `welcome` (the Welcome message), `update` `{tick, ack, keyframe, events}`,
 *   `joined` `{player, name}`, `left` `{player, name}`, `chat` `{player, name, text}`,
 *   `game` `{kind, kindName, player, value}`, `notice` `{code, reason}`,
 *   `pong` `{rtt}`, `error` `{error}` (a message that could not be decoded),
 *   `matchmake` (the answer of `GET /api/matchmake`, see matchmake), `redirect`
 *   `{url, reason}` (a 4421 followed to another node).
 *
 * Cluster mode (`matchmake` option): before every connect and reconnect the client asks
 * its home server `GET /api/matchmake` where to go: `?room=<room>` for a named room or
 * to resume its player (the answer names the room's current node, or a live node that
 * restores it after a crash), no room for join-or-create. A fresh join offers the seat
 * reservation of the answer (`tickcast.seat.`) with its session token; a resume offers
 * only its resume token. A failed matchmake (network, 429, 5xx) is retried with backoff
 * like a failed connection; a 404 means the server has no matchmaking (a single node of
 * an older version) and the client connects to it directly from then on. A 4409 on a
 * join-or-create seat is asked again once (seat counts are advisory), then ends the
 * client as without the option. Without the option nothing changes, except that a
 * 4421 WRONG_NODE close is always followed (a single node never sends one).
 */
export class TickcastClient extends TickcastClient_base {
    /** @param {ClientOptions} options */
    constructor(options: ClientOptions);
    /** The smoothed RTT's last sample in ms (undefined until the first Pong). @type {number | undefined} */
    lastRtt: number | undefined;
    /** The options in effect (defaults filled in). @type {ClientSettings} */
    options: ClientSettings;
    /** Connection state: idle, connecting, live, reconnecting or gone. @type {ConnectionStateName} */
    state: ConnectionStateName;
    /** Why the client is gone, if it is: `{code, reason}`. @type {{code: number, reason: string} | null} */
    goneReason: {
        code: number;
        reason: string;
    } | null;
    /** The player's id in the room (from Welcome). @type {number | null} */
    playerId: number | null;
    /** The room's name (from Welcome). @type {string | null} */
    room: string | null;
    /** The cluster node of the last matchmake answer (null without one, or after a redirect). @type {string | null} */
    node: string | null;
    /** The WebSocket URL of the current (or last) connection. @type {string | null} */
    nodeUrl: string | null;
    /** The game's schema (from Welcome). @type {Schema | null} */
    schema: Schema | null;
    /**
     * The game's constants by name (from a protocol version 2 Welcome; empty before one,
     * and from a version 1 server). @type {Record<string, number>}
     */
    constants: Record<string, number>;
    /** The protocol version the connection speaks (0 before a Welcome). @type {number} */
    protocol: number;
    /** The room's tick rate (from Welcome). @type {number | null} */
    tickRateHz: number | null;
    /** Players of the room: Map id -> name (Welcome roster, then Joined/Left events). @type {Map<number, string>} */
    players: Map<number, string>;
    /** Smoothed round-trip time in ms (null until the first Pong). @type {number | null} */
    rtt: number | null;
    /** Counters for a HUD and for tests. @type {ClientStats} */
    stats: ClientStats;
    /** The last Notice with a non-zero code of the current attempt. @type {NoticeMessage | null} */
    lastNotice: NoticeMessage | null;
    /** The tick of the state held (0 before the first update). @returns {number} */
    get tick(): number;
    /**
     * The authoritative entities: Map id -> {kind, fields} (do not mutate). In a room with
     * interest management, the room part and every cell held, merged (see state.js).
     * @returns {Map<number, EntityState>}
     */
    get entities(): Map<number, EntityState>;
    /** The player's own entity id, or null. @returns {number | null} */
    get ownEntityId(): number | null;
    /** Predicted fields of the own entity (null without a predictor). @returns {number[] | null} */
    get predicted(): number[] | null;
    /** The name of entity kind `kind` in the schema. @param {number} kind @returns {string | undefined} */
    kindName(kind: number): string | undefined;
    /** Starts connecting (no effect unless idle or gone). */
    connect(): void;
    /**
     * Sets the input sent every tick from now on (schema input order; clamped to the
     * declared ranges).
     * @param {number[]} values
     */
    setInput(values: number[]): void;
    /**
     * Sends a chat line to the room (ignored unless live, or when longer than maxChatBytes).
     * @param {string} text
     * @returns {boolean} Whether it was sent.
     */
    chat(text: string): boolean;
    /**
     * The server's wall clock now (ms since the Unix epoch), estimated from Ping/Pong, or
     * NaN before the first update.
     * @returns {number}
     */
    serverNow(): number;
    /** Leaves the room for good (the seat is freed at once) and stops. */
    leave(): void;
    /** Closes the connection without leaving (the server keeps the seat for its grace window) and stops. */
    close(): void;
    /**
     * What to draw now: other entities interpolated `interpolationTicks` in the past, the
     * own entity predicted. `fields` are quantized (possibly fractional); `values` are in
     * game units by field name (`fields[i] / scale`).
     * @param {number} [localMs] `performance.now()`.
     * @returns {{serverTime: number, entities: ViewEntity[]}}
     */
    view(localMs?: number): {
        serverTime: number;
        entities: ViewEntity[];
    };
    #private;
}
/**
 * A connection state's name.
 */
export type ConnectionStateName = (typeof ConnectionState)[keyof typeof ConnectionState];
/**
 * Options of a TickcastClient; only `name` is needed in a page (others have defaults).
 */
export type ClientOptions = {
    /**
     * The server's HTTP origin; default the page's.
     */
    url?: string | undefined;
    /**
     * The player's display name (for the guest token).
     */
    name: string;
    /**
     * A room name; null or '' for matchmaking.
     */
    room?: string | null | undefined;
    /**
     * Supplies a session token; default: a guest
     * token from `POST /api/session`.
     */
    getToken?: (() => Promise<string>) | undefined;
    /**
     * Predicts the own entity (see arenaPredictor): a predictor, or a function making one
     * from the game's constants of each Welcome (`constants`; empty from a version 1 server),
     * so prediction follows the server's configuration (see arenaPredictorFromConstants).
     */
    predictor?: Predictor | ((constants: Record<string, number>) => Predictor) | undefined;
    /**
     * The entity id of a player;
     * default: the same number.
     */
    ownEntityId?: ((playerId: number) => number) | undefined;
    /**
     * How far behind others are drawn (2).
     */
    interpolationTicks?: number | undefined;
    /**
     * See InterpolationBuffer.
     */
    snapDistance?: number | undefined;
    /**
     * First backoff window (500 ms).
     */
    backoffBaseMs?: number | undefined;
    /**
     * Largest backoff window (15 s).
     */
    backoffCapMs?: number | undefined;
    /**
     * Consecutive failed attempts before `gone` (Infinity).
     */
    maxRetries?: number | undefined;
    /**
     * Reconnect when a live connection is silent this long (5 s).
     */
    silenceMs?: number | undefined;
    /**
     * How often RTT is measured (1 s).
     */
    pingIntervalMs?: number | undefined;
    /**
     * Give up an attempt (and a matchmaking request)
     * that has no answer this long (10 s).
     */
    handshakeTimeoutMs?: number | undefined;
    /**
     * Longest chat line sent, in UTF-8 bytes: the server's
     * `limits.max_chat_bytes` (200 by default). It closes the session with 1008 on a longer
     * one, so the client refuses to send it.
     */
    maxChatBytes?: number | undefined;
    /**
     * Cluster mode: place every connect and reconnect
     * through `GET /api/matchmake` (see TickcastClient). `true` asks `url`; a string is
     * another HTTP base to ask (e.g. `'https://lobby.example'`). Default false: connect to
     * `url` directly.
     */
    matchmake?: string | boolean | undefined;
    /**
     * 4421 redirects followed in a row before a close counts
     * as a failed attempt (3).
     */
    maxRedirects?: number | undefined;
    /**
     * For tests.
     */
    WebSocket?: {
        new (url: string | URL, protocols?: string | string[]): WebSocket;
        prototype: WebSocket;
        readonly CONNECTING: 0;
        readonly OPEN: 1;
        readonly CLOSING: 2;
        readonly CLOSED: 3;
    } | undefined;
    /**
     * For tests.
     */
    fetch?: typeof fetch | undefined;
};
/**
 * The options in effect: ClientOptions with every default filled in.
 */
export type ClientSettings = Required<Omit<ClientOptions, "getToken" | "predictor">> & Pick<ClientOptions, "getToken" | "predictor">;
/**
 * The `detail` of `statechange` (and of the event named after the new state).
 */
export type StateChange = {
    /**
     * The new state.
     */
    state: ConnectionStateName;
    /**
     * The state before.
     */
    previous: ConnectionStateName;
    /**
     * Reconnecting or gone: the close code (0 when no connection closed).
     */
    code?: number | undefined;
    /**
     * Reconnecting or gone: why.
     */
    reason?: string | undefined;
    /**
     * Reconnecting: the delay before the next attempt.
     */
    delayMs?: number | undefined;
    /**
     * Reconnecting: the number of that attempt.
     */
    attempt?: number | undefined;
    /**
     * Live: whether the same player was resumed.
     */
    resumed?: boolean | undefined;
};
/**
 * Every event of a TickcastClient and its `detail`.
 */
export type ClientEventMap = {
    statechange: StateChange;
    connecting: StateChange;
    live: StateChange;
    reconnecting: StateChange;
    gone: StateChange;
    welcome: WelcomeMessage;
    update: {
        tick: number;
        ack: number;
        keyframe: boolean;
        events: GameEvent[];
    };
    joined: {
        player: number;
        name: string;
    };
    left: {
        player: number;
        name: string | undefined;
    };
    chat: {
        player: number;
        name: string | undefined;
        text: string;
    };
    game: {
        type: "Game";
        kind: number;
        kindName: string | undefined;
        player: number;
        value: number;
    };
    notice: NoticeMessage;
    pong: {
        rtt: number;
    };
    /**
     * A message that could not be decoded or applied.
     */
    error: {
        error: unknown;
    };
    matchmake: MatchmakeAnswer;
    redirect: {
        url: string;
        reason: string;
    };
};
/**
 * Counters for a HUD and for tests.
 */
export type ClientStats = {
    bytesReceived: number;
    /**
     * Over the last second.
     */
    bytesPerSecond: number;
    messages: number;
    keyframes: number;
    deltas: number;
    /**
     * Deltas not based on the tick held.
     */
    refusedDeltas: number;
    reconnects: number;
    resumes: number;
    /**
     * 4421s followed.
     */
    redirects: number;
    /**
     * Requests to `/api/matchmake`.
     */
    matchmakes: number;
    inputsSent: number;
    /**
     * Unchanged inputs skipped to drain a backlog.
     */
    inputsSkipped: number;
};
/**
 * An entity as `view()` draws it.
 */
export type ViewEntity = {
    id: number;
    kind: number;
    kindName: string;
    /**
     * Whether it is the player's own (predicted) entity.
     */
    own: boolean;
    /**
     * Quantized, possibly fractional (interpolated).
     */
    fields: number[];
    /**
     * In game units by field name (`fields[i] / scale`).
     */
    values: Record<string, number>;
};
/**
 * Where one connection attempt goes: its URL, the seat reservation it offers (if any),
 * and whether that seat came from join-or-create matchmaking.
 */
export type Target = {
    url: string;
    seat: string | null;
    matchmade: boolean;
};
/**
 * An EventTarget whose listeners know each event's `detail` type: types only, at run
 * time it is EventTarget itself.
 */
export type TypedEventTarget<M> = {
    addEventListener<K extends keyof M & string>(type: K, listener: (event: CustomEvent<M[K]>) => void, options?: boolean | AddEventListenerOptions): void;
    addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
    removeEventListener<K extends keyof M & string>(type: K, listener: (event: CustomEvent<M[K]>) => void, options?: boolean | EventListenerOptions): void;
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
    dispatchEvent(event: Event): boolean;
};
import type { Schema } from './codec.js';
import type { NoticeMessage } from './codec.js';
import type { EntityState } from './state.js';
import type { Predictor } from './prediction.js';
import type { WelcomeMessage } from './codec.js';
import type { GameEvent } from './codec.js';
import type { MatchmakeAnswer } from './matchmake.js';
export {};

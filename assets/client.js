// client.js: TickcastClient, a connection to one room that keeps itself alive.
//
// Owns: the session token (guest or game-supplied), the WebSocket and its lifecycle
// (connecting, live, reconnecting, gone), the input and ping loops, reconnection with
// backoff, resuming the same player, following 4421 redirects and, in cluster mode,
// placing every attempt through matchmake.js. It wires codec.js, state.js, clock.js and
// prediction.js together and reports through events.
// Never: encodes or decodes bytes itself (codec.js), applies updates by other rules than
// state.js, or knows a game: the predictor and the schema come from outside.

import {
  CloseCode,
  PROTOCOL_VERSIONS,
  RESUME_PREFIX,
  SEAT_PREFIX,
  SUBPROTOCOLS,
  TOKEN_PREFIX,
  decodeServerMessage,
  encodeClientMessage,
  updateEvents,
} from './codec.js';
import { BaseMismatchError, applyUpdate, createState } from './state.js';
import { InterpolationBuffer, ServerClock } from './clock.js';
import { Prediction } from './prediction.js';
import { matchmake, wrongNodeTarget } from './matchmake.js';

/** @import { Schema, ClientMessage, GameEvent, WelcomeMessage, UpdateMessage, PongMessage, NoticeMessage } from './codec.js' */
/** @import { State, EntityState } from './state.js' */
/** @import { Predictor } from './prediction.js' */
/** @import { MatchmakeAnswer } from './matchmake.js' */

const UTF8_ENCODER = new TextEncoder();

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
export function closeAction(code) {
  switch (code) {
    case CloseCode.WRONG_NODE:
      return 'redirect';
    case CloseCode.NORMAL:
    case CloseCode.PROTOCOL_ERROR:
    case CloseCode.UNSUPPORTED_DATA:
    case CloseCode.INVALID_PAYLOAD:
    case CloseCode.TOO_BIG:
    case CloseCode.KICKED:
    case CloseCode.ROOM_FULL:
    case CloseCode.REPLACED:
    case CloseCode.NEEDS_V3: // this client offers version 3: a retry would be refused alike
      return 'stop';
    case CloseCode.UNAUTHORIZED:
      return 'reauth';
    default:
      // 1001 shutting down, 1006 dropped, 1008 policy, 1011 internal, 1012 room stopped,
      // and anything unknown: the server may be back; backoff keeps retries polite.
      return 'retry';
  }
}

/**
 * Delay before reconnect attempt `attempt` (0-based): "full jitter" exponential backoff,
 * a uniformly random delay in `[0, min(capMs, baseMs * 2^attempt))`. Randomness keeps a
 * crowd of clients dropped together from coming back together.
 * @param {number} attempt @param {number} baseMs @param {number} capMs
 * @param {() => number} [random] A source of [0, 1) numbers.
 * @returns {number} Milliseconds.
 */
export function backoffDelay(attempt, baseMs, capMs, random = Math.random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Connection states, in the order a session usually goes through them. */
export const ConnectionState = Object.freeze({
  IDLE: 'idle',
  CONNECTING: 'connecting',
  LIVE: 'live',
  RECONNECTING: 'reconnecting',
  GONE: 'gone',
});

/**
 * A connection state's name.
 * @typedef {typeof ConnectionState[keyof typeof ConnectionState]} ConnectionStateName
 */

/**
 * Options of a TickcastClient; only `name` is needed in a page (others have defaults).
 * @typedef {object} ClientOptions
 * @property {string} [url] The server's HTTP origin; default the page's.
 * @property {string} name The player's display name (for the guest token).
 * @property {string | null} [room] A room name; null or '' for matchmaking.
 * @property {() => Promise<string>} [getToken] Supplies a session token; default: a guest
 *   token from `POST /api/session`.
 * @property {Predictor | ((constants: Record<string, number>) => Predictor)} [predictor]
 *   Predicts the own entity (see arenaPredictor): a predictor, or a function making one
 *   from the game's constants of each Welcome (`constants`; empty from a version 1 server),
 *   so prediction follows the server's configuration (see arenaPredictorFromConstants).
 * @property {(playerId: number) => number} [ownEntityId] The entity id of a player;
 *   default: the same number.
 * @property {number} [interpolationTicks] How far behind others are drawn (2).
 * @property {number} [snapDistance] See InterpolationBuffer.
 * @property {number} [backoffBaseMs] First backoff window (500 ms).
 * @property {number} [backoffCapMs] Largest backoff window (15 s).
 * @property {number} [maxRetries] Consecutive failed attempts before `gone` (Infinity).
 * @property {number} [silenceMs] Reconnect when a live connection is silent this long (5 s).
 * @property {number} [pingIntervalMs] How often RTT is measured (1 s).
 * @property {number} [handshakeTimeoutMs] Give up an attempt (and a matchmaking request)
 *   that has no answer this long (10 s).
 * @property {number} [maxChatBytes] Longest chat line sent, in UTF-8 bytes: the server's
 *   `limits.max_chat_bytes` (200 by default). It closes the session with 1008 on a longer
 *   one, so the client refuses to send it.
 * @property {boolean | string} [matchmake] Cluster mode: place every connect and reconnect
 *   through `GET /api/matchmake` (see TickcastClient). `true` asks `url`; a string is
 *   another HTTP base to ask (e.g. `'https://lobby.example'`). Default false: connect to
 *   `url` directly.
 * @property {number} [maxRedirects] 4421 redirects followed in a row before a close counts
 *   as a failed attempt (3).
 * @property {typeof WebSocket} [WebSocket] For tests.
 * @property {typeof globalThis.fetch} [fetch] For tests.
 */
/**
 * The options in effect: ClientOptions with every default filled in.
 * @typedef {Required<Omit<ClientOptions, 'getToken' | 'predictor'>> & Pick<ClientOptions, 'getToken' | 'predictor'>} ClientSettings
 */

/**
 * The `detail` of `statechange` (and of the event named after the new state).
 * @typedef {object} StateChange
 * @property {ConnectionStateName} state The new state.
 * @property {ConnectionStateName} previous The state before.
 * @property {number} [code] Reconnecting or gone: the close code (0 when no connection closed).
 * @property {string} [reason] Reconnecting or gone: why.
 * @property {number} [delayMs] Reconnecting: the delay before the next attempt.
 * @property {number} [attempt] Reconnecting: the number of that attempt.
 * @property {boolean} [resumed] Live: whether the same player was resumed.
 */
/**
 * Every event of a TickcastClient and its `detail`.
 * @typedef {object} ClientEventMap
 * @property {StateChange} statechange
 * @property {StateChange} connecting
 * @property {StateChange} live
 * @property {StateChange} reconnecting
 * @property {StateChange} gone
 * @property {WelcomeMessage} welcome
 * @property {{tick: number, ack: number, keyframe: boolean, events: GameEvent[]}} update
 * @property {{player: number, name: string}} joined
 * @property {{player: number, name: string | undefined}} left
 * @property {{player: number, name: string | undefined, text: string}} chat
 * @property {{type: 'Game', kind: number, kindName: string | undefined, player: number, value: number}} game
 * @property {NoticeMessage} notice
 * @property {{rtt: number}} pong
 * @property {{error: unknown}} error A message that could not be decoded or applied.
 * @property {MatchmakeAnswer} matchmake
 * @property {{url: string, reason: string}} redirect
 */
/**
 * Counters for a HUD and for tests.
 * @typedef {object} ClientStats
 * @property {number} bytesReceived
 * @property {number} bytesPerSecond Over the last second.
 * @property {number} messages
 * @property {number} keyframes
 * @property {number} deltas
 * @property {number} refusedDeltas Deltas not based on the tick held.
 * @property {number} reconnects
 * @property {number} resumes
 * @property {number} redirects 4421s followed.
 * @property {number} matchmakes Requests to `/api/matchmake`.
 * @property {number} inputsSent
 * @property {number} inputsSkipped Unchanged inputs skipped to drain a backlog.
 */
/**
 * An entity as `view()` draws it.
 * @typedef {object} ViewEntity
 * @property {number} id
 * @property {number} kind
 * @property {string} kindName
 * @property {boolean} own Whether it is the player's own (predicted) entity.
 * @property {number[]} fields Quantized, possibly fractional (interpolated).
 * @property {Record<string, number>} values In game units by field name (`fields[i] / scale`).
 */
/**
 * Where one connection attempt goes: its URL, the seat reservation it offers (if any),
 * and whether that seat came from join-or-create matchmaking.
 * @typedef {{url: string, seat: string | null, matchmade: boolean}} Target
 */

/**
 * An EventTarget whose listeners know each event's `detail` type: types only, at run
 * time it is EventTarget itself.
 * @template M
 * @typedef {{
 *   addEventListener<K extends keyof M & string>(type: K, listener: (event: CustomEvent<M[K]>) => void, options?: boolean | AddEventListenerOptions): void;
 *   addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
 *   removeEventListener<K extends keyof M & string>(type: K, listener: (event: CustomEvent<M[K]>) => void, options?: boolean | EventListenerOptions): void;
 *   removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
 *   dispatchEvent(event: Event): boolean;
 * }} TypedEventTarget
 */
const ClientEventTarget = /** @type {new () => TypedEventTarget<ClientEventMap>} */ (EventTarget);

const now = () => globalThis.performance.now();

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
export class TickcastClient extends ClientEventTarget {
  /** The smoothed RTT's last sample in ms (undefined until the first Pong). @type {number | undefined} */
  lastRtt;

  // Internals. Each is read only by the client itself.
  /** The HTTP base asked for placement, or null without matchmaking. @type {string | null} */
  #matchmakeBase;
  /** The state held (authoritative, as updates built it). @type {State} */
  #world = createState();
  #clock = new ServerClock();
  /** Interpolation of the states received, from the first Welcome on. @type {InterpolationBuffer | null} */
  #buffer = null;
  /** @type {Prediction | null} */
  #prediction = null;
  /** The predictor of the current Welcome (made from its constants), if any. @type {Predictor | null} */
  #predictor = null;
  /** The schema index of the predicted entity kind (valid while #prediction is set). */
  #predictedKind = -1;
  /** The input sent every tick (schema order), or null before the first. @type {number[] | null} */
  #input = null;
  /** The seq of the last input sent (restarts at every Welcome). */
  #seq = 0;
  /** @type {number[] | null} */
  #lastSent = null;
  /** The last second of `seq - ack_input` gaps, one per update. @type {number[]} */
  #lags = [];
  /** Deltas refused in a row (a broken chain resumes after a second of them). */
  #refusedStreak = 0;
  /** The socket of the current attempt. @type {WebSocket | null} */
  #ws = null;
  /** The session token, until refused or expired. @type {string | null} */
  #token = null;
  #tokenExpiresAt = 0;
  /** The last Welcome's resume token, while the player may be resumed. @type {string | null} */
  #resumeToken = null;
  /** Whether the current attempt resumes the player. */
  #resuming = false;
  /** Failed attempts in a row (the backoff's exponent). */
  #attempt = 0;
  /** 4421s followed since the last Welcome or normal attempt. */
  #redirects = 0;
  /** A 4409 on a join-or-create seat was asked again. */
  #fullRetried = false;
  /** The current attempt. @type {Target | null} */
  #conn = null;
  /** Every pending timeout and interval, cleared together. @type {Set<number>} */
  #timers = new Set();
  /** Bumped by every attempt and stop: an async step of an older one gives up. */
  #generation = 0;
  #liveSince = 0;
  /** When the server was last heard (local ms), for the silence check. */
  #lastHeard = 0;
  /** Whether the current attempt got its Welcome. */
  #welcomed = false;
  /** Render time minus local time (ms), moved smoothly; null: jump to the target. @type {number | null} */
  #renderOffset = null;
  #renderAt = 0;
  /** Bytes received over the last second. @type {{t: number, n: number}[]} */
  #recentBytes = [];
  #recentSum = 0;
  #openedAt = now();

  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    /** The options in effect (defaults filled in). @type {ClientSettings} */
    this.options = {
      url: globalThis.location?.origin,
      room: null,
      interpolationTicks: 2,
      snapDistance: Infinity,
      backoffBaseMs: 500,
      backoffCapMs: 15000,
      maxRetries: Infinity,
      silenceMs: 5000,
      pingIntervalMs: 1000,
      handshakeTimeoutMs: 10000,
      maxChatBytes: 200,
      matchmake: false,
      maxRedirects: 3,
      ownEntityId: (id) => id,
      WebSocket: globalThis.WebSocket,
      fetch: globalThis.fetch?.bind(globalThis),
      ...options,
    };
    if (!this.options.url) throw new TypeError('options.url is required outside a page');
    const mm = this.options.matchmake;
    this.#matchmakeBase = mm === true ? this.options.url : typeof mm === 'string' && mm !== '' ? mm : null;
    if (this.#matchmakeBase != null) {
      const base = new URL(this.#matchmakeBase); // throws TypeError on garbage
      if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`options.matchmake: ${mm} is not an http(s) URL`);
    }
    /** Connection state: idle, connecting, live, reconnecting or gone. @type {ConnectionStateName} */
    this.state = ConnectionState.IDLE;
    /** Why the client is gone, if it is: `{code, reason}`. @type {{code: number, reason: string} | null} */
    this.goneReason = null;
    /** The player's id in the room (from Welcome). @type {number | null} */
    this.playerId = null;
    /** The room's name (from Welcome). @type {string | null} */
    this.room = null;
    /** The cluster node of the last matchmake answer (null without one, or after a redirect). @type {string | null} */
    this.node = null;
    /** The WebSocket URL of the current (or last) connection. @type {string | null} */
    this.nodeUrl = null;
    /** The game's schema (from Welcome). @type {Schema | null} */
    this.schema = null;
    /**
     * The game's constants by name (from a protocol version 2 Welcome; empty before one,
     * and from a version 1 server). @type {Record<string, number>}
     */
    this.constants = {};
    /** The protocol version the connection speaks (0 before a Welcome). @type {number} */
    this.protocol = 0;
    /** The room's tick rate (from Welcome). @type {number | null} */
    this.tickRateHz = null;
    /** Players of the room: Map id -> name (Welcome roster, then Joined/Left events). @type {Map<number, string>} */
    this.players = new Map();
    /** Smoothed round-trip time in ms (null until the first Pong). @type {number | null} */
    this.rtt = null;
    /** Counters for a HUD and for tests. @type {ClientStats} */
    this.stats = {
      bytesReceived: 0,
      bytesPerSecond: 0,
      messages: 0,
      keyframes: 0,
      deltas: 0,
      refusedDeltas: 0,
      reconnects: 0,
      resumes: 0,
      redirects: 0,
      matchmakes: 0,
      inputsSent: 0,
      inputsSkipped: 0,
    };
    /** The last Notice with a non-zero code of the current attempt. @type {NoticeMessage | null} */
    this.lastNotice = null;
  }

  /** `tickRateHz` where a Welcome has set it: the loops and updates only run after one. */
  get #rateHz() {
    return /** @type {number} */ (this.tickRateHz);
  }

  /**
   * The socket whose message is being handled (#onMessage checked it is the current one).
   * It is null only if an `error` listener closed the client meanwhile; the drop then
   * throws, as it always has.
   */
  get #currentWs() {
    return /** @type {WebSocket} */ (this.#ws);
  }

  /** `schema` where a Welcome has set it (as #rateHz). */
  get #welcomeSchema() {
    return /** @type {Schema} */ (this.schema);
  }

  /** The tick of the state held (0 before the first update). @returns {number} */
  get tick() {
    return this.#world.tick;
  }

  /**
   * The authoritative entities: Map id -> {kind, fields} (do not mutate). In a room with
   * interest management, the room part and every cell held, merged (see state.js).
   * @returns {Map<number, EntityState>}
   */
  get entities() {
    return this.#world.entities;
  }

  /** The player's own entity id, or null. @returns {number | null} */
  get ownEntityId() {
    return this.playerId == null ? null : this.options.ownEntityId(this.playerId);
  }

  /** Predicted fields of the own entity (null without a predictor). @returns {number[] | null} */
  get predicted() {
    return this.#prediction?.fields?.slice() ?? null;
  }

  /** The name of entity kind `kind` in the schema. @param {number} kind @returns {string | undefined} */
  kindName(kind) {
    return this.schema?.entity_kinds[kind]?.name;
  }

  /** Starts connecting (no effect unless idle or gone). */
  connect() {
    if (this.state !== ConnectionState.IDLE && this.state !== ConnectionState.GONE) return;
    this.goneReason = null;
    this.#attempt = 0;
    this.#fullRetried = false;
    this.#setState(ConnectionState.CONNECTING);
    this.#open();
  }

  /**
   * Sets the input sent every tick from now on (schema input order; clamped to the
   * declared ranges).
   * @param {number[]} values
   */
  setInput(values) {
    this.#input = values.map((v, i) => {
      const f = this.schema?.input[i];
      const n = Math.trunc(Number(v) || 0);
      return f ? Math.min(f.max, Math.max(f.min, n)) : n;
    });
  }

  /**
   * Sends a chat line to the room (ignored unless live, or when longer than maxChatBytes).
   * @param {string} text
   * @returns {boolean} Whether it was sent.
   */
  chat(text) {
    if (UTF8_ENCODER.encode(text).length > this.options.maxChatBytes) return false;
    return this.#send({ type: 'Chat', text });
  }

  /**
   * The server's wall clock now (ms since the Unix epoch), estimated from Ping/Pong, or
   * NaN before the first update.
   * @returns {number}
   */
  serverNow() {
    return this.#clock.now(now(), this.rtt ?? 0);
  }

  /** Leaves the room for good (the seat is freed at once) and stops. */
  leave() {
    this.#send({ type: 'Leave' });
    this.#stop(CloseCode.NORMAL, 'left');
  }

  /** Closes the connection without leaving (the server keeps the seat for its grace window) and stops. */
  close() {
    this.#stop(CloseCode.NORMAL, 'closed by the client');
  }

  /**
   * What to draw now: other entities interpolated `interpolationTicks` in the past, the
   * own entity predicted. `fields` are quantized (possibly fractional); `values` are in
   * game units by field name (`fields[i] / scale`).
   * @param {number} [localMs] `performance.now()`.
   * @returns {{serverTime: number, entities: ViewEntity[]}}
   */
  view(localMs = now()) {
    if (!this.schema || !this.#buffer) return { serverTime: NaN, entities: [] };
    const t = this.#renderTime(localMs);
    const sampled = this.#buffer.sample(t);
    const ownId = this.ownEntityId;
    const own = this.#prediction?.display(localMs);
    /** @type {ViewEntity[]} */
    const entities = [];
    for (const [id, e] of sampled) {
      const mine = id === ownId;
      const fields = mine && own ? own : e.fields;
      entities.push(this.#viewEntity(id, e.kind, fields, mine));
    }
    // The own entity is drawn as soon as it is known, even before it is in the buffer's past.
    if (ownId != null && own && !sampled.has(ownId)) {
      const e = this.#world.entities.get(ownId);
      if (e) entities.push(this.#viewEntity(ownId, e.kind, own, true));
    }
    return { serverTime: t, entities };
  }

  /** @param {number} id @param {number} kind @param {number[]} fields @param {boolean} own @returns {ViewEntity} */
  #viewEntity(id, kind, fields, own) {
    const def = this.#welcomeSchema.entity_kinds[kind];
    /** @type {Record<string, number>} */
    const values = {};
    def.fields.forEach((f, i) => (values[f.name] = fields[i] / f.scale));
    return { id, kind, kindName: def.name, own, fields, values };
  }

  /** Interpolation time: behind the freshest arrivals by N ticks, changed smoothly. @param {number} localMs */
  #renderTime(localMs) {
    if (!this.#clock.ready) return NaN;
    const delay = (this.options.interpolationTicks * 1000) / this.#rateHz;
    const target = this.#clock.arrival(localMs) - delay - localMs;
    const dt = Math.max(0, localMs - this.#renderAt);
    this.#renderAt = localMs;
    if (this.#renderOffset == null || Math.abs(target - this.#renderOffset) > 250) this.#renderOffset = target;
    else this.#renderOffset += (target - this.#renderOffset) * Math.min(1, dt / 500);
    return localMs + this.#renderOffset;
  }

  // --- connection lifecycle -----------------------------------------------------------

  /** @param {ConnectionStateName} state @param {Omit<StateChange, 'state' | 'previous'>} [detail] */
  #setState(state, detail = {}) {
    if (state === this.state && state !== ConnectionState.RECONNECTING) return;
    const previous = this.state;
    this.state = state;
    const d = { state, previous, ...detail };
    this.dispatchEvent(new CustomEvent('statechange', { detail: d }));
    this.dispatchEvent(new CustomEvent(state, { detail: d }));
  }

  /** @template {keyof ClientEventMap} K @param {K} type @param {ClientEventMap[K]} detail */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {number} ms @param {() => void} fn */
  #later(ms, fn) {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  /** @param {number} ms @param {() => void} fn */
  #every(ms, fn) {
    const t = setInterval(fn, ms);
    this.#timers.add(t);
    return t;
  }

  #clearTimers() {
    for (const t of this.#timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.#timers.clear();
  }

  /** @returns {Promise<string>} */
  async #guestToken() {
    const res = await this.options.fetch(new URL('/api/session', this.options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: this.options.name }),
    });
    if (!res.ok) {
      const why = (await res.text().catch(() => '')).trim();
      const err = /** @type {Error & {fatal?: boolean}} */ (new Error(`POST /api/session: ${res.status} ${why}`));
      // 4xx other than 429 means the request itself is wrong (e.g. a bad name): retrying repeats it.
      err.fatal = res.status >= 400 && res.status < 500 && res.status !== 429;
      throw err;
    }
    const body = /** @type {{token: string, expires_in: number}} */ (await res.json());
    // Refresh a little early so a token never expires between fetch and handshake.
    this.#tokenExpiresAt = now() + Math.max(0, body.expires_in - 30) * 1000;
    return body.token;
  }

  /**
   * Opens one connection attempt. `redirect` (a 4421's target) reuses the credentials of
   * the attempt it replaces; otherwise the target comes from matchmaking or `options.url`.
   * @param {Target} [redirect]
   */
  async #open(redirect) {
    const generation = (this.#generation = (this.#generation || 0) + 1);
    const stale = () => generation !== this.#generation || this.state === ConnectionState.GONE;
    if (!redirect) this.#redirects = 0;
    let protocol;
    if (this.#resumeToken) {
      protocol = RESUME_PREFIX + this.#resumeToken;
    } else {
      if (!this.#token || now() >= this.#tokenExpiresAt) {
        try {
          this.#token = null;
          this.#token = this.options.getToken ? await this.options.getToken() : await this.#guestToken();
          if (this.options.getToken) this.#tokenExpiresAt = Infinity;
        } catch (thrown) {
          if (stale()) return;
          const error = /** @type {Error & {fatal?: boolean}} */ (thrown);
          if (error.fatal) return this.#gone(0, error.message);
          return this.#retry(0, `token: ${error.message}`);
        }
        if (stale()) return;
      }
      protocol = TOKEN_PREFIX + this.#token;
    }
    const resuming = protocol.startsWith(RESUME_PREFIX);
    /** @type {Target | null | undefined} */
    let target = redirect;
    if (!target && this.#matchmakeBase != null) {
      // Asked after the token, so the seat (valid a few seconds) is as fresh as can be.
      target = await this.#placement(resuming, stale);
      if (stale() || !target) return;
    }
    if (!target) target = { url: this.#directUrl(), seat: null, matchmade: false };
    const protocols = [...SUBPROTOCOLS, protocol];
    if (target.seat && !resuming) protocols.push(SEAT_PREFIX + target.seat);
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new this.options.WebSocket(target.url, protocols);
    } catch (error) {
      return this.#gone(0, `cannot open WebSocket: ${/** @type {Error} */ (error).message}`);
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#conn = target;
    this.nodeUrl = target.url;
    this.#openedAt = now();
    this.#resuming = resuming;
    this.lastNotice = null;
    this.#lastHeard = now();
    this.#welcomed = false;
    ws.onmessage = (ev) => this.#onMessage(ws, ev.data);
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {}; // a close event always follows; its code says what to do
    this.#later(this.options.handshakeTimeoutMs, () => {
      if (this.#ws === ws && !this.#welcomed) this.#drop(ws, 'no Welcome in time');
    });
  }

  /** `/ws` of `options.url` (or of `base`), with the room asked for. @param {string | null} [room] @param {string} [base] */
  #directUrl(room = this.options.room, base = this.options.url) {
    const url = new URL('/ws', base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (room) url.searchParams.set('room', room);
    return url.href;
  }

  /**
   * Asks the home server where to connect. Resolves to `{url, seat, matchmade}`, or to
   * null when it already scheduled a retry or ended the client.
   * @param {boolean} resuming Whether the attempt resumes the player (no seat needed).
   * @param {() => boolean} stale True once the attempt was superseded (closed, reconnected).
   * @returns {Promise<Target | null>}
   */
  async #placement(resuming, stale) {
    // A resume goes back to its own room wherever it now lives; a join to the room asked.
    const room = resuming ? this.room : this.options.room || null;
    this.stats.matchmakes++;
    let answer;
    try {
      // #open only calls this with a base, and it cannot change before this line runs.
      answer = await matchmake(/** @type {string} */ (this.#matchmakeBase), room, {
        fetch: this.options.fetch,
        timeoutMs: this.options.handshakeTimeoutMs,
        resume: resuming,
      });
    } catch (thrown) {
      if (stale()) return null;
      // A MatchmakeError, or a TypeError (a base that is no URL).
      const error = /** @type {Error & {status?: number, retryable?: boolean}} */ (thrown);
      const status = error.status ?? 0;
      if (status === 404) {
        // No /api/matchmake: a single server of an older version. Connect to it directly.
        this.#matchmakeBase = null;
        return { url: this.#directUrl(room), seat: null, matchmade: false };
      }
      if (status === 410 && resuming) {
        // The room is gone (disposed, or lost with no snapshot): join afresh.
        this.#resumeToken = null;
        this.#resuming = false;
        this.#retry(0, `resume refused: ${error.message}`, 0);
        return null;
      }
      if (status === 409) {
        // The matchmaker's seat count includes the seat our player still holds in its
        // grace window, so a resume can see "full": any node redirects (4421) a resume
        // to the room's owner, so ask the home server's own /ws. (The base is still set:
        // only a 404 clears it.)
        if (resuming) return { url: this.#directUrl(room, /** @type {string} */ (this.#matchmakeBase)), seat: null, matchmade: false };
        this.#roomFull(`matchmake: ${error.message}`, !room);
        return null;
      }
      if (error.retryable) {
        this.#retry(0, error.message);
        return null;
      }
      this.#gone(0, error.message);
      return null;
    }
    if (stale()) return null;
    this.node = answer.node;
    this.#emit('matchmake', answer);
    return { url: answer.url, seat: resuming ? null : answer.seat, matchmade: !resuming && !room };
  }

  /**
   * A full room (a 4409 close, or a 409 from matchmaking): a join-or-create seat is asked
   * for again once, since the cluster's seat counts are only advisory; otherwise the end.
   * @param {string} reason @param {boolean} matchmade Whether the seat was join-or-create.
   */
  #roomFull(reason, matchmade) {
    if (matchmade && !this.#fullRetried && this.#matchmakeBase != null) {
      this.#fullRetried = true;
      this.#open();
      return;
    }
    this.#gone(CloseCode.ROOM_FULL, reason);
  }

  /**
   * Follows a 4421 WRONG_NODE close to the node named in `reason`, at once and with the
   * same credentials; an unusable reason or too many redirects in a row is a failed
   * attempt (backoff).
   * @param {number} code @param {string} reason
   */
  #redirect(code, reason) {
    const from = this.#conn;
    const url = wrongNodeTarget(reason, from?.url);
    if (!url) return this.#retry(code, `wrong node, unusable redirect: ${reason}`);
    if (this.#redirects >= this.options.maxRedirects) {
      return this.#retry(code, `wrong node, ${this.#redirects} redirects in a row: ${reason}`);
    }
    this.#redirects++;
    this.stats.redirects++;
    // Its name is unknown until the next matchmake answer.
    this.node = null;
    if (this.state === ConnectionState.LIVE) {
      this.#setState(ConnectionState.RECONNECTING, { code, reason, delayMs: 0, attempt: this.#attempt });
    }
    this.#emit('redirect', { url, reason });
    this.#open({ url, seat: from?.seat ?? null, matchmade: from?.matchmade ?? false });
  }

  /** Abandons a socket we no longer trust and reconnects. @param {WebSocket} ws @param {string} reason */
  #drop(ws, reason) {
    this.#detach(ws);
    try {
      ws.close(4000, reason);
    } catch {
      /* already closing */
    }
    this.#afterClose(CloseCode.ABNORMAL, reason);
  }

  /** @param {WebSocket} ws */
  #detach(ws) {
    ws.onmessage = ws.onclose = ws.onerror = null;
    if (this.#ws === ws) this.#ws = null;
  }

  /** @param {WebSocket} ws @param {number} code @param {string} reason */
  #onClose(ws, code, reason) {
    if (this.#ws !== ws) return;
    this.#detach(ws);
    // A connection reset after the Notice (a stalled socket is torn down) arrives as
    // 1006: the Notice carries the real code.
    if ((code === CloseCode.ABNORMAL || code === 1005) && this.lastNotice?.code) {
      code = this.lastNotice.code;
      reason = this.lastNotice.reason;
    }
    this.#afterClose(code, reason || this.lastNotice?.reason || '');
  }

  /** @param {number} code @param {string} reason */
  #afterClose(code, reason) {
    this.#clearTimers();
    if (this.state === ConnectionState.GONE) return;
    const wasLive = this.state === ConnectionState.LIVE;
    // A session that lasted counts as success: its drop starts the backoff afresh.
    if (wasLive && now() - this.#liveSince > 5000) this.#attempt = 0;
    switch (closeAction(code)) {
      case 'stop':
        // Asked "right after" a join-or-create seat: the room filled up meanwhile.
        if (code === CloseCode.ROOM_FULL && !this.#welcomed) return this.#roomFull(reason, !!this.#conn?.matchmade);
        return this.#gone(code, reason);
      case 'redirect':
        return this.#redirect(code, reason);
      case 'reauth':
        if (this.#resuming) {
          // The grace window is over (or the room is gone): join as a new player.
          this.#resumeToken = null;
          this.#resuming = false;
          return this.#retry(code, reason, 0);
        }
        this.#token = null;
        return this.#retry(code, reason);
      default:
        // Be gentler with a server that says we are too much for it.
        if (code === CloseCode.POLICY) this.#attempt = Math.max(this.#attempt, 3);
        return this.#retry(code, reason);
    }
  }

  /** @param {number} code @param {string} reason @param {number} [delayMs] Default: backoff. */
  #retry(code, reason, delayMs) {
    if (this.#attempt >= this.options.maxRetries) return this.#gone(code, `gave up after ${this.#attempt} attempts: ${reason}`);
    const delay = delayMs ?? backoffDelay(this.#attempt, this.options.backoffBaseMs, this.options.backoffCapMs);
    this.#attempt++;
    this.stats.reconnects++;
    this.#setState(ConnectionState.RECONNECTING, { code, reason, delayMs: delay, attempt: this.#attempt });
    this.#later(delay, () => {
      if (this.state === ConnectionState.RECONNECTING) this.#open();
    });
  }

  /** @param {number} code @param {string} reason */
  #gone(code, reason) {
    this.#clearTimers();
    this.goneReason = { code, reason };
    this.#setState(ConnectionState.GONE, { code, reason });
  }

  /** @param {number} code @param {string} reason */
  #stop(code, reason) {
    const ws = this.#ws;
    this.#generation = (this.#generation || 0) + 1;
    if (ws) {
      this.#detach(ws);
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
    this.#resumeToken = null;
    this.#gone(code, reason);
  }

  /** @param {ClientMessage} msg @returns {boolean} Whether it was sent. */
  #send(msg) {
    const ws = this.#ws;
    if (!ws || this.state !== ConnectionState.LIVE || ws.readyState !== 1) return false;
    ws.send(encodeClientMessage(msg));
    return true;
  }

  // --- messages -----------------------------------------------------------------------

  /**
   * Counts received bytes; bytesPerSecond covers the last second (less just after connecting).
   * @param {number} n @param {number} t
   */
  #countBytes(n, t) {
    this.stats.bytesReceived += n;
    this.stats.messages++;
    const recent = this.#recentBytes;
    recent.push({ t, n });
    this.#recentSum += n;
    // Never empty here: the sample just pushed is not older than a second.
    while (t - recent[0].t > 1000) this.#recentSum -= /** @type {{t: number, n: number}} */ (recent.shift()).n;
    const span = Math.min(1000, Math.max(250, t - this.#openedAt));
    this.stats.bytesPerSecond = Math.round((this.#recentSum * 1000) / span);
  }

  /** @param {WebSocket} ws @param {unknown} data */
  #onMessage(ws, data) {
    if (this.#ws !== ws) return;
    const t = now();
    this.#lastHeard = t;
    if (!(data instanceof ArrayBuffer)) return this.#drop(ws, 'text frame from server');
    this.#countBytes(data.byteLength, t);
    let msg;
    try {
      msg = decodeServerMessage(data, this.schema);
    } catch (error) {
      this.#emit('error', { error });
      return this.#drop(ws, `undecodable server message: ${/** @type {Error} */ (error).message}`);
    }
    switch (msg.type) {
      case 'Welcome':
        return this.#onWelcome(msg, t);
      case 'Snapshot':
      case 'Delta':
      case 'CellUpdate':
        return this.#onUpdate(msg, t);
      case 'Pong':
        return this.#onPong(msg, t);
      case 'Notice':
        if (msg.code !== 0) this.lastNotice = msg;
        return this.#emit('notice', msg);
    }
  }

  /** @param {WelcomeMessage} msg @param {number} t */
  #onWelcome(msg, t) {
    if (!PROTOCOL_VERSIONS.includes(msg.protocol)) {
      this.#stop(CloseCode.NORMAL, `server speaks protocol ${msg.protocol}, client ${PROTOCOL_VERSIONS.join(' or ')}`);
      return;
    }
    const resumed = this.#resuming && msg.player_id === this.playerId && msg.room === this.room;
    if (!resumed) {
      // A new player (first join, or a resume refused): nothing held carries over.
      this.#world = createState();
    } else {
      this.stats.resumes++;
    }
    // Every Welcome starts a new timeline. The room may have been restored on another
    // node from an older snapshot (its ticks go back, its clock is another machine's),
    // so nothing that assumes increasing ticks or one server clock is kept: the
    // interpolation buffer, the clock samples, the prediction (below) and the input
    // numbering (the server's acknowledgement restarts at 0 anyway). The held state
    // stays readable until the Snapshot that follows every Welcome replaces it.
    this.#clock.reset();
    this.#renderOffset = null;
    this.#seq = 0;
    this.#redirects = 0;
    this.#fullRetried = false;
    this.playerId = msg.player_id;
    this.room = msg.room;
    this.schema = msg.schema;
    this.protocol = msg.protocol;
    this.constants = Object.fromEntries((msg.constants ?? []).map((c) => [c.name, c.value]));
    this.tickRateHz = msg.tick_rate_hz;
    this.#resumeToken = msg.resume_token;
    this.players = new Map(msg.players.map((p) => [p.id, p.name]));
    if (!this.players.has(msg.player_id) && this.options.name) this.players.set(msg.player_id, this.options.name);
    this.#buffer = new InterpolationBuffer({ schema: msg.schema, snapDistance: this.options.snapDistance });
    this.#setupPrediction();
    if (this.#input == null || this.#input.length !== msg.schema.input.length) this.setInput(msg.schema.input.map(() => 0));
    // A new connection: send the current input at once (it may have changed meanwhile).
    this.#lastSent = null;
    this.#lags.length = 0;
    this.#refusedStreak = 0;
    this.#welcomed = true;
    this.#liveSince = t;
    this.#lastHeard = t;
    this.#emit('welcome', msg);
    this.#setState(ConnectionState.LIVE, { resumed });
    this.#startLoops();
  }

  #setupPrediction() {
    const option = this.options.predictor;
    const p = typeof option === 'function' ? option(this.constants) : option;
    this.#predictor = p ?? null;
    this.#prediction = null;
    if (!p) return;
    const kind = this.#welcomeSchema.entity_kinds.findIndex((k) => k.name === p.kind);
    if (kind < 0) return;
    /** @type {number[]} */
    const lerp = [];
    this.#welcomeSchema.entity_kinds[kind].fields.forEach((f, i) => f.scale > 1 && lerp.push(i));
    this.#prediction = new Prediction(p, this.#rateHz, lerp);
    this.#predictedKind = kind;
  }

  #startLoops() {
    const tickMs = 1000 / this.#rateHz;
    this.#every(tickMs, () => this.#sendInput());
    this.#ping();
    this.#every(this.options.pingIntervalMs, () => this.#ping());
    this.#every(1000, () => {
      const ws = this.#ws;
      if (ws && now() - this.#lastHeard > this.options.silenceMs) this.#drop(ws, 'server silent');
    });
  }

  /**
   * Runs once per tick. The server applies at most one queued input per tick and keeps
   * the last one acting when none is queued, so with prediction every tick's input is
   * sent (the replay after an ack then counts ticks exactly), except when skipping is
   * exact: the input is unchanged and idle, or the server holds a backlog of ours.
   * Without prediction only changes are sent.
   */
  #sendInput() {
    const ws = this.#ws;
    // Only when the socket has nothing queued: an input stuck behind others is stale
    // when it lands, and queueing more only adds latency.
    if (!ws || ws.readyState !== 1 || ws.bufferedAmount !== 0 || !this.#input) return;
    const values = this.#input.slice();
    const last = this.#lastSent;
    const unchanged = last != null && values.every((v, i) => v === last[i]);
    // With a prediction there is a predictor.
    const predictor = /** @type {Predictor} */ (this.#predictor);
    if (unchanged && (!this.#prediction || predictor.idle?.(values) || this.#backlogged())) return;
    const seq = ++this.#seq;
    ws.send(encodeClientMessage({ type: 'Input', seq, values }));
    this.#lastSent = values;
    this.stats.inputsSent++;
    this.#prediction?.applyLocal(seq, values, now());
  }

  /**
   * True when the server seems to hold a backlog of our inputs: over the last second of
   * updates, even the smallest gap between the newest seq sent and the acked one is two
   * more than the round trip explains. A network hiccup that delivers two inputs in one
   * tick leaves one queued for good (one is applied per tick); skipping one unchanged
   * input drains it without changing what the server does (it keeps the last input).
   */
  #backlogged() {
    const lags = this.#lags;
    if (lags.length < this.#rateHz) return false;
    const expected = Math.ceil((this.rtt ?? 0) / (1000 / this.#rateHz)) + 1;
    if (Math.min(...lags) < expected + 2) return false;
    lags.length = 0;
    this.stats.inputsSkipped++;
    return true;
  }

  #ping() {
    // The Ping carries our monotonic clock in µs; the Pong echoes it.
    this.#send({ type: 'Ping', client_time: Math.round(now() * 1000) });
  }

  /** @param {PongMessage} msg @param {number} t */
  #onPong(msg, t) {
    const sent = msg.client_time / 1000;
    const sample = t - sent;
    if (!(sample >= 0)) return;
    this.rtt = this.rtt == null ? sample : this.rtt * 0.8 + sample * 0.2;
    this.lastRtt = sample;
    this.#clock.observePong(sent, msg.server_time_us, t);
    this.#emit('pong', { rtt: sample });
  }

  /** @param {UpdateMessage} msg @param {number} t */
  #onUpdate(msg, t) {
    let next;
    try {
      next = applyUpdate(this.#world, msg);
    } catch (error) {
      if (error instanceof BaseMismatchError) {
        // Keep the state and wait for a Snapshot or a delta from the tick we hold. The
        // server deltas from the last update it handed us, so a client that lost one
        // would wait forever: after a second of refusals, resume (a Snapshot follows).
        this.stats.refusedDeltas++;
        if (++this.#refusedStreak >= Math.max(10, this.#rateHz)) this.#drop(this.#currentWs, 'delta chain broken');
        return;
      }
      this.#emit('error', { error });
      return this.#drop(this.#currentWs, `bad update: ${/** @type {Error} */ (error).message}`);
    }
    this.#world = next;
    this.#refusedStreak = 0;
    this.#lags.push(this.#seq - msg.ack_input);
    if (this.#lags.length > this.#rateHz) this.#lags.shift();
    // A Cell update is a keyframe when its room part arrives whole (as after a Welcome).
    const keyframe = msg.type === 'Snapshot' || (msg.type === 'CellUpdate' && msg.base_tick === 0);
    if (keyframe) this.stats.keyframes++;
    else this.stats.deltas++;
    this.#clock.observeUpdate(msg.server_time_us, t);
    // The Welcome before any update made the buffer.
    /** @type {InterpolationBuffer} */ (this.#buffer).push(next, msg.server_time_us / 1000);
    if (this.#prediction) {
      const own = next.entities.get(/** @type {number} */ (this.ownEntityId)); // welcomed: a player id
      const fields = own && own.kind === this.#predictedKind ? own.fields : null;
      this.#prediction.reconcile(fields, msg.ack_input, t);
    }
    const events = updateEvents(msg);
    for (const e of events) this.#onEvent(e);
    this.#emit('update', { tick: msg.tick, ack: msg.ack_input, keyframe, events });
  }

  /** @param {GameEvent} e */
  #onEvent(e) {
    switch (e.type) {
      case 'Joined':
        this.players.set(e.player, e.name);
        return this.#emit('joined', { player: e.player, name: e.name });
      case 'Left': {
        const name = this.players.get(e.player);
        this.players.delete(e.player);
        return this.#emit('left', { player: e.player, name });
      }
      case 'Chat':
        return this.#emit('chat', { player: e.player, name: this.players.get(e.player), text: e.text });
      case 'Game':
        return this.#emit('game', { ...e, kindName: this.#welcomeSchema.event_kinds[e.kind] });
    }
  }
}

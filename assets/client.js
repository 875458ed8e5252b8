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
  PROTOCOL_VERSION,
  RESUME_PREFIX,
  SEAT_PREFIX,
  SUBPROTOCOL,
  TOKEN_PREFIX,
  decodeServerMessage,
  encodeClientMessage,
} from './codec.js';
import { BaseMismatchError, applyUpdate, createState } from './state.js';
import { InterpolationBuffer, ServerClock } from './clock.js';
import { Prediction } from './prediction.js';
import { matchmake, wrongNodeTarget } from './matchmake.js';

const UTF8_ENCODER = new TextEncoder();

/**
 * What a client should do after a close with `code`, as `docs/PROTOCOL.md` prescribes.
 * - `'stop'`: do not reconnect (left, kicked, room full, replaced, or a client bug that
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
export class TickcastClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} [options.url] The server's HTTP origin; default the page's.
   * @param {string} options.name The player's display name (for the guest token).
   * @param {string | null} [options.room] A room name; null or '' for matchmaking.
   * @param {() => Promise<string>} [options.getToken] Supplies a session token; default:
   *   a guest token from `POST /api/session`.
   * @param {object} [options.predictor] Predicts the own entity (see arenaPredictor).
   * @param {(playerId: number) => number} [options.ownEntityId] The entity id of a player;
   *   default: the same number.
   * @param {number} [options.interpolationTicks] How far behind others are drawn (2).
   * @param {number} [options.snapDistance] See InterpolationBuffer.
   * @param {number} [options.backoffBaseMs] First backoff window (500 ms).
   * @param {number} [options.backoffCapMs] Largest backoff window (15 s).
   * @param {number} [options.maxRetries] Consecutive failed attempts before `gone` (Infinity).
   * @param {number} [options.silenceMs] Reconnect when a live connection is silent this long (5 s).
   * @param {number} [options.pingIntervalMs] How often RTT is measured (1 s).
   * @param {number} [options.maxChatBytes] Longest chat line sent, in UTF-8 bytes: the
   *   server's `limits.max_chat_bytes` (200 by default). It closes the session with 1008
   *   on a longer one, so the client refuses to send it.
   * @param {boolean | string} [options.matchmake] Cluster mode: place every connect and
   *   reconnect through `GET /api/matchmake` (see above). `true` asks `options.url`; a
   *   string is another HTTP base to ask (e.g. `'https://lobby.example'`). Default false:
   *   connect to `options.url` directly.
   * @param {number} [options.maxRedirects] 4421 redirects followed in a row before a close
   *   counts as a failed attempt (3).
   * @param {typeof WebSocket} [options.WebSocket] For tests.
   * @param {typeof fetch} [options.fetch] For tests.
   */
  constructor(options) {
    super();
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
    /** The HTTP base asked for placement, or null without matchmaking. */
    this._matchmakeBase = mm === true ? this.options.url : typeof mm === 'string' && mm !== '' ? mm : null;
    if (this._matchmakeBase != null) {
      const base = new URL(this._matchmakeBase); // throws TypeError on garbage
      if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`options.matchmake: ${mm} is not an http(s) URL`);
    }
    /** Connection state: idle, connecting, live, reconnecting or gone. */
    this.state = ConnectionState.IDLE;
    /** Why the client is gone, if it is: `{code, reason}`. */
    this.goneReason = null;
    this.playerId = null;
    this.room = null;
    /** The cluster node of the last matchmake answer (null without one, or after a redirect). */
    this.node = null;
    /** The WebSocket URL of the current (or last) connection. */
    this.nodeUrl = null;
    this.schema = null;
    this.tickRateHz = null;
    /** Players of the room: Map id -> name (Welcome roster, then Joined/Left events). */
    this.players = new Map();
    /** Smoothed round-trip time in ms (null until the first Pong). */
    this.rtt = null;
    /** Counters for a HUD and for tests. */
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
    this.lastNotice = null;
    this._world = createState();
    this._clock = new ServerClock();
    this._buffer = null;
    this._prediction = null;
    this._input = null;
    this._seq = 0;
    this._lastSent = null;
    this._lags = [];
    this._refusedStreak = 0;
    this._ws = null;
    this._token = null;
    this._tokenExpiresAt = 0;
    this._resumeToken = null;
    this._attempt = 0;
    this._redirects = 0; // 4421s followed since the last Welcome or normal attempt
    this._fullRetried = false; // a 4409 on a join-or-create seat was asked again
    this._conn = null; // the current attempt: {url, seat, matchmade}
    this._timers = new Set();
    this._liveSince = 0;
    this._renderOffset = null;
    this._renderAt = 0;
    this._recentBytes = [];
    this._recentSum = 0;
    this._openedAt = now();
  }

  /** The tick of the state held (0 before the first update). @returns {number} */
  get tick() {
    return this._world.tick;
  }

  /** The authoritative entities: Map id -> {kind, fields} (do not mutate). @returns {Map<number, {kind: number, fields: number[]}>} */
  get entities() {
    return this._world.entities;
  }

  /** The player's own entity id, or null. @returns {number | null} */
  get ownEntityId() {
    return this.playerId == null ? null : this.options.ownEntityId(this.playerId);
  }

  /** Predicted fields of the own entity (null without a predictor). @returns {number[] | null} */
  get predicted() {
    return this._prediction?.fields?.slice() ?? null;
  }

  /** The name of entity kind `kind` in the schema. @param {number} kind @returns {string | undefined} */
  kindName(kind) {
    return this.schema?.entity_kinds[kind]?.name;
  }

  /** Starts connecting (no effect unless idle or gone). */
  connect() {
    if (this.state !== ConnectionState.IDLE && this.state !== ConnectionState.GONE) return;
    this.goneReason = null;
    this._attempt = 0;
    this._fullRetried = false;
    this._setState(ConnectionState.CONNECTING);
    this._open();
  }

  /**
   * Sets the input sent every tick from now on (schema input order; clamped to the
   * declared ranges).
   * @param {number[]} values
   */
  setInput(values) {
    this._input = values.map((v, i) => {
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
    return this._send({ type: 'Chat', text });
  }

  /**
   * The server's wall clock now (ms since the Unix epoch), estimated from Ping/Pong, or
   * NaN before the first update.
   * @returns {number}
   */
  serverNow() {
    return this._clock.now(now(), this.rtt ?? 0);
  }

  /** Leaves the room for good (the seat is freed at once) and stops. */
  leave() {
    this._send({ type: 'Leave' });
    this._stop(CloseCode.NORMAL, 'left');
  }

  /** Closes the connection without leaving (the server keeps the seat for its grace window) and stops. */
  close() {
    this._stop(CloseCode.NORMAL, 'closed by the client');
  }

  /**
   * What to draw now: other entities interpolated `interpolationTicks` in the past, the
   * own entity predicted. `fields` are quantized (possibly fractional); `values` are in
   * game units by field name (`fields[i] / scale`).
   * @param {number} [localMs] `performance.now()`.
   * @returns {{serverTime: number, entities: {id: number, kind: number, kindName: string, own: boolean, fields: number[], values: Record<string, number>}[]}}
   */
  view(localMs = now()) {
    if (!this.schema || !this._buffer) return { serverTime: NaN, entities: [] };
    const t = this._renderTime(localMs);
    const sampled = this._buffer.sample(t);
    const ownId = this.ownEntityId;
    const own = this._prediction?.display(localMs);
    const entities = [];
    for (const [id, e] of sampled) {
      const mine = id === ownId;
      const fields = mine && own ? own : e.fields;
      entities.push(this._viewEntity(id, e.kind, fields, mine));
    }
    // The own entity is drawn as soon as it is known, even before it is in the buffer's past.
    if (ownId != null && own && !sampled.has(ownId)) {
      const e = this._world.entities.get(ownId);
      if (e) entities.push(this._viewEntity(ownId, e.kind, own, true));
    }
    return { serverTime: t, entities };
  }

  _viewEntity(id, kind, fields, own) {
    const def = this.schema.entity_kinds[kind];
    const values = {};
    def.fields.forEach((f, i) => (values[f.name] = fields[i] / f.scale));
    return { id, kind, kindName: def.name, own, fields, values };
  }

  /** Interpolation time: behind the freshest arrivals by N ticks, changed smoothly. */
  _renderTime(localMs) {
    if (!this._clock.ready) return NaN;
    const delay = (this.options.interpolationTicks * 1000) / this.tickRateHz;
    const target = this._clock.arrival(localMs) - delay - localMs;
    const dt = Math.max(0, localMs - this._renderAt);
    this._renderAt = localMs;
    if (this._renderOffset == null || Math.abs(target - this._renderOffset) > 250) this._renderOffset = target;
    else this._renderOffset += (target - this._renderOffset) * Math.min(1, dt / 500);
    return localMs + this._renderOffset;
  }

  // --- connection lifecycle -----------------------------------------------------------

  _setState(state, detail = {}) {
    if (state === this.state && state !== ConnectionState.RECONNECTING) return;
    const previous = this.state;
    this.state = state;
    const d = { state, previous, ...detail };
    this.dispatchEvent(new CustomEvent('statechange', { detail: d }));
    this.dispatchEvent(new CustomEvent(state, { detail: d }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _later(ms, fn) {
    const t = setTimeout(() => {
      this._timers.delete(t);
      fn();
    }, ms);
    this._timers.add(t);
    return t;
  }

  _every(ms, fn) {
    const t = setInterval(fn, ms);
    this._timers.add(t);
    return t;
  }

  _clearTimers() {
    for (const t of this._timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this._timers.clear();
  }

  async _guestToken() {
    const res = await this.options.fetch(new URL('/api/session', this.options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: this.options.name }),
    });
    if (!res.ok) {
      const why = (await res.text().catch(() => '')).trim();
      const err = new Error(`POST /api/session: ${res.status} ${why}`);
      // 4xx other than 429 means the request itself is wrong (e.g. a bad name): retrying repeats it.
      err.fatal = res.status >= 400 && res.status < 500 && res.status !== 429;
      throw err;
    }
    const body = await res.json();
    // Refresh a little early so a token never expires between fetch and handshake.
    this._tokenExpiresAt = now() + Math.max(0, body.expires_in - 30) * 1000;
    return body.token;
  }

  /**
   * Opens one connection attempt. `redirect` (a 4421's target) reuses the credentials of
   * the attempt it replaces; otherwise the target comes from matchmaking or `options.url`.
   * @param {{url: string, seat: string | null, matchmade: boolean}} [redirect]
   */
  async _open(redirect) {
    const generation = (this._generation = (this._generation || 0) + 1);
    const stale = () => generation !== this._generation || this.state === ConnectionState.GONE;
    if (!redirect) this._redirects = 0;
    let protocol;
    if (this._resumeToken) {
      protocol = RESUME_PREFIX + this._resumeToken;
    } else {
      if (!this._token || now() >= this._tokenExpiresAt) {
        try {
          this._token = null;
          this._token = this.options.getToken ? await this.options.getToken() : await this._guestToken();
          if (this.options.getToken) this._tokenExpiresAt = Infinity;
        } catch (error) {
          if (stale()) return;
          if (error.fatal) return this._gone(0, error.message);
          return this._retry(0, `token: ${error.message}`);
        }
        if (stale()) return;
      }
      protocol = TOKEN_PREFIX + this._token;
    }
    const resuming = protocol.startsWith(RESUME_PREFIX);
    let target = redirect;
    if (!target && this._matchmakeBase != null) {
      // Asked after the token, so the seat (valid a few seconds) is as fresh as can be.
      target = await this._placement(resuming, stale);
      if (stale() || !target) return;
    }
    if (!target) target = { url: this._directUrl(), seat: null, matchmade: false };
    const protocols = [SUBPROTOCOL, protocol];
    if (target.seat && !resuming) protocols.push(SEAT_PREFIX + target.seat);
    let ws;
    try {
      ws = new this.options.WebSocket(target.url, protocols);
    } catch (error) {
      return this._gone(0, `cannot open WebSocket: ${error.message}`);
    }
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    this._conn = target;
    this.nodeUrl = target.url;
    this._openedAt = now();
    this._resuming = resuming;
    this.lastNotice = null;
    this._lastHeard = now();
    this._welcomed = false;
    ws.onmessage = (ev) => this._onMessage(ws, ev.data);
    ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {}; // a close event always follows; its code says what to do
    this._later(this.options.handshakeTimeoutMs, () => {
      if (this._ws === ws && !this._welcomed) this._drop(ws, 'no Welcome in time');
    });
  }

  /** `/ws` of `options.url` (or of `base`), with the room asked for. @param {string} [room] @param {string} [base] */
  _directUrl(room = this.options.room, base = this.options.url) {
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
   */
  async _placement(resuming, stale) {
    // A resume goes back to its own room wherever it now lives; a join to the room asked.
    const room = resuming ? this.room : this.options.room || null;
    this.stats.matchmakes++;
    let answer;
    try {
      answer = await matchmake(this._matchmakeBase, room, {
        fetch: this.options.fetch,
        timeoutMs: this.options.handshakeTimeoutMs,
        resume: resuming,
      });
    } catch (error) {
      if (stale()) return null;
      const status = error.status ?? 0;
      if (status === 404) {
        // No /api/matchmake: a single server of an older version. Connect to it directly.
        this._matchmakeBase = null;
        return { url: this._directUrl(room), seat: null, matchmade: false };
      }
      if (status === 410 && resuming) {
        // The room is gone (disposed, or lost with no snapshot): join afresh.
        this._resumeToken = null;
        this._resuming = false;
        this._retry(0, `resume refused: ${error.message}`, 0);
        return null;
      }
      if (status === 409) {
        // The matchmaker's seat count includes the seat our player still holds in its
        // grace window, so a resume can see "full": any node redirects (4421) a resume
        // to the room's owner, so ask the home server's own /ws.
        if (resuming) return { url: this._directUrl(room, this._matchmakeBase), seat: null, matchmade: false };
        this._roomFull(`matchmake: ${error.message}`, !room);
        return null;
      }
      if (error.retryable) {
        this._retry(0, error.message);
        return null;
      }
      this._gone(0, error.message);
      return null;
    }
    if (stale()) return null;
    this.node = answer.node;
    this._emit('matchmake', answer);
    return { url: answer.url, seat: resuming ? null : answer.seat, matchmade: !resuming && !room };
  }

  /**
   * A full room (a 4409 close, or a 409 from matchmaking): a join-or-create seat is asked
   * for again once, since the cluster's seat counts are only advisory; otherwise the end.
   * @param {string} reason @param {boolean} matchmade Whether the seat was join-or-create.
   */
  _roomFull(reason, matchmade) {
    if (matchmade && !this._fullRetried && this._matchmakeBase != null) {
      this._fullRetried = true;
      this._open();
      return;
    }
    this._gone(CloseCode.ROOM_FULL, reason);
  }

  /**
   * Follows a 4421 WRONG_NODE close to the node named in `reason`, at once and with the
   * same credentials; an unusable reason or too many redirects in a row is a failed
   * attempt (backoff).
   * @param {number} code @param {string} reason
   */
  _redirect(code, reason) {
    const from = this._conn;
    const url = wrongNodeTarget(reason, from?.url);
    if (!url) return this._retry(code, `wrong node, unusable redirect: ${reason}`);
    if (this._redirects >= this.options.maxRedirects) {
      return this._retry(code, `wrong node, ${this._redirects} redirects in a row: ${reason}`);
    }
    this._redirects++;
    this.stats.redirects++;
    // Its name is unknown until the next matchmake answer.
    this.node = null;
    if (this.state === ConnectionState.LIVE) {
      this._setState(ConnectionState.RECONNECTING, { code, reason, delayMs: 0, attempt: this._attempt });
    }
    this._emit('redirect', { url, reason });
    this._open({ url, seat: from?.seat ?? null, matchmade: from?.matchmade ?? false });
  }

  /** Abandons a socket we no longer trust and reconnects. */
  _drop(ws, reason) {
    this._detach(ws);
    try {
      ws.close(4000, reason);
    } catch {
      /* already closing */
    }
    this._afterClose(CloseCode.ABNORMAL, reason);
  }

  _detach(ws) {
    ws.onmessage = ws.onclose = ws.onerror = null;
    if (this._ws === ws) this._ws = null;
  }

  _onClose(ws, code, reason) {
    if (this._ws !== ws) return;
    this._detach(ws);
    // A connection reset after the Notice (a stalled socket is torn down) arrives as
    // 1006: the Notice carries the real code.
    if ((code === CloseCode.ABNORMAL || code === 1005) && this.lastNotice?.code) {
      code = this.lastNotice.code;
      reason = this.lastNotice.reason;
    }
    this._afterClose(code, reason || this.lastNotice?.reason || '');
  }

  _afterClose(code, reason) {
    this._clearTimers();
    if (this.state === ConnectionState.GONE) return;
    const wasLive = this.state === ConnectionState.LIVE;
    // A session that lasted counts as success: its drop starts the backoff afresh.
    if (wasLive && now() - this._liveSince > 5000) this._attempt = 0;
    switch (closeAction(code)) {
      case 'stop':
        // Asked "right after" a join-or-create seat: the room filled up meanwhile.
        if (code === CloseCode.ROOM_FULL && !this._welcomed) return this._roomFull(reason, !!this._conn?.matchmade);
        return this._gone(code, reason);
      case 'redirect':
        return this._redirect(code, reason);
      case 'reauth':
        if (this._resuming) {
          // The grace window is over (or the room is gone): join as a new player.
          this._resumeToken = null;
          this._resuming = false;
          return this._retry(code, reason, 0);
        }
        this._token = null;
        return this._retry(code, reason);
      default:
        // Be gentler with a server that says we are too much for it.
        if (code === CloseCode.POLICY) this._attempt = Math.max(this._attempt, 3);
        return this._retry(code, reason);
    }
  }

  _retry(code, reason, delayMs) {
    if (this._attempt >= this.options.maxRetries) return this._gone(code, `gave up after ${this._attempt} attempts: ${reason}`);
    const delay = delayMs ?? backoffDelay(this._attempt, this.options.backoffBaseMs, this.options.backoffCapMs);
    this._attempt++;
    this.stats.reconnects++;
    this._setState(ConnectionState.RECONNECTING, { code, reason, delayMs: delay, attempt: this._attempt });
    this._later(delay, () => {
      if (this.state === ConnectionState.RECONNECTING) this._open();
    });
  }

  _gone(code, reason) {
    this._clearTimers();
    this.goneReason = { code, reason };
    this._setState(ConnectionState.GONE, { code, reason });
  }

  _stop(code, reason) {
    const ws = this._ws;
    this._generation = (this._generation || 0) + 1;
    if (ws) {
      this._detach(ws);
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
    this._resumeToken = null;
    this._gone(code, reason);
  }

  _send(msg) {
    const ws = this._ws;
    if (!ws || this.state !== ConnectionState.LIVE || ws.readyState !== 1) return false;
    ws.send(encodeClientMessage(msg));
    return true;
  }

  // --- messages -----------------------------------------------------------------------

  /** Counts received bytes; bytesPerSecond covers the last second (less just after connecting). */
  _countBytes(n, t) {
    this.stats.bytesReceived += n;
    this.stats.messages++;
    const recent = this._recentBytes;
    recent.push({ t, n });
    this._recentSum += n;
    while (t - recent[0].t > 1000) this._recentSum -= recent.shift().n;
    const span = Math.min(1000, Math.max(250, t - this._openedAt));
    this.stats.bytesPerSecond = Math.round((this._recentSum * 1000) / span);
  }

  _onMessage(ws, data) {
    if (this._ws !== ws) return;
    const t = now();
    this._lastHeard = t;
    if (!(data instanceof ArrayBuffer)) return this._drop(ws, 'text frame from server');
    this._countBytes(data.byteLength, t);
    let msg;
    try {
      msg = decodeServerMessage(data, this.schema);
    } catch (error) {
      this._emit('error', { error });
      return this._drop(ws, `undecodable server message: ${error.message}`);
    }
    switch (msg.type) {
      case 'Welcome':
        return this._onWelcome(msg, t);
      case 'Snapshot':
      case 'Delta':
        return this._onUpdate(msg, t);
      case 'Pong':
        return this._onPong(msg, t);
      case 'Notice':
        if (msg.code !== 0) this.lastNotice = msg;
        return this._emit('notice', msg);
    }
  }

  _onWelcome(msg, t) {
    if (msg.protocol !== PROTOCOL_VERSION) {
      this._stop(CloseCode.NORMAL, `server speaks protocol ${msg.protocol}, client ${PROTOCOL_VERSION}`);
      return;
    }
    const resumed = this._resuming && msg.player_id === this.playerId && msg.room === this.room;
    if (!resumed) {
      // A new player (first join, or a resume refused): nothing held carries over.
      this._world = createState();
    } else {
      this.stats.resumes++;
    }
    // Every Welcome starts a new timeline. The room may have been restored on another
    // node from an older snapshot (its ticks go back, its clock is another machine's),
    // so nothing that assumes increasing ticks or one server clock is kept: the
    // interpolation buffer, the clock samples, the prediction (below) and the input
    // numbering (the server's acknowledgement restarts at 0 anyway). The held state
    // stays readable until the Snapshot that follows every Welcome replaces it.
    this._clock.reset();
    this._renderOffset = null;
    this._seq = 0;
    this._redirects = 0;
    this._fullRetried = false;
    this.playerId = msg.player_id;
    this.room = msg.room;
    this.schema = msg.schema;
    this.tickRateHz = msg.tick_rate_hz;
    this._resumeToken = msg.resume_token;
    this.players = new Map(msg.players.map((p) => [p.id, p.name]));
    if (!this.players.has(msg.player_id) && this.options.name) this.players.set(msg.player_id, this.options.name);
    this._buffer = new InterpolationBuffer({ schema: msg.schema, snapDistance: this.options.snapDistance });
    this._setupPrediction();
    if (this._input == null || this._input.length !== msg.schema.input.length) this.setInput(msg.schema.input.map(() => 0));
    // A new connection: send the current input at once (it may have changed meanwhile).
    this._lastSent = null;
    this._lags.length = 0;
    this._refusedStreak = 0;
    this._welcomed = true;
    this._liveSince = t;
    this._lastHeard = t;
    this._emit('welcome', msg);
    this._setState(ConnectionState.LIVE, { resumed });
    this._startLoops();
  }

  _setupPrediction() {
    const p = this.options.predictor;
    this._prediction = null;
    if (!p) return;
    const kind = this.schema.entity_kinds.findIndex((k) => k.name === p.kind);
    if (kind < 0) return;
    const lerp = [];
    this.schema.entity_kinds[kind].fields.forEach((f, i) => f.scale > 1 && lerp.push(i));
    this._prediction = new Prediction(p, this.tickRateHz, lerp);
    this._predictedKind = kind;
  }

  _startLoops() {
    const tickMs = 1000 / this.tickRateHz;
    this._every(tickMs, () => this._sendInput());
    this._ping();
    this._every(this.options.pingIntervalMs, () => this._ping());
    this._every(1000, () => {
      const ws = this._ws;
      if (ws && now() - this._lastHeard > this.options.silenceMs) this._drop(ws, 'server silent');
    });
  }

  /**
   * Runs once per tick. The server applies at most one queued input per tick and keeps
   * the last one acting when none is queued, so with prediction every tick's input is
   * sent (the replay after an ack then counts ticks exactly), except when skipping is
   * exact: the input is unchanged and idle, or the server holds a backlog of ours.
   * Without prediction only changes are sent.
   */
  _sendInput() {
    const ws = this._ws;
    // Only when the socket has nothing queued: an input stuck behind others is stale
    // when it lands, and queueing more only adds latency.
    if (!ws || ws.readyState !== 1 || ws.bufferedAmount !== 0 || !this._input) return;
    const values = this._input.slice();
    const unchanged = this._lastSent != null && values.every((v, i) => v === this._lastSent[i]);
    if (unchanged && (!this._prediction || this.options.predictor.idle?.(values) || this._backlogged())) return;
    const seq = ++this._seq;
    ws.send(encodeClientMessage({ type: 'Input', seq, values }));
    this._lastSent = values;
    this.stats.inputsSent++;
    this._prediction?.applyLocal(seq, values, now());
  }

  /**
   * True when the server seems to hold a backlog of our inputs: over the last second of
   * updates, even the smallest gap between the newest seq sent and the acked one is two
   * more than the round trip explains. A network hiccup that delivers two inputs in one
   * tick leaves one queued for good (one is applied per tick); skipping one unchanged
   * input drains it without changing what the server does (it keeps the last input).
   */
  _backlogged() {
    const lags = this._lags;
    if (lags.length < this.tickRateHz) return false;
    const expected = Math.ceil((this.rtt ?? 0) / (1000 / this.tickRateHz)) + 1;
    if (Math.min(...lags) < expected + 2) return false;
    lags.length = 0;
    this.stats.inputsSkipped++;
    return true;
  }

  _ping() {
    // The Ping carries our monotonic clock in µs; the Pong echoes it.
    this._send({ type: 'Ping', client_time: Math.round(now() * 1000) });
  }

  _onPong(msg, t) {
    const sent = msg.client_time / 1000;
    const sample = t - sent;
    if (!(sample >= 0)) return;
    this.rtt = this.rtt == null ? sample : this.rtt * 0.8 + sample * 0.2;
    this.lastRtt = sample;
    this._clock.observePong(sent, msg.server_time_us, t);
    this._emit('pong', { rtt: sample });
  }

  _onUpdate(msg, t) {
    let next;
    try {
      next = applyUpdate(this._world, msg);
    } catch (error) {
      if (error instanceof BaseMismatchError) {
        // Keep the state and wait for a Snapshot or a delta from the tick we hold. The
        // server deltas from the last update it handed us, so a client that lost one
        // would wait forever: after a second of refusals, resume (a Snapshot follows).
        this.stats.refusedDeltas++;
        if (++this._refusedStreak >= Math.max(10, this.tickRateHz)) this._drop(this._ws, 'delta chain broken');
        return;
      }
      this._emit('error', { error });
      return this._drop(this._ws, `bad update: ${error.message}`);
    }
    this._world = next;
    this._refusedStreak = 0;
    this._lags.push(this._seq - msg.ack_input);
    if (this._lags.length > this.tickRateHz) this._lags.shift();
    if (msg.type === 'Snapshot') this.stats.keyframes++;
    else this.stats.deltas++;
    this._clock.observeUpdate(msg.server_time_us, t);
    this._buffer.push(next, msg.server_time_us / 1000);
    if (this._prediction) {
      const own = next.entities.get(this.ownEntityId);
      const fields = own && own.kind === this._predictedKind ? own.fields : null;
      this._prediction.reconcile(fields, msg.ack_input, t);
    }
    for (const e of msg.events) this._onEvent(e);
    this._emit('update', { tick: msg.tick, ack: msg.ack_input, keyframe: msg.type === 'Snapshot', events: msg.events });
  }

  _onEvent(e) {
    switch (e.type) {
      case 'Joined':
        this.players.set(e.player, e.name);
        return this._emit('joined', { player: e.player, name: e.name });
      case 'Left': {
        const name = this.players.get(e.player);
        this.players.delete(e.player);
        return this._emit('left', { player: e.player, name });
      }
      case 'Chat':
        return this._emit('chat', { player: e.player, name: this.players.get(e.player), text: e.text });
      case 'Game':
        return this._emit('game', { ...e, kindName: this.schema.event_kinds[e.kind] });
    }
  }
}

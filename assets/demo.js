// The arena demo: a room picker, a canvas that draws what tickcast.js interpolates and
// predicts, keyboard and touch input, and a HUD. All networking is in tickcast.js.
//
// URL parameters: `?room=NAME` joins that room, `?match` asks for matchmaking, `name=`
// sets the player name; with neither room nor match the room picker opens. Every join is
// placed through `GET /api/matchmake` (the client's `matchmake` option), so the demo works
// against a cluster of nodes as well as against one server; `&direct` skips that and
// connects to this server's /ws as before.
// For tests and the console, the live client is `window.tickcast` (see tickcast.js).

import { TickcastClient, arenaPredictorFromConstants } from '/tickcast.js';
/** @import { ViewEntity } from '/tickcast.js' */

const ARENA_SIZE = 1000; // arena units (ArenaConfig::default in src/game/arena.rs), until a Welcome says
const BOT_ID_BASE = 1 << 23; // the arena's bots (src/game/arena.rs): players with no connection
const PLAYER_RADIUS = 20;
const ORB_RADIUS = 8;
const HUD_INTERVAL_MS = 250;

/** An element of index.html (every id used here is there). @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  canvas: /** @type {HTMLCanvasElement} */ ($('arena')),
  conn: $('conn'),
  connText: $('conn-text'),
  roomLabel: $('room-label'),
  switchRoom: $('switch'),
  banner: $('banner'),
  boost: $('boost'),
  rtt: $('hud-rtt'),
  tick: $('hud-tick'),
  players: $('hud-players'),
  bytes: $('hud-bytes'),
  scores: $('scores'),
  scoresTitle: $('scores-title'),
  log: $('log'),
  chat: $('chat'),
  chatText: /** @type {HTMLInputElement} */ ($('chat-text')),
  picker: /** @type {HTMLDialogElement} */ ($('picker')),
  pickerForm: $('picker-form'),
  pickName: /** @type {HTMLInputElement} */ ($('pick-name')),
  pickRoom: /** @type {HTMLInputElement} */ ($('pick-room')),
  pickError: $('pick-error'),
  openRooms: $('open-rooms'),
  openRoomsBody: $('open-rooms-body'),
  roomList: $('room-list'),
};
const ctx = /** @type {CanvasRenderingContext2D} */ (ui.canvas.getContext('2d'));

/** @type {TickcastClient | null} */
let client = null;
/** @type {{name: string, room: string | null} | null} */
let joinRequest = null; // {name, room} of the last join, for "Rejoin"
// `?direct`: connect to this server's /ws without asking /api/matchmake (debugging one node).
const direct = new URLSearchParams(location.search).has('direct');
/** @type {{id: number, text: string, at: number}[]} */
const popups = []; // floating "+1" labels: {id, text, at}

// --- joining ------------------------------------------------------------------------

const NAME_RE = /^[\p{L}\p{N}_.-](?:[\p{L}\p{N} _.-]*[\p{L}\p{N}_.-])?$/u;
const ROOM_RE = /^[A-Za-z0-9_-]{1,32}$/;

/** @param {string} name */
function validName(name) {
  return NAME_RE.test(name) && new TextEncoder().encode(name).length <= 24;
}

function defaultName() {
  const saved = localStorage.getItem('tickcast.name');
  return saved && validName(saved) ? saved : `guest-${Math.floor(1000 + Math.random() * 9000)}`;
}

/** @param {string} name @param {string | null} room */
function join(name, room) {
  if (client) {
    client.close();
    client = null;
  }
  joinRequest = { name, room };
  localStorage.setItem('tickcast.name', name);
  clearLog();
  client = new TickcastClient({ name, room: room || null, matchmake: !direct, predictor: arenaPredictorFromConstants, snapDistance: 600 });
  /** @type {Window & {tickcast?: TickcastClient}} */ (window).tickcast = client;
  wire(client);
  client.connect();
  ui.switchRoom.hidden = false;
  ui.canvas.focus();
}

/** @param {TickcastClient} c */
function wire(c) {
  c.addEventListener('statechange', (e) => {
    if (c !== client) return;
    const { state, code, reason, delayMs = 0, resumed } = e.detail;
    ui.conn.dataset.state = state;
    ui.connText.textContent = state === 'live' ? 'live' : state;
    if (state === 'live') {
      hideBanner();
      const where = c.node ? ` on node <b>${esc(c.node)}</b>` : '';
      log(resumed ? `Reconnected${where}: same player, same seat.` : `Joined room <b>${esc(c.room)}</b>${where}.`);
    } else if (state === 'reconnecting') {
      showBanner(`Connection lost${reason ? ` (${esc(reason)})` : ''}. Reconnecting${delayMs > 1000 ? ` in ${Math.ceil(delayMs / 1000)} s` : ''}…`);
    } else if (state === 'gone') {
      showBanner(`Disconnected: ${esc(explain(code, reason))}`, true);
      log(`Disconnected: ${esc(explain(code, reason))}`);
    } else if (state === 'connecting') {
      showBanner('Connecting…');
    }
  });
  c.addEventListener('redirect', (e) => {
    if (c === client) log(`The room lives on another node: moving to ${esc(nodeName(e.detail.url))}.`);
  });
  c.addEventListener('welcome', (e) => {
    if (c !== client) return;
    const room = e.detail.room;
    ui.roomLabel.hidden = false;
    const node = c.node ?? (c.nodeUrl && new URL(c.nodeUrl).host !== location.host ? nodeName(c.nodeUrl) : null);
    ui.roomLabel.innerHTML = `<span class="room-word">room </span><b>${esc(room)}</b>${node ? `<span class="node-label"> on ${esc(node)}</span>` : ''}`;
    // Matchmaking picked a room: make the URL shareable.
    const url = new URL(location.href);
    url.searchParams.delete('match');
    url.searchParams.set('room', room);
    url.searchParams.set('name', /** @type {{name: string}} */ (joinRequest).name); // join() set it
    history.replaceState(null, '', url);
  });
  c.addEventListener('joined', (e) => c === client && e.detail.player !== c.playerId && log(`<b>${esc(e.detail.name)}</b> joined.`));
  c.addEventListener('left', (e) => c === client && log(`<b>${esc(e.detail.name ?? `#${e.detail.player}`)}</b> left.`));
  c.addEventListener('chat', (e) => c === client && log(`<b>${esc(e.detail.name ?? `#${e.detail.player}`)}:</b> ${esc(e.detail.text)}`));
  c.addEventListener('game', (e) => {
    if (c === client && e.detail.kindName === 'scored') popups.push({ id: e.detail.player, text: '+1', at: performance.now() });
  });
}

/** A node as shown to people: the host of its WebSocket URL. @param {string} url */
function nodeName(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** @param {number | undefined} code @param {string | undefined} reason */
function explain(code, reason) {
  /** @type {Record<number, string>} */
  const known = { 4403: 'kicked', 4409: 'the room is full', 4410: 'this player connected from another tab' };
  return known[/** @type {number} */ (code)] || reason || `close code ${code}`;
}

/** @param {string} [message] */
function showPicker(message) {
  ui.pickName.value = joinRequest?.name ?? defaultName();
  ui.pickRoom.value = joinRequest?.room ?? '';
  ui.pickError.hidden = !message;
  ui.pickError.textContent = message || '';
  if (!ui.picker.open) ui.picker.showModal();
  loadOpenRooms();
}

async function loadOpenRooms() {
  try {
    const res = await fetch('/api/rooms');
    if (!res.ok) return;
    /** @type {{name: string, players: number, capacity: number, node?: string}[]} */
    const all = await res.json();
    const rooms = all.filter((r) => r.players < r.capacity).slice(0, 8);
    // In a cluster each room says which node hosts it; a single server may not.
    const clustered = rooms.some((r) => typeof r.node === 'string' && r.node !== '');
    ui.openRooms.classList.toggle('clustered', clustered);
    ui.openRoomsBody.replaceChildren();
    ui.roomList.replaceChildren();
    for (const r of rooms) {
      const tr = document.createElement('tr');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = r.name;
      b.title = `Pick room ${r.name}`;
      b.addEventListener('click', () => (ui.pickRoom.value = r.name));
      /** @param {string | Node} content @param {string} [className] */
      const cell = (content, className) => {
        const td = document.createElement('td');
        if (className) td.className = className;
        td.append(content);
        return td;
      };
      tr.append(cell(b), cell(`${r.players}/${r.capacity}`, 'num'), cell(r.node ?? '', 'node-col'));
      ui.openRoomsBody.append(tr);
      const o = document.createElement('option');
      o.value = r.name;
      ui.roomList.append(o);
    }
    ui.openRooms.hidden = rooms.length === 0;
  } catch {
    /* the list is a convenience; joining works without it */
  }
}

ui.pickerForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.pickName.value.trim();
  const choice = /** @type {HTMLButtonElement | null} */ (e.submitter)?.value;
  const match = choice === 'match';
  // "Big world": the arena's `field` kind (game.arena.presets in config.yaml).
  const room = match ? null : choice === 'field' ? 'field' : ui.pickRoom.value.trim();
  if (!validName(name)) return showPicker("Names are 1–24 letters, digits, spaces, '-', '_' or '.'.");
  if (!match && !ROOM_RE.test(/** @type {string} */ (room))) return showPicker("Room names are 1–32 letters, digits, '-' or '_' (or use Quick match).");
  ui.picker.close();
  join(name, room);
});
ui.picker.addEventListener('cancel', (e) => client == null && e.preventDefault());

ui.switchRoom.addEventListener('click', () => {
  if (client) {
    client.leave();
    client = null;
  }
  ui.conn.dataset.state = 'idle';
  ui.connText.textContent = 'not connected';
  ui.roomLabel.hidden = true;
  hideBanner();
  showPicker();
});

// --- banner and log -------------------------------------------------------------------

/** @param {unknown} s */
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** @param {string} html */
function showBanner(html, bad = false) {
  ui.banner.hidden = false;
  ui.banner.dataset.kind = bad ? 'bad' : '';
  ui.banner.innerHTML = `<span>${html}</span>`;
  if (bad && joinRequest) {
    const b = document.createElement('button');
    b.textContent = 'Rejoin';
    b.addEventListener('click', () => {
      const again = /** @type {{name: string, room: string | null}} */ (joinRequest); // never unset
      join(again.name, again.room);
    });
    ui.banner.append(b);
  }
}

function hideBanner() {
  ui.banner.hidden = true;
}

/** @param {string} html */
function log(html) {
  const li = document.createElement('li');
  li.innerHTML = html;
  ui.log.append(li);
  while (ui.log.children.length > 40) /** @type {ChildNode} */ (ui.log.firstChild).remove();
  ui.log.scrollTop = ui.log.scrollHeight;
}

function clearLog() {
  ui.log.replaceChildren();
}

ui.chat.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.chatText.value.trim();
  if (!text || !client) return;
  if (client.chat(text)) ui.chatText.value = '';
  else if (client.state === 'live') log('That message is too long.');
});

// --- input: keyboard, touch joystick, boost button ------------------------------------

const keys = new Set();
/** @type {{active: boolean, id: number | null, ox: number, oy: number, x: number, y: number}} */
const joystick = { active: false, id: null, ox: 0, oy: 0, x: 0, y: 0 };
let boostHeld = false;
/** @type {Record<string, [number, number]>} */
const KEY_DIRS = {
  KeyW: [0, -1], ArrowUp: [0, -1],
  KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0],
  KeyD: [1, 0], ArrowRight: [1, 0],
};

/** @param {Event} e */
function typing(e) {
  return e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
}

addEventListener('keydown', (e) => {
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.code in KEY_DIRS || e.key === 'Shift') {
    keys.add(e.code in KEY_DIRS ? e.code : 'Shift');
    if (e.code in KEY_DIRS) e.preventDefault();
    updateInput();
  } else if (e.key === 'Enter' && client) {
    ui.chatText.focus();
    e.preventDefault();
  }
});
addEventListener('keyup', (e) => {
  keys.delete(e.code in KEY_DIRS ? e.code : e.key === 'Shift' ? 'Shift' : e.code);
  updateInput();
});
addEventListener('blur', () => {
  keys.clear();
  updateInput();
});
ui.chatText.addEventListener('keydown', (e) => e.key === 'Escape' && ui.chatText.blur());

// Touch-to-move: press anywhere on the arena and drag; the offset from where the finger
// went down is the direction (8 ways, like the keys).
ui.canvas.addEventListener('pointerdown', (e) => {
  if (joystick.active || (e.pointerType === 'mouse' && e.button !== 0)) return;
  ui.canvas.setPointerCapture(e.pointerId);
  Object.assign(joystick, { active: true, id: e.pointerId, ox: e.offsetX, oy: e.offsetY, x: e.offsetX, y: e.offsetY });
  updateInput();
});
ui.canvas.addEventListener('pointermove', (e) => {
  if (!joystick.active || e.pointerId !== joystick.id) return;
  joystick.x = e.offsetX;
  joystick.y = e.offsetY;
  updateInput();
});
for (const type of /** @type {const} */ (['pointerup', 'pointercancel', 'lostpointercapture'])) {
  ui.canvas.addEventListener(type, (e) => {
    if (e.pointerId !== joystick.id) return;
    joystick.active = false;
    joystick.id = null;
    updateInput();
  });
}

if (matchMedia('(pointer: coarse)').matches) ui.boost.hidden = false;
ui.boost.addEventListener('pointerdown', (e) => {
  ui.boost.setPointerCapture(e.pointerId);
  boostHeld = true;
  ui.boost.classList.add('on');
  updateInput();
});
for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  ui.boost.addEventListener(type, () => {
    boostHeld = false;
    ui.boost.classList.remove('on');
    updateInput();
  });
}

function joystickDirection() {
  const vx = joystick.x - joystick.ox;
  const vy = joystick.y - joystick.oy;
  const len = Math.hypot(vx, vy);
  if (len < 12) return [0, 0];
  // sin(22.5°): beyond it an axis counts, so the 8 directions get equal sectors.
  const axis = (/** @type {number} */ v) => (Math.abs(v) / len > 0.383 ? Math.sign(v) : 0);
  return [axis(vx), axis(vy)];
}

function updateInput() {
  let dx = 0;
  let dy = 0;
  if (joystick.active) {
    [dx, dy] = joystickDirection();
  } else {
    for (const k of keys) {
      const d = KEY_DIRS[k];
      if (d) {
        dx += d[0];
        dy += d[1];
      }
    }
  }
  const boost = keys.has('Shift') || boostHeld ? 1 : 0;
  client?.setInput([Math.sign(dx), Math.sign(dy), boost]);
}

// --- drawing ----------------------------------------------------------------------------

/** @type {Map<number, string>} */
const colorCache = new Map();
/** @param {number} id @returns {string} */
function playerColor(id) {
  if (!colorCache.has(id)) colorCache.set(id, `hsl(${Math.round((id * 137.508) % 360)} 75% 62%)`);
  return /** @type {string} */ (colorCache.get(id));
}

let cssSize = 0;
let dpr = 1;
function fitCanvas() {
  const stage = /** @type {HTMLElement} */ (ui.canvas.parentElement);
  const size = Math.max(120, Math.floor(Math.min(stage.clientWidth, stage.clientHeight)));
  const ratio = window.devicePixelRatio || 1;
  if (size === cssSize && ratio === dpr) return;
  cssSize = size;
  dpr = ratio;
  ui.canvas.style.width = ui.canvas.style.height = `${size}px`;
  ui.canvas.width = ui.canvas.height = Math.round(size * ratio);
}

/**
 * The map's side and, in a big world (the Welcome has `view_radius`: the server sends only
 * what is near), the half side of the square the player sees. @returns {{size: number, viewRadius: number | null}}
 */
function mapOf() {
  const c = client?.constants ?? {};
  return { size: c.size || ARENA_SIZE, viewRadius: c.view_radius || null };
}

/**
 * Where the canvas looks, in arena units: the whole map in a small arena; in a big world a
 * square of side 2 × view radius around the player, kept inside the map.
 * @param {ViewEntity | undefined} own @returns {{x: number, y: number, span: number}}
 */
function camera(own) {
  const { size, viewRadius } = mapOf();
  if (!viewRadius) return { x: 0, y: 0, span: size };
  const span = Math.min(size, 2 * viewRadius);
  const centre = (/** @type {number} */ v) => Math.min(Math.max(v, span / 2), size - span / 2);
  const cx = own ? centre(own.values.x) : size / 2;
  const cy = own ? centre(own.values.y) : size / 2;
  return { x: cx - span / 2, y: cy - span / 2, span };
}

/** @param {number} k Canvas pixels per arena unit. @param {number} size The map's side. */
function drawFloor(k, size) {
  const s = size * k;
  const g = ctx.createRadialGradient(s / 2, s / 2, s * 0.1, s / 2, s / 2, s * 0.75);
  g.addColorStop(0, '#17213a');
  g.addColorStop(1, '#0f1628');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, s, s);
  ctx.strokeStyle = 'rgba(120, 145, 200, 0.09)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let u = 100; u < size; u += 100) {
    const p = Math.round(u * k) + 0.5;
    ctx.moveTo(p, 0);
    ctx.lineTo(p, s);
    ctx.moveTo(0, p);
    ctx.lineTo(s, p);
  }
  ctx.stroke();
  ctx.strokeStyle = 'rgba(94, 234, 212, 0.35)';
  ctx.lineWidth = 2;
  ctx.strokeRect(1, 1, s - 2, s - 2);
}

/** @param {number} x @param {number} y @param {number} k @param {number} t */
function drawOrb(x, y, k, t) {
  const r = ORB_RADIUS * k * (1 + 0.08 * Math.sin(t / 250 + x));
  ctx.save();
  ctx.shadowColor = 'rgba(255, 209, 102, 0.9)';
  ctx.shadowBlur = 14 * k * 2;
  ctx.fillStyle = '#ffd166';
  ctx.beginPath();
  ctx.arc(x * k, y * k, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.restore();
  ctx.fillStyle = 'rgba(255, 255, 255, 0.7)';
  ctx.beginPath();
  ctx.arc(x * k - r * 0.3, y * k - r * 0.3, r * 0.3, 0, Math.PI * 2);
  ctx.fill();
}

/** A font size in canvas pixels: `scaled`, but never under `minCss` CSS pixels. @param {number} scaled @param {number} minCss */
function textPx(scaled, minCss) {
  return Math.round(Math.max(scaled, minCss * dpr));
}

/** @param {ViewEntity} e @param {string} name @param {number} k */
function drawPlayer(e, name, k) {
  const x = e.values.x * k;
  const y = e.values.y * k;
  const r = PLAYER_RADIUS * k;
  const color = playerColor(e.id);
  if (e.own) {
    ctx.save();
    ctx.shadowColor = color;
    ctx.shadowBlur = 18 * k * 2;
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.9)';
    ctx.lineWidth = Math.max(2, 3 * k);
    ctx.beginPath();
    ctx.arc(x, y, r + 3 * k, 0, Math.PI * 2);
    ctx.stroke();
    ctx.restore();
  }
  ctx.fillStyle = color;
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.35)';
  ctx.lineWidth = Math.max(1, 2 * k);
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.stroke();
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = 'rgba(10, 14, 28, 0.85)';
  ctx.font = `700 ${textPx(15 * k, 9)}px system-ui, sans-serif`;
  ctx.fillText(String(Math.round(e.values.score ?? 0)), x, y + 1);
  const label = textPx(13 * k, 11);
  const ly = y - r - label * 0.75;
  ctx.font = `600 ${label}px system-ui, sans-serif`;
  ctx.lineWidth = 3 * dpr;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = 'rgba(8, 12, 24, 0.85)';
  ctx.strokeText(name, x, ly);
  ctx.fillStyle = e.own ? '#ffffff' : 'rgba(230, 236, 255, 0.9)';
  ctx.fillText(name, x, ly);
}

/** @param {Map<number, ViewEntity>} byId @param {number} k @param {number} t */
function drawPopups(byId, k, t) {
  for (let i = popups.length - 1; i >= 0; i--) {
    const p = popups[i];
    const age = (t - p.at) / 900;
    const e = byId.get(p.id);
    if (age >= 1 || !e) {
      if (age >= 1) popups.splice(i, 1);
      continue;
    }
    ctx.globalAlpha = 1 - age;
    ctx.fillStyle = '#ffd166';
    ctx.font = `800 ${textPx(18 * k, 13)}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.fillText(p.text, e.values.x * k + 26 * k, e.values.y * k - PLAYER_RADIUS * k - 30 * k * age);
    ctx.globalAlpha = 1;
  }
}

function drawJoystick() {
  if (!joystick.active) return;
  const vx = joystick.x - joystick.ox;
  const vy = joystick.y - joystick.oy;
  const len = Math.hypot(vx, vy);
  const max = 46;
  const f = len > max ? max / len : 1;
  ctx.save();
  ctx.scale(dpr, dpr);
  ctx.strokeStyle = 'rgba(230, 236, 255, 0.35)';
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(joystick.ox, joystick.oy, max, 0, Math.PI * 2);
  ctx.stroke();
  ctx.fillStyle = 'rgba(94, 234, 212, 0.5)';
  ctx.beginPath();
  ctx.arc(joystick.ox + vx * f, joystick.oy + vy * f, 18, 0, Math.PI * 2);
  ctx.fill();
  ctx.restore();
}

/** @param {string} text @param {number} k */
function drawMessage(text, k) {
  ctx.fillStyle = 'rgba(230, 236, 255, 0.6)';
  ctx.font = `500 ${textPx(22 * k, 15)}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, ui.canvas.width / 2, ui.canvas.height / 2);
}

/** The explored squares of a big world's minimap: 64 × 64 of them, set where a view has been. */
const EXPLORED_GRID = 64;
let explored = new Uint8Array(EXPLORED_GRID * EXPLORED_GRID);
let exploredRoom = '';

/** Marks what the camera shows as explored (forgotten when the room changes). @param {{x: number, y: number, span: number}} cam @param {number} size */
function explore(cam, size) {
  const room = client?.room ?? '';
  if (room !== exploredRoom) {
    explored = new Uint8Array(EXPLORED_GRID * EXPLORED_GRID);
    exploredRoom = room;
  }
  const cell = (/** @type {number} */ v) => Math.min(EXPLORED_GRID - 1, Math.max(0, Math.floor((v / size) * EXPLORED_GRID)));
  for (let gx = cell(cam.x); gx <= cell(cam.x + cam.span - 1); gx++) {
    for (let gy = cell(cam.y); gy <= cell(cam.y + cam.span - 1); gy++) explored[gy * EXPLORED_GRID + gx] = 1;
  }
}

/**
 * A big world's minimap, top right: the whole map, the part explored so far, the square
 * the player sees, and the players it holds (the others are out of sight, so not sent).
 * @param {{x: number, y: number, span: number}} cam @param {ViewEntity[]} players @param {number} size
 */
function drawMinimap(cam, players, size) {
  const m = Math.round(ui.canvas.width * 0.24);
  const pad = Math.round(10 * dpr);
  const x0 = ui.canvas.width - m - pad;
  const y0 = pad;
  const k = m / size;
  ctx.fillStyle = 'rgba(8, 12, 24, 0.72)';
  ctx.fillRect(x0, y0, m, m);
  ctx.fillStyle = 'rgba(94, 234, 212, 0.3)';
  const g = m / EXPLORED_GRID;
  for (let i = 0; i < explored.length; i++) {
    if (explored[i]) ctx.fillRect(x0 + (i % EXPLORED_GRID) * g, y0 + Math.floor(i / EXPLORED_GRID) * g, Math.ceil(g), Math.ceil(g));
  }
  ctx.strokeStyle = 'rgba(94, 234, 212, 0.45)';
  ctx.lineWidth = Math.max(1, dpr);
  ctx.strokeRect(x0 + 0.5, y0 + 0.5, m - 1, m - 1);
  ctx.strokeStyle = 'rgba(230, 236, 255, 0.8)';
  ctx.strokeRect(x0 + cam.x * k, y0 + cam.y * k, cam.span * k, cam.span * k);
  for (const e of players) {
    ctx.fillStyle = e.own ? '#ffffff' : playerColor(e.id);
    const r = (e.own ? 3 : 1.6) * dpr;
    ctx.beginPath();
    ctx.arc(x0 + e.values.x * k, y0 + e.values.y * k, r, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.fillStyle = 'rgba(230, 236, 255, 0.7)';
  ctx.font = `600 ${textPx(0, 10)}px system-ui, sans-serif`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(`map ${size} × ${size}`, x0 + 4 * dpr, y0 + m + 3 * dpr);
}

/** A player's label: its name, or "bot" for the arena's own players. @param {number} id @param {string} fallback */
function nameOf(id, fallback) {
  return client?.players.get(id) ?? (id >= BOT_ID_BASE ? 'bot' : fallback);
}

/** @param {number} t */
function frame(t) {
  fitCanvas();
  const view = client ? client.view(t) : { entities: [] };
  const own = view.entities.find((e) => e.own && e.kindName === 'player');
  const { size, viewRadius } = mapOf();
  const cam = camera(own);
  const k = ui.canvas.width / cam.span;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, ui.canvas.width, ui.canvas.height);
  // Everything of the world is drawn in map coordinates, shifted by the camera.
  ctx.setTransform(1, 0, 0, 1, -cam.x * k, -cam.y * k);
  drawFloor(k, size);
  /** @type {Map<number, ViewEntity>} */
  const byId = new Map();
  for (const e of view.entities) if (e.kindName === 'orb') drawOrb(e.values.x, e.values.y, k, t);
  const players = view.entities.filter((e) => e.kindName === 'player');
  for (const e of players) {
    byId.set(e.id, e);
    if (!e.own) drawPlayer(e, nameOf(e.id, `#${e.id}`), k);
  }
  if (own) drawPlayer(own, nameOf(own.id, 'you'), k);
  drawPopups(byId, k, t);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  if (view.entities.length === 0) {
    const state = client?.state;
    drawMessage(!client ? 'Pick a room to play' : state === 'gone' ? 'Disconnected' : 'Connecting…', k);
  }
  if (viewRadius && own) explore(cam, size);
  if (viewRadius) drawMinimap(cam, players, size);
  drawJoystick();
  requestAnimationFrame(frame);
}

// --- HUD and scoreboard -----------------------------------------------------------------

/** @param {number} bytesPerSecond */
function formatRate(bytesPerSecond) {
  if (bytesPerSecond < 1000) return `${bytesPerSecond} B/s`;
  return `${(bytesPerSecond / 1000).toFixed(bytesPerSecond < 10000 ? 1 : 0)} kB/s`;
}

let lastScores = '';
function updateHud() {
  const c = client;
  const live = c?.state === 'live';
  ui.rtt.textContent = c?.rtt != null ? `${Math.round(c.rtt)} ms` : '–';
  ui.tick.textContent = c?.tick ? String(c.tick) : '–';
  ui.players.textContent = c && c.playerId != null ? String(c.players.size) : '–';
  ui.bytes.textContent = c && live ? formatRate(c.stats.bytesPerSecond) : '–';

  /** @type {{id: number, name: string, score: number}[]} */
  const rows = [];
  const schema = c?.schema;
  const kind = schema?.entity_kinds.findIndex((k) => k.name === 'player') ?? -1;
  // A kind was found: there is a client and a schema.
  const scoreField = schema && kind >= 0 ? schema.entity_kinds[kind].fields.findIndex((f) => f.name === 'score') : -1;
  if (c && kind >= 0) {
    for (const [id, e] of c.entities) if (e.kind === kind) rows.push({ id, name: nameOf(id, `#${id}`), score: e.fields[scoreField] ?? 0 });
  }
  rows.sort((a, b) => b.score - a.score || a.id - b.id);
  const key = JSON.stringify(rows) + c?.playerId;
  if (key === lastScores) return;
  lastScores = key;
  // A big world sends only what is near: the board can rank only the players in sight.
  ui.scoresTitle.textContent = mapOf().viewRadius ? 'Scores nearby' : 'Scoreboard';
  ui.scores.replaceChildren(
    ...rows.slice(0, 10).map((r, i) => {
      const li = document.createElement('li');
      if (r.id === c?.playerId) li.className = 'me'; // rows: a client
      li.innerHTML = `<span class="rank">${i + 1}</span><span class="dot" style="background:${playerColor(r.id)}"></span><span class="name">${esc(r.name)}${r.id === c?.playerId ? ' <span class="muted">(you)</span>' : ''}</span><span class="pts">${r.score}</span>`;
      return li;
    }),
  );
  if (rows.length === 0) ui.scores.innerHTML = '<li class="empty">No players yet</li>';
}

// --- start ----------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
const urlName = params.get('name');
const urlRoom = params.get('room');
const wantsMatch = params.has('match');
if ((wantsMatch || urlRoom) && (urlName == null || validName(urlName)) && (wantsMatch || ROOM_RE.test(/** @type {string} */ (urlRoom)))) {
  join(urlName ?? defaultName(), wantsMatch ? null : urlRoom);
} else {
  joinRequest = urlRoom || urlName ? { name: urlName && validName(urlName) ? urlName : defaultName(), room: urlRoom ?? '' } : null;
  showPicker(urlRoom || urlName ? 'That room or name is not valid: pick another.' : undefined);
}
setInterval(updateHud, HUD_INTERVAL_MS);
updateHud();
requestAnimationFrame(frame);

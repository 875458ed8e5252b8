/**
 * Encodes a client message. Shapes (snake_case, as in `docs/PROTOCOL.md`):
 * `{type:'Input', seq, values}`, `{type:'Ping', client_time}`, `{type:'Leave'}`,
 * `{type:'Chat', text}`.
 * @param {ClientMessage} msg
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function encodeClientMessage(msg: ClientMessage): Uint8Array<ArrayBuffer>;
/**
 * Decodes a client message (what a server or a proxy reads); the inverse of
 * encodeClientMessage.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {ClientMessage}
 * @throws {DecodeError}
 */
export function decodeClientMessage(data: ArrayBuffer | ArrayBufferView): ClientMessage;
/** Orders cells by (x, y). @param {[number, number]} a @param {[number, number]} b */
export function compareCells(a: [number, number], b: [number, number]): number;
/**
 * Every event of an update in the order to handle them: a Cell update's room part
 * first, then each section's in section order.
 * @param {UpdateMessage} msg
 * @returns {GameEvent[]}
 */
export function updateEvents(msg: UpdateMessage): GameEvent[];
/**
 * Decodes one server message. Snapshot and Delta bodies are decoded with `schema` (from
 * Welcome); without it they throw. Returned shapes use the Rust field names:
 * - `{type:'Welcome', protocol, player_id, room, tick_rate_hz, tick, resume_token, players:[{id,name}], schema}`
 * - `{type:'Snapshot', tick, ack_input, server_time_us, entities:[{id,kind,fields}], events}`
 * - `{type:'Delta', tick, base_tick, ack_input, server_time_us, created, changed:[{id,mask,changes}], removed, events}`
 * - `{type:'CellUpdate', tick, base_tick, ack_input, server_time_us, room, sections:[{cell:[x,y], age, …body}], dropped:[[x,y]]}`
 *   (protocol version 3): the room part as a Snapshot's body (`entities`, `events`) when its base is 0, else as
 *   a Delta's; a section as a Snapshot's body when its age is 0, else a cell delta body (`created`,
 *   `changed:[{index,mask,changes}]`, `removed:[index]`, `events`), indexes into the client's copy sorted by id
 * - `{type:'Pong', client_time, server_time_us}`, `{type:'Notice', code, reason}`
 * Events are `{type:'Joined',player,name}`, `{type:'Left',player}`, `{type:'Chat',player,text}`,
 * `{type:'Game',kind,player,value}`.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @param {Schema | null} [schema] The schema from Welcome.
 * @returns {ServerMessage}
 * @throws {DecodeError}
 */
export function decodeServerMessage(data: ArrayBuffer | ArrayBufferView, schema?: Schema | null): ServerMessage;
/** The newest protocol version this client speaks (docs/PROTOCOL.md, "Versions"). */
export const PROTOCOL_VERSION: 3;
/** Every protocol version this client speaks; a Welcome naming another is refused. */
export const PROTOCOL_VERSIONS: readonly number[];
/** The WebSocket subprotocol of protocol version 1. */
export const SUBPROTOCOL: "tickcast.v1";
/** The WebSocket subprotocol of protocol version 2 (Welcome carries the game's constants). */
export const SUBPROTOCOL_V2: "tickcast.v2";
/** The WebSocket subprotocol of protocol version 3 (the Cell update of rooms with interest management). */
export const SUBPROTOCOL_V3: "tickcast.v3";
/** What the client offers, newest first: the server answers with the newest it speaks. */
export const SUBPROTOCOLS: readonly string[];
/** Subprotocol prefix carrying a guest or game session token. */
export const TOKEN_PREFIX: "tickcast.token.";
/** Subprotocol prefix carrying a resume token. */
export const RESUME_PREFIX: "tickcast.resume.";
/** Subprotocol prefix carrying a seat reservation from `GET /api/matchmake` (cluster mode). */
export const SEAT_PREFIX: "tickcast.seat.";
/** Tags of server messages (a varint in front of each). */
export const ServerTag: Readonly<{
    Welcome: 0;
    Snapshot: 1;
    Delta: 2;
    Pong: 3;
    Notice: 4;
    CellUpdate: 5;
}>;
/** Variant indexes of client messages. */
export const ClientTag: Readonly<{
    Input: 0;
    Ping: 1;
    Leave: 2;
    Chat: 3;
}>;
/** Every close code the server uses (`protocol::close_code` in messages.rs). */
export const CloseCode: Readonly<{
    NORMAL: 1000;
    GOING_AWAY: 1001;
    PROTOCOL_ERROR: 1002;
    UNSUPPORTED_DATA: 1003;
    ABNORMAL: 1006;
    INVALID_PAYLOAD: 1007;
    POLICY: 1008;
    TOO_BIG: 1009;
    INTERNAL: 1011;
    TRY_AGAIN: 1012;
    UNAUTHORIZED: 4401;
    KICKED: 4403;
    ROOM_FULL: 4409;
    REPLACED: 4410;
    WRONG_NODE: 4421;
    NEEDS_V3: 4426;
}>;
/** Bytes that are not a valid tickcast message (truncated, bad marker, out of range…). */
export class DecodeError extends Error {
    /** @param {string} message */
    constructor(message: string);
}
/**
 * Reads bincode-standard values from bytes. Every read is bounds-checked and throws a
 * DecodeError rather than reading past the end. 64-bit values are read as BigInt and
 * returned as Number when they fit below 2^53 (ticks and microsecond clocks do).
 */
export class ByteReader {
    /** @param {ArrayBuffer | ArrayBufferView} data */
    constructor(data: ArrayBuffer | ArrayBufferView);
    /** The bytes read. @type {Uint8Array} */
    bytes: Uint8Array;
    /** A view of `bytes` for fixed-width reads. @type {DataView} */
    view: DataView;
    /** The offset of the next byte to read. @type {number} */
    pos: number;
    /** Bytes not read yet. @returns {number} */
    get remaining(): number;
    /** An unsigned varint as BigInt (any u64). @returns {bigint} */
    bigUint(): bigint;
    /** An unsigned varint as Number, at most `max`. @param {number} [max] @returns {number} */
    uint(max?: number): number;
    /** A u16. @returns {number} */
    u16(): number;
    /** A u32. @returns {number} */
    u32(): number;
    /** A u64 that must fit in a Number exactly (< 2^53). @returns {number} */
    u64(): number;
    /** A zigzag-encoded i32. @returns {number} */
    i32(): number;
    /** A zigzag-encoded i64 that must fit in a Number exactly. @returns {number} */
    i64(): number;
    /**
     * A length or count. Each counted item takes at least one byte, so a count larger than
     * the bytes left is refused before anything is allocated for it.
     * @returns {number}
     */
    count(): number;
    /** A UTF-8 string (varint byte length, then the bytes). @returns {string} */
    string(): string;
    /** A Vec: a count, then `item()` that many times. @template T @param {() => T} item @returns {T[]} */
    list<T>(item: () => T): T[];
    #private;
}
/** Appends bincode-standard values to a growing buffer. */
export class ByteWriter {
    /** The buffer, of which the first `length` bytes are written. @type {Uint8Array<ArrayBuffer>} */
    bytes: Uint8Array<ArrayBuffer>;
    /** Bytes written so far. @type {number} */
    length: number;
    /** An unsigned varint (Number up to 2^53, or BigInt up to 2^64-1). @param {number | bigint} v */
    uint(v: number | bigint): void;
    /** A zigzag-encoded signed integer (i32 or i64 range). @param {number | bigint} v */
    int(v: number | bigint): void;
    /** A UTF-8 string. @param {string} s */
    string(s: string): void;
    /** The bytes written so far (a copy). @returns {Uint8Array<ArrayBuffer>} */
    finish(): Uint8Array<ArrayBuffer>;
    #private;
}
/**
 * A game's schema, from Welcome: what the entities, inputs and events of the room are.
 */
export type Schema = {
    /**
     * The game's name.
     */
    game: string;
    /**
     * Entity kinds; an entity's `kind` indexes this.
     */
    entity_kinds: EntityKindDef[];
    /**
     * The input's values, in the order `setInput` takes them.
     */
    input: InputDef[];
    /**
     * Names of game events; a Game event's `kind` indexes this.
     */
    event_kinds: string[];
};
/**
 * An entity kind: its name and its fields, each sent quantized as `round(value * scale)`.
 */
export type EntityKindDef = {
    name: string;
    fields: {
        name: string;
        scale: number;
    }[];
};
/**
 * One input value and its allowed range.
 */
export type InputDef = {
    name: string;
    min: number;
    max: number;
};
/**
 * An entity in full: its id, kind (index in `schema.entity_kinds`) and quantized fields.
 */
export type Entity = {
    id: number;
    kind: number;
    fields: number[];
};
/**
 * A changed entity of a Delta: bit i of `mask` says field i changed, and `changes` holds
 * the (wrapping i32) differences of those fields in order.
 */
export type EntityChange = {
    id: number;
    mask: number;
    changes: number[];
};
/**
 * An event of an update.
 */
export type GameEvent = {
    type: "Joined";
    player: number;
    name: string;
} | {
    type: "Left";
    player: number;
} | {
    type: "Chat";
    player: number;
    text: string;
} | {
    type: "Game";
    kind: number;
    player: number;
    value: number;
};
/**
 * The first message of every session.
 */
export type WelcomeMessage = {
    type: "Welcome";
    protocol: number;
    player_id: number;
    room: string;
    tick_rate_hz: number;
    tick: number;
    resume_token: string;
    players: {
        id: number;
        name: string;
    }[];
    schema: Schema;
    /**
     * Protocol version 2 on: the game's
     * constants (absent in a version 1 Welcome).
     */
    constants?: {
        name: string;
        value: number;
    }[] | undefined;
};
/**
 * A keyframe: every entity of the room.
 */
export type SnapshotMessage = {
    type: "Snapshot";
    tick: number;
    /**
     * The last input seq the server applied.
     */
    ack_input: number;
    server_time_us: number;
    entities: Entity[];
    events: GameEvent[];
};
/**
 * The changes since `base_tick`.
 */
export type DeltaMessage = {
    type: "Delta";
    tick: number;
    base_tick: number;
    /**
     * The last input seq the server applied.
     */
    ack_input: number;
    server_time_us: number;
    created: Entity[];
    changed: EntityChange[];
    /**
     * Ids of removed entities.
     */
    removed: number[];
    events: GameEvent[];
};
/**
 * A body of a Cell update's room part or section: a snapshot body (the part arrives
 * whole, its base is 0) or a delta body.
 */
export type CellBody = {
    entities: Entity[];
    events: GameEvent[];
} | {
    created: Entity[];
    changed: EntityChange[];
    removed: number[];
    events: GameEvent[];
};
/**
 * A changed entity of a cell delta, named by its `index` in the client's copy of the
 * cell (its entities sorted by id), not by its id.
 */
export type IndexedChange = {
    index: number;
    mask: number;
    changes: number[];
};
/**
 * A cell delta body (docs/PROTOCOL.md, "Cell delta body"): `created` entities by id,
 * `changed` and `removed` by their index in the client's copy of the cell.
 */
export type CellDeltaBody = {
    created: Entity[];
    changed: IndexedChange[];
    removed: number[];
    events: GameEvent[];
};
/**
 * One cell's section of a Cell update: `cell` is `[cell_x, cell_y]`, `age` the
 * `cell_age` (0: the cell arrives whole, as a snapshot body; else a cell delta body
 * from the client's copy, which is the cell at tick − age).
 */
export type CellSection = {
    cell: [number, number];
    age: number;
} & ({
    entities: Entity[];
    events: GameEvent[];
} | CellDeltaBody);
/**
 * Protocol version 3, a room with interest
 *   management: the room-wide part, then the cells the player sees that changed.
 */
export type CellUpdateMessage = {
    type: "CellUpdate";
    tick: number;
    /**
     * The room part's base: 0 when it arrives whole.
     */
    base_tick: number;
    /**
     * The last input seq the server applied.
     */
    ack_input: number;
    server_time_us: number;
    /**
     * The room-wide entities and events.
     */
    room: CellBody;
    /**
     * Sorted by cell, each cell at most once.
     */
    sections: CellSection[];
    /**
     * Cells the player no longer sees, sorted.
     */
    dropped: [number, number][];
};
export type PongMessage = {
    type: "Pong";
    client_time: number;
    server_time_us: number;
};
export type NoticeMessage = {
    type: "Notice";
    code: number;
    reason: string;
};
/**
 * An update: a Snapshot, a Delta or a Cell update.
 */
export type UpdateMessage = SnapshotMessage | DeltaMessage | CellUpdateMessage;
/**
 * Any server message.
 */
export type ServerMessage = WelcomeMessage | SnapshotMessage | DeltaMessage | CellUpdateMessage | PongMessage | NoticeMessage;
/**
 * Any client message. `client_time` may be a BigInt when encoding; decoding gives a Number.
 */
export type ClientMessage = {
    type: "Input";
    seq: number;
    values: number[];
} | {
    type: "Ping";
    client_time: number | bigint;
} | {
    type: "Leave";
} | {
    type: "Chat";
    text: string;
};

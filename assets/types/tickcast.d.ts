export * from "./codec.js";
export * from "./state.js";
export * from "./clock.js";
export * from "./prediction.js";
export * from "./client.js";
export * from "./matchmake.js";
export * from "./arena.js";

/**
 * The pure domain core: values, events, errors, state, commands, `apply`, the invariants and the
 * placement strategy interface the commands call.
 */
export * from './apply.js';
export * from './commands.js';
export * from './errors.js';
export * from './events.js';
export * from './invariants.js';
export * from './placement-strategy.js';
export * from './state.js';
export * from './values.js';

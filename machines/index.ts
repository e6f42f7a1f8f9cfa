/** The statecharts, for embedding, inspection and drawing. */
export * from './cluster-node.machine.js';
export * from './leadership.machine.js';
export * from './node-lifecycle.machine.js';
export { decideBatch, drainedNodes, eligibleToLead, type Proposal, STRATEGIES } from './proposals.js';
export * from './rebalancing.machine.js';
export * from './system-ids.js';

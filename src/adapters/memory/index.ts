/** The in-memory transport and its fault hooks. */
export type { ActiveFault, Fault, FaultKind } from './faults.js';
export { FaultController, seededRandom } from './faults.js';
export type { AuditEntry } from './memory-audit-log.js';
export type { MemoryConnection, MemoryTransportOptions } from './memory-transport.js';
export { MemoryTransport, memoryTransport } from './memory-transport.js';
export { subjectMatches } from './subjects.js';

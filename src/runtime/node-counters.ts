/** Counters of what a node dropped instead of applying. */
export interface NodeCounters {
  malformed: Record<MessageKind, number>;
  /** Hand-off requests refused: a deposed leader's (lower term), or one that does not hold the lease. */
  staleHandoffs: number;
  /**
   * Hand-off requests refused because no plan in the committed topology matches them (another leader or
   * term, a map version nobody committed, a shard not planned to move from here to the named target, or
   * a target incarnation not on record): a forger on the bus, since a real leader asks only for its plan.
   */
  forgedHandoffs: number;
  /** Hand-off requests refused because the lease or the topology could not be read to verify them. */
  unverifiedHandoffs: number;
  /**
   * Live events dropped because their term is below the highest this node knows (a deposed
   * leader's late or replayed decisions); the audit stream still keeps them.
   */
  staleEvents: number;
  /**
   * Live events dropped because their origin did not hold the lease of their term, as far as this
   * node learned within a lease TTL (a forger on the bus, or a misrouted message).
   */
  forgedEvents: number;
  /** Heartbeats dropped because they came from an older incarnation of a node (a previous process). */
  staleHeartbeats: number;
  /** Times a periodic topology read found a newer revision than the watch had delivered. */
  topologyResyncs: number;
  /** Events re-sent after a failed publish. */
  republished: number;
}

/** What a node reads from the transport, by kind. */
export type MessageKind = 'heartbeat' | 'event' | 'command' | 'handoff' | 'lease' | 'topology';

export function newCounters(): NodeCounters {
  return {
    malformed: { heartbeat: 0, event: 0, command: 0, handoff: 0, lease: 0, topology: 0 },
    staleHandoffs: 0,
    forgedHandoffs: 0,
    unverifiedHandoffs: 0,
    staleEvents: 0,
    forgedEvents: 0,
    staleHeartbeats: 0,
    topologyResyncs: 0,
    republished: 0,
  };
}

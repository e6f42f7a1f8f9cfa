/** Where a cluster lives on the transport: its subjects, buckets and stream. */

/** Subjects and store names of one cluster. */
export function names(cluster: string) {
  return {
    heartbeats: `aether.${cluster}.hb`,
    events: `aether.${cluster}.events.>`,
    /** Lease renewals: live only, outside the audit stream (one every renew interval would swamp it). */
    renewals: `aether.${cluster}.renewals.LeadershipRenewed`,
    event: (type: string) => `aether.${cluster}.events.${type}`,
    leader: `aether.${cluster}.leader`,
    handoff: (nodeId: string) => `aether.${cluster}.handoff.${nodeId}`,
    inspection: (nodeId: string) => `aether.${cluster}.inspect.${nodeId}`,
    /** Answered by the running process of a node id: a second process with that id asks before starting. */
    member: (nodeId: string) => `aether.${cluster}.member.${nodeId}`,
    leaseBucket: `aether_${cluster}_lease`,
    topologyBucket: `aether_${cluster}_topology`,
    auditStream: `aether_${cluster}_events`,
  };
}

/** System ids under which the root spawns its children, so actors can address each other. */
export const ROOT_SYSTEM_ID = 'node';
export const LEADERSHIP_SYSTEM_ID = 'leadership';
export const REBALANCER_SYSTEM_ID = 'rebalancer';
/** System id of the lifecycle actor tracking `nodeId`. */
export const lifecycleSystemId = (nodeId: string): string => `lifecycle-${nodeId}`;
/** System id of the actor that serves this node's shards (the old owner's side of hand-offs). */
export const SHARD_HOST_SYSTEM_ID = 'shard-host';

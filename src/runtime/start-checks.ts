/**
 * Checks a node makes before its first heartbeat, so that a misconfigured process is refused at start
 * and the running cluster is left untouched: its shard count must be the cluster's, and no running
 * process may already use its id. Also answers that second question for this process once it runs.
 */
import type { Logger } from 'pino';
import { InvalidConfigError } from '../domain/errors.js';
import type { NodeId } from '../domain/values.js';
import type { MessageBus } from '../ports/bus.js';
import type { Unsubscribe } from '../ports/kv.js';
import { decodeMemberProbeReply, encode } from '../protocol/codec.js';
import type { MemberProbeReply } from '../protocol/messages.js';
import type { names } from '../protocol/names.js';
import type { TopologyRecord } from './topology-store.js';

export interface StartCheckDeps {
  readonly nodeId: NodeId;
  readonly cluster: string;
  readonly shardCount: number;
  readonly incarnation: number;
  readonly bus: MessageBus;
  readonly names: ReturnType<typeof names>;
  readonly timeoutMs: number;
  readonly log: Logger;
  /** The stored topology, null before the first commit. */
  readonly readTopology: () => Promise<TopologyRecord | null>;
}

/**
 * Refuses to start a node whose shard count differs from the stored topology's, or whose id is used
 * by a process that runs. A process that does not answer (dead, paused, cut off) or is stopping does
 * not count: a restart after a crash, or while the old process is still leaving, is admitted, and the
 * leader replaces the old incarnation.
 * @throws InvalidConfigError naming `shardCount` or `nodeId`.
 */
export async function checkStart(d: StartCheckDeps): Promise<void> {
  const record = await d.readTopology();
  if (record === null) return;
  const state = record.state;
  if (state.shardCount !== d.shardCount) {
    throw new InvalidConfigError(
      'shardCount',
      `cluster "${d.cluster}" has ${state.shardCount} shards in its stored topology; this node was started with ${d.shardCount} (every node must use the same shard count)`,
    );
  }
  const self = state.nodes[d.nodeId];
  if (self === undefined || (self.status !== 'Active' && self.status !== 'Draining')) return;
  const running = await probe(d);
  if (running !== null && running.phase !== 'stopping' && running.incarnation !== d.incarnation) {
    throw new InvalidConfigError(
      'nodeId',
      `node "${d.nodeId}" already runs in cluster "${d.cluster}" (incarnation ${running.incarnation}, ${running.phase}); stop that process first or choose another id`,
    );
  }
}

/** The running process of this id, as it answers; null when none answers in time. */
async function probe(d: StartCheckDeps): Promise<MemberProbeReply | null> {
  try {
    const raw = await d.bus.request(d.names.member(d.nodeId), encode({ from: d.incarnation }), {
      timeoutMs: d.timeoutMs,
    });
    const r = decodeMemberProbeReply(raw);
    if (!r.ok) d.log.warn({ error: r.error }, 'malformed answer to the member probe; ignored');
    return r.ok ? r.value : null;
  } catch {
    // No responders (no process of this id) or no answer in time (dead or paused): not running.
    return null;
  }
}

/** Answers the member probe for this process from now on. */
export function answerMemberProbe(
  d: Pick<StartCheckDeps, 'nodeId' | 'incarnation' | 'bus' | 'names'>,
  phase: () => MemberProbeReply['phase'],
): Promise<Unsubscribe> {
  return d.bus.subscribe(d.names.member(d.nodeId), (m) => {
    const reply: MemberProbeReply = { nodeId: d.nodeId, incarnation: d.incarnation, phase: phase() };
    m.respond?.(encode(reply));
  });
}

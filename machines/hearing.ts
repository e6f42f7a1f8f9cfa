/**
 * What a judge could hear: whether this node could receive heartbeats, and since when without a gap.
 * A node that cannot hear (cut off from the transport, paused) must not judge others by their
 * silence. Pure: the root keeps a {@link Hearing} in its context and asks these functions.
 */
import type { NodeId } from '../src/domain/values.js';

/** The connection states the transport reports (the `ConnectionStatus` of the transport port). */
export type LinkStatus = 'connected' | 'disconnected' | 'reconnecting' | 'closed';

export interface Hearing {
  /** Whether the transport connection is up. */
  readonly connected: boolean;
  /** When the last heartbeat from any node (itself included) arrived. */
  readonly heardAt: number;
  /** Start of the current stretch of hearing without a gap. */
  readonly since: number;
}

export interface HearingTiming {
  readonly heartbeatIntervalMs: number;
  readonly failureTimeoutMs: number;
}

/** A node hears a heartbeat, its own included, every interval; this long without one means it was deaf. */
export function deafGapMs(t: HearingTiming): number {
  return 1.5 * t.heartbeatIntervalMs;
}

export function initialHearing(now: number): Hearing {
  return { connected: true, heardAt: now, since: now };
}

/** A heartbeat arrived at `at`: `restored` when it ends a gap during which this node heard nothing. */
export function hearHeartbeat(
  h: Hearing,
  at: number,
  t: HearingTiming,
): { hearing: Hearing; restored: boolean } {
  // A paused process sees the gap here: its timers and its inbox both resume at once.
  const restored = at - h.heardAt > deafGapMs(t);
  return {
    hearing: { connected: h.connected, heardAt: Math.max(h.heardAt, at), since: restored ? at : h.since },
    restored,
  };
}

/** The connection changed at `at`: `restored` when it came back after being down. */
export function noteLink(
  h: Hearing,
  at: number,
  status: LinkStatus,
): { hearing: Hearing; restored: boolean } {
  if (status !== 'connected') return { hearing: { ...h, connected: false }, restored: false };
  if (h.connected) return { hearing: h, restored: false };
  return { hearing: { connected: true, heardAt: Math.max(h.heardAt, at), since: at }, restored: true };
}

/** A failure proposal, as the judge made it: the node, and the moment its deadline passed. */
export interface FailureClaim {
  readonly nodeId: NodeId;
  readonly at: number;
}

/**
 * Why a judge may not declare `claim.nodeId` failed now, or null when it may: a node never judges
 * itself; a judge must be connected, must have heard some heartbeat (its own arrives every interval)
 * shortly before the deadline, and must have heard without a gap for a full failure timeout before it.
 */
export function blindness(self: NodeId, h: Hearing, claim: FailureClaim, t: HearingTiming): string | null {
  if (claim.nodeId === self) return 'a node does not judge itself';
  if (!h.connected) return 'disconnected from the transport';
  if (claim.at - h.heardAt > deafGapMs(t)) return `heard nothing for ${claim.at - h.heardAt} ms`;
  if (claim.at < h.since + t.failureTimeoutMs) return 'has not heard for a full failure timeout';
  return null;
}

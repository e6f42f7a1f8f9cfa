// Formatting helpers: node colours, times, one-line domain events.

const PALETTE = [
  '#4f9dff', // blue
  '#f2a93b', // amber
  '#37c99e', // teal
  '#e5668f', // pink
  '#a98bff', // violet
  '#8fd14f', // lime
  '#ff7a59', // coral
  '#3fc1d9', // cyan
  '#d6c34a', // olive-gold
  '#c46bd1', // orchid
  '#6f8cff', // periwinkle
  '#5fd3a5', // mint
];

function fnv(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A stable colour per node id. Ids ending in a number (n1, node-7) take consecutive palette
 * entries, so small clusters never collide; others hash into the palette or onto the hue wheel.
 */
export function nodeColor(id) {
  if (id === null || id === undefined) return 'var(--unowned)';
  const m = /(\d+)$/.exec(id);
  if (m) {
    const n = Number(m[1]);
    if (n >= 0 && n < PALETTE.length * 4) {
      const base = PALETTE[(n + PALETTE.length - 1) % PALETTE.length];
      return n <= PALETTE.length ? base : shade(base, Math.floor((n - 1) / PALETTE.length));
    }
  }
  const h = fnv(id);
  if (h % 3 !== 0) return PALETTE[h % PALETTE.length];
  return `hsl(${h % 360} 65% 62%)`;
}

function shade(hex, k) {
  const v = Number.parseInt(hex.slice(1), 16);
  const f = k % 2 === 1 ? 0.7 : 1.25;
  const c = [(v >> 16) & 255, (v >> 8) & 255, v & 255].map((x) =>
    Math.max(0, Math.min(255, Math.round(x * f))),
  );
  return `rgb(${c.join(' ')})`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Clock times from the wall clock print as HH:MM:SS.mmm; small (simulated) clocks as +s.mmm. */
export function formatTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms > 1e11) {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  return `+${(ms / 1000).toFixed(3)}s`;
}

/** A short age: 0.3 s, 3.4 s, 2 m 05 s (tenths of a second: heartbeats come every few hundred ms). */
export function formatAge(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 0) ms = 0;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} m ${pad(Math.floor((ms % 60_000) / 1000))} s`;
}

export function formatDuration(ms) {
  if (typeof ms !== 'number') return '';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The subject node of an event (for filtering and colouring). */
export function eventSubject(e) {
  switch (e.type) {
    case 'ShardMigrated':
      return e.to;
    case 'RebalancingTriggered':
    case 'RebalancingCompleted':
      return e.origin;
    default:
      return e.nodeId ?? e.origin;
  }
}

/** Severity class used for the row accent. */
export function eventTone(type) {
  switch (type) {
    case 'NodeFailed':
    case 'LeadershipLost':
      return 'bad';
    case 'NodeDraining':
    case 'NodeLeft':
    case 'RebalancingTriggered':
      return 'warn';
    case 'LeaderElected':
    case 'NodeJoined':
    case 'RebalancingCompleted':
      return 'good';
    default:
      return 'plain';
  }
}

/** The text after the type on an event row, e.g. `n3 term 41`. Returns [{text, node?}] parts. */
export function eventDetail(e) {
  const N = (id) => ({ node: id });
  const T = (text) => ({ text });
  switch (e.type) {
    case 'NodeJoined':
      return [N(e.nodeId), T(`incarnation ${e.incarnation}${e.weight !== 1 ? ` weight ${e.weight}` : ''}`)];
    case 'NodeDraining':
      return [N(e.nodeId)];
    case 'NodeFailed':
      return [N(e.nodeId), T(`${e.orphaned?.length ?? 0} shards orphaned`)];
    case 'NodeLeft':
      return [N(e.nodeId), T(`${e.reason}${e.orphaned?.length ? `, ${e.orphaned.length} orphaned` : ''}`)];
    case 'LeaderElected':
      return [
        N(e.nodeId),
        T(`term ${e.term}`),
        ...(e.previous ? [T('after'), N(e.previous.nodeId), T(`term ${e.previous.term}`)] : []),
      ];
    case 'LeadershipRenewed':
      return [N(e.nodeId), T(`term ${e.term}`)];
    case 'LeadershipLost':
      return [N(e.nodeId), T(`term ${e.term} · ${e.reason}`)];
    case 'RebalancingTriggered':
      return [T(`${e.reason} · ${e.plan?.length ?? 0} moves · epoch ${e.epoch}`)];
    case 'RebalancingCompleted':
      return [
        T(`moved ${e.moved}${e.skipped ? `, skipped ${e.skipped}` : ''} in ${formatDuration(e.durationMs)}`),
      ];
    case 'ShardAssigned':
      return [T(`#${e.shardId} →`), N(e.nodeId), T(e.reason + (e.previous ? ` (was ${e.previous})` : ''))];
    case 'ShardMigrated':
      return [T(`#${e.shardId}`), N(e.from), T('→'), N(e.to), T(e.reason)];
    default:
      return [T(JSON.stringify(e).slice(0, 120))];
  }
}

/** One-line plain text of an event, as in "12:00:03.120 LeaderElected n3 term 41". */
export function eventLine(e) {
  const parts = eventDetail(e).map((p) => p.text ?? p.node);
  return `${formatTime(e.at)} ${e.type} ${parts.join(' ')}`;
}

export const STATUS_ORDER = { Active: 0, Joining: 1, Draining: 2, Failed: 3, Left: 4 };

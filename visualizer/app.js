// Aether Cluster live view. Plain ES module, no build step: connects to the relay's WebSocket,
// keeps the same picture the relay keeps (live actors, latest view per node, recent events) and
// renders it on animation frames.
import { eventDetail, eventTone, formatAge, formatTime, nodeColor, STATUS_ORDER } from './format.js';
import {
  activeStateIds,
  drawChart,
  eventLabel,
  layoutDefinition,
  pickLayout,
  valueText,
} from './statechart.js';

const MAX_EVENTS = 3000;
const MAX_ROWS = 400;
const EVENT_TYPES = [
  'LeaderElected',
  'LeadershipRenewed',
  'LeadershipLost',
  'NodeJoined',
  'NodeDraining',
  'NodeFailed',
  'NodeLeft',
  'RebalancingTriggered',
  'ShardAssigned',
  'ShardMigrated',
  'RebalancingCompleted',
];
/** Runs of these collapse into one row: a bootstrap assigns 1024 shards at once. */
const GROUPED = new Set(['ShardAssigned', 'ShardMigrated', 'LeadershipRenewed']);

const $ = (id) => document.getElementById(id);
const h = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') e.setAttribute('style', v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
};

// ---- state ----------------------------------------------------------------------------------------

const state = {
  /** sessionId -> { nodeId, actor, lastTransitions, lastEventType, step } */
  actors: new Map(),
  /** nodeId -> { view, receivedAt } (receivedAt: performance.now()) */
  views: new Map(),
  /** newest first: { nodeId, event } */
  events: [],
  eventIds: new Set(),
  controls: false,
  selectedNode: null,
  /** Which node's lifecycle actor the grouped nodeLifecycle chart highlights (null: the selected node's own). */
  lifecycleFocus: null,
  paused: new Set(),
  filters: { node: '', hidden: new Set() },
};
const dirty = { cluster: true, charts: true, events: true };
let stepSeq = 0;

function resetFromHello(msg) {
  state.actors.clear();
  state.views.clear();
  state.events = [];
  state.eventIds.clear();
  state.controls = Boolean(msg.controls);
  const now = performance.now();
  for (const a of msg.actors ?? []) {
    state.actors.set(a.actor.sessionId, { ...a, step: a.lastTransitions ? ++stepSeq : 0 });
  }
  for (const v of msg.views ?? []) state.views.set(v.nodeId, { view: v, receivedAt: now });
  for (const { nodeId, event } of msg.events ?? []) addEvent(nodeId, event);
  dirty.cluster = dirty.charts = dirty.events = true;
}

function addEvent(nodeId, event) {
  if (!event || typeof event.type !== 'string') return;
  if (event.id) {
    if (state.eventIds.has(event.id)) return;
    state.eventIds.add(event.id);
  }
  state.events.unshift({ nodeId, event });
  if (state.events.length > MAX_EVENTS) {
    for (const old of state.events.splice(MAX_EVENTS)) state.eventIds.delete(old.event.id);
  }
  dirty.events = true;
}

function dropRoot(rootId) {
  for (const [id, a] of state.actors) if (a.actor.rootId === rootId) state.actors.delete(id);
}

function apply(o) {
  switch (o.kind) {
    case 'view':
      state.views.set(o.view.nodeId ?? o.nodeId, { view: o.view, receivedAt: performance.now() });
      dirty.cluster = true;
      return;
    case 'domain':
      addEvent(o.nodeId, o.event);
      return;
    case 'inspection': {
      const e = o.event;
      const kept = state.actors.get(e.sessionId);
      switch (e.type) {
        case '@xstate.actor':
          if (e.sessionId === e.rootId && kept) dropRoot(e.rootId);
          state.actors.set(e.sessionId, {
            nodeId: o.nodeId,
            actor: e,
            lastTransitions: null,
            lastEventType: null,
            step: 0,
          });
          break;
        case '@xstate.snapshot':
          if (kept) kept.actor = { ...kept.actor, snapshot: e.snapshot };
          break;
        case '@xstate.microstep':
          if (kept) {
            kept.actor = { ...kept.actor, snapshot: e.snapshot };
            kept.lastTransitions = e.transitions;
            kept.lastEventType = e.event?.type ?? null;
            kept.step = ++stepSeq;
          }
          break;
        case '@xstate.stopped':
          if (e.sessionId === e.rootId) dropRoot(e.rootId);
          else state.actors.delete(e.sessionId);
          break;
        default:
          return;
      }
      dirty.charts = true;
      return;
    }
    default:
      return;
  }
}

// ---- connection -----------------------------------------------------------------------------------

let socket = null;
let retryMs = 250;
let retryTimer = null;
let requestSeq = 0;

function setConn(kind, text) {
  const c = $('conn');
  c.dataset.state = kind;
  c.querySelector('.text').textContent = text;
}

function connect() {
  clearTimeout(retryTimer);
  setConn('connecting', 'connecting…');
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => {
    retryMs = 250;
    setConn('live', 'live');
  };
  ws.onmessage = (m) => {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    if (msg.type === 'hello') resetFromHello(msg);
    else if (msg.type === 'batch') for (const o of msg.observations ?? []) apply(o);
    else if (msg.type === 'control-result') onControlResult(msg);
    schedule();
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, 3000);
    let left = Math.ceil(wait / 1000);
    setConn('offline', wait >= 1000 ? `offline · retrying in ${left}s` : 'offline · retrying');
    const tick = setInterval(() => {
      left -= 1;
      if (left > 0 && socket === null) setConn('offline', `offline · retrying in ${left}s`);
      else clearInterval(tick);
    }, 1000);
    retryTimer = setTimeout(connect, wait);
  };
  ws.onerror = () => ws.close();
}

function sendControl(action, nodeId) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    toast(`not connected: ${action} not sent`, 'bad');
    return;
  }
  const requestId = ++requestSeq;
  socket.send(JSON.stringify({ type: 'control', action, nodeId, requestId }));
  toast(`${action}${nodeId ? ` ${nodeId}` : ''}…`, 'plain', 1200);
}

function onControlResult(msg) {
  if (msg.ok && msg.nodeId) {
    if (msg.action === 'pause') state.paused.add(msg.nodeId);
    if (msg.action === 'resume' || msg.action === 'crash') state.paused.delete(msg.nodeId);
    dirty.cluster = true;
  }
  const what = `${msg.action ?? 'control'}${msg.nodeId ? ` ${msg.nodeId}` : ''}`;
  toast(
    msg.ok ? `${what}: ${msg.message || 'done'}` : `${what} failed: ${msg.message}`,
    msg.ok ? 'good' : 'bad',
  );
}

function toast(text, tone = 'plain', ms = 3500) {
  const t = h('div', { class: `toast ${tone}`, text });
  $('toasts').append(t);
  setTimeout(() => t.classList.add('out'), ms);
  setTimeout(() => t.remove(), ms + 400);
}

// ---- rendering ------------------------------------------------------------------------------------

let frame = 0;
function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function render() {
  if (dirty.cluster) {
    dirty.cluster = false;
    renderCluster();
  }
  if (dirty.charts) {
    dirty.charts = false;
    renderCharts();
  }
  if (dirty.events) {
    dirty.events = false;
    renderEvents();
  }
}

/** The view to trust: the leader's (highest term) if any node reports being leader, else the newest map. */
function chooseView() {
  let best = null;
  for (const entry of state.views.values()) {
    const v = entry.view;
    if (!best) {
      best = entry;
      continue;
    }
    const b = best.view;
    const rank = (x) => [
      x.isLeader ? 1 : 0,
      x.isLeader ? (x.leader?.term ?? 0) : 0,
      x.shardMap?.version ?? 0,
      x.at ?? 0,
    ];
    const rv = rank(v);
    const rb = rank(b);
    for (let i = 0; i < rv.length; i++) {
      if (rv[i] === rb[i]) continue;
      if (rv[i] > rb[i]) best = entry;
      break;
    }
  }
  return best;
}

const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });
const cards = new Map();

function renderCluster() {
  const chosen = chooseView();
  const view = chosen?.view ?? null;
  $('control-add').hidden = !state.controls;

  // Header summary.
  const leaderEl = $('leader');
  if (view?.leader) {
    leaderEl.innerHTML = '';
    leaderEl.append(
      h('span', { class: 'crown', text: '♛' }),
      h('span', { class: 'swatch', style: `background:${nodeColor(view.leader.nodeId)}` }),
      h('b', { text: view.leader.nodeId }),
      h('span', { class: 'muted', text: ` · term ${view.leader.term}` }),
    );
    leaderEl.dataset.leader = view.leader.nodeId;
    leaderEl.dataset.term = String(view.leader.term);
    leaderEl.classList.remove('none');
  } else {
    leaderEl.textContent = 'no leader';
    leaderEl.classList.add('none');
    delete leaderEl.dataset.leader;
    delete leaderEl.dataset.term;
  }
  $('cluster-name').textContent = view?.cluster ?? '';
  $('map-version').textContent = view
    ? `shard map v${view.shardMap.version} · term ${view.shardMap.term}`
    : 'shard map —';
  $('view-source').textContent = view ? `as seen by ${view.nodeId}${view.isLeader ? ' (leader)' : ''}` : '';

  // Nodes: the chosen view's members, plus any node that reports but is not yet a member.
  const infos = new Map();
  for (const n of view?.nodes ?? []) infos.set(n.id, n);
  for (const [id, entry] of state.views) {
    if (!infos.has(id)) {
      infos.set(id, {
        id,
        status: entry.view.status,
        incarnation: entry.view.incarnation,
        lastSeen: entry.view.at,
        shards: 0,
        selfReported: true,
      });
    }
  }
  const ids = [...infos.keys()].sort(natural);
  const counts = { Active: 0, Joining: 0, Draining: 0, Failed: 0, Left: 0 };
  for (const n of infos.values()) counts[n.status] = (counts[n.status] ?? 0) + 1;
  $('node-summary').textContent =
    `${counts.Active} active / ${ids.length} nodes${counts.Failed ? ` · ${counts.Failed} failed` : ''}`;

  const container = $('nodes');
  if (ids.length === 0) {
    if (!container.querySelector('.empty'))
      container.replaceChildren(h('div', { class: 'empty', text: 'Waiting for nodes to report…' }));
  } else {
    container.querySelector('.empty')?.remove();
  }
  const liveShards = view ? view.shardMap.owners.length : 0;
  const activeCount = Math.max(1, counts.Active + counts.Draining);
  for (const [id, card] of cards) {
    if (!infos.has(id)) {
      card.root.remove();
      cards.delete(id);
    }
  }
  const sorted = ids.sort((a, b) => {
    const sa = STATUS_ORDER[infos.get(a).status] ?? 9;
    const sb = STATUS_ORDER[infos.get(b).status] ?? 9;
    return sa >= 3 || sb >= 3 ? sa - sb || natural(a, b) : natural(a, b);
  });
  sorted.forEach((id, i) => {
    const info = infos.get(id);
    let card = cards.get(id);
    if (!card) {
      card = makeCard(id);
      cards.set(id, card);
    }
    if (container.children[i] !== card.root) container.insertBefore(card.root, container.children[i] ?? null);
    updateCard(card, info, view, chosen, liveShards / activeCount);
  });
  updateAges();
  renderShards(view);
  renderNodeFilter(ids);
}

function makeCard(id) {
  const color = nodeColor(id);
  const c = {};
  c.root = h('article', { class: 'node-card', 'data-testid': `node-${id}`, style: `--node:${color}` });
  c.status = h('span', { class: 'status' });
  c.crown = h('span', { class: 'crown-badge', hidden: true });
  c.age = h('span', { class: 'v mono', 'data-testid': `heartbeat-${id}` });
  c.shards = h('span', { class: 'v mono' });
  c.bar = h('div', { class: 'bar' }, h('div', { class: 'fill' }));
  c.inc = h('span', { class: 'v mono' });
  c.flags = h('div', { class: 'flags' });
  c.controls = h('div', { class: 'controls' });
  c.pauseBtn = h(
    'button',
    {
      class: 'btn small',
      'data-testid': `control-pause-${id}`,
      onclick: () => sendControl(state.paused.has(id) ? 'resume' : 'pause', id),
    },
    'Pause',
  );
  c.controls.append(
    h(
      'button',
      {
        class: 'btn small danger',
        'data-testid': `control-crash-${id}`,
        onclick: () => sendControl('crash', id),
        title: 'Kill the node without a goodbye',
      },
      'Crash',
    ),
    c.pauseBtn,
    h(
      'button',
      {
        class: 'btn small',
        'data-testid': `control-drain-${id}`,
        onclick: () => sendControl('drain', id),
        title: 'Hand off its shards, then leave',
      },
      'Drain',
    ),
  );
  c.root.append(
    h(
      'div',
      { class: 'card-head' },
      h('span', { class: 'swatch big' }),
      h('span', { class: 'node-id', text: id }),
      c.crown,
      c.status,
    ),
    h(
      'dl',
      { class: 'facts' },
      h('div', {}, h('dt', { text: 'heartbeat' }), h('dd', {}, c.age)),
      h('div', {}, h('dt', { text: 'shards' }), h('dd', {}, c.shards)),
      h('div', {}, h('dt', { text: 'started' }), h('dd', {}, c.inc)),
    ),
    c.bar,
    c.flags,
    c.controls,
  );
  return c;
}

function updateCard(card, info, view, chosen, fair) {
  card.root.dataset.status = info.status;
  card.status.textContent = info.status;
  card.status.className = `status s-${info.status}`;
  const isLeader = view?.leader?.nodeId === info.id;
  card.root.classList.toggle('leader', isLeader);
  card.crown.hidden = !isLeader;
  card.crown.textContent = isLeader ? `♛ term ${view.leader.term}` : '';
  const shards = info.shards ?? 0;
  card.shards.textContent = String(shards);
  card.bar.firstChild.style.width = `${Math.min(100, (shards / Math.max(1, fair)) * 50)}%`;
  card.bar.title = `${shards} shards; fair share ≈ ${Math.round(fair)}`;
  // Incarnations are the node's start time on its clock: show it as one.
  card.inc.textContent = typeof info.incarnation === 'number' ? formatTime(info.incarnation) : '—';
  card.inc.title = `incarnation ${info.incarnation ?? '—'}`;
  card.info = info;
  card.viewEntry = chosen;
  const flags = [];
  if (state.paused.has(info.id)) flags.push(h('span', { class: 'flag warn', text: 'paused' }));
  if (info.selfReported) flags.push(h('span', { class: 'flag', text: 'not yet a member' }));
  const own = state.views.get(info.id);
  if (own?.view.leader && view?.leader && own.view.leader.term < view.leader.term) {
    flags.push(h('span', { class: 'flag', text: `sees term ${own.view.leader.term}` }));
  }
  card.flags.replaceChildren(...flags);
  card.controls.hidden = !state.controls || info.status === 'Left' || info.status === 'Failed';
  card.pauseBtn.textContent = state.paused.has(info.id) ? 'Resume' : 'Pause';
  card.pauseBtn.dataset.testid = state.paused.has(info.id)
    ? `control-resume-${info.id}`
    : `control-pause-${info.id}`;
}

/**
 * Last heartbeat each node was heard at, on the clock of `observer`: its nodeLifecycle actors
 * track heartbeats as they arrive, while the committed topology's lastSeen only moves on commits.
 */
function heardAt(observer) {
  const out = new Map();
  for (const a of state.actors.values()) {
    if (a.nodeId !== observer || a.actor.name !== 'nodeLifecycle') continue;
    const ctx = a.actor.snapshot?.context;
    if (ctx && typeof ctx.nodeId === 'string' && typeof ctx.lastSeen === 'number') {
      out.set(ctx.nodeId, Math.max(out.get(ctx.nodeId) ?? 0, ctx.lastSeen));
    }
  }
  return out;
}

/** Heartbeat ages tick between views. */
function updateAges() {
  const now = performance.now();
  const heard = new Map();
  for (const card of cards.values()) {
    const info = card.info;
    const entry = card.viewEntry;
    if (!info || !entry) {
      card.age.textContent = '—';
      continue;
    }
    const observer = entry.view.nodeId;
    if (!heard.has(observer)) heard.set(observer, heardAt(observer));
    const last = Math.max(
      typeof info.lastSeen === 'number' ? info.lastSeen : 0,
      heard.get(observer).get(info.id) ?? 0,
    );
    if (last <= 0) {
      card.age.textContent = '—';
      continue;
    }
    const age = Math.max(0, entry.view.at - last + (now - entry.receivedAt));
    const gone = info.status === 'Failed' || info.status === 'Left';
    card.age.textContent = `${formatAge(age)} ago`;
    card.age.title = `last heartbeat heard by ${observer}`;
    card.age.classList.toggle('stale', !gone && age > 3000);
  }
}
setInterval(() => {
  if (cards.size > 0) updateAges();
}, 250);

// ---- shards ---------------------------------------------------------------------------------------

let cells = [];
let shownOwners = [];
function renderShards(view) {
  const grid = $('shard-grid');
  const owners = view?.shardMap?.owners ?? [];
  const n = owners.length || 1024;
  if (cells.length !== n) {
    const cols = Math.ceil(Math.sqrt(n));
    grid.style.setProperty('--cols', String(cols));
    grid.replaceChildren();
    cells = [];
    shownOwners = [];
    const frag = document.createDocumentFragment();
    for (let i = 0; i < n; i++) {
      const c = document.createElement('div');
      c.className = 'cell';
      c.dataset.shard = String(i);
      frag.append(c);
      cells.push(c);
    }
    grid.append(frag);
  }
  const handoff = new Map((view?.handoffs ?? []).map((x) => [x.shardId, x]));
  const counts = new Map();
  let unowned = 0;
  for (let i = 0; i < n; i++) {
    const o = owners[i] ?? null;
    if (o === null) unowned++;
    else counts.set(o, (counts.get(o) ?? 0) + 1);
    const c = cells[i];
    if (shownOwners[i] !== o) {
      if (shownOwners[i] !== undefined) {
        c.classList.remove('moved');
        void c.offsetWidth;
        c.classList.add('moved');
      }
      shownOwners[i] = o;
      c.style.background = o === null ? '' : nodeColor(o);
      c.classList.toggle('unowned', o === null);
      c.dataset.owner = o ?? '';
    }
    const ho = handoff.get(i);
    c.classList.toggle('handoff', Boolean(ho));
    if (ho) c.style.setProperty('--to', nodeColor(ho.to));
  }
  grid.dataset.version = String(view?.shardMap?.version ?? 0);
  $('shard-stats').textContent = view
    ? `v${view.shardMap.version} · term ${view.shardMap.term}${handoff.size ? ` · ${handoff.size} moving` : ''}`
    : '';
  const legend = $('legend');
  legend.replaceChildren(
    ...[...counts.entries()]
      .sort((a, b) => natural(a[0], b[0]))
      .map(([id, k]) =>
        h(
          'span',
          { class: 'legend-item' },
          h('span', { class: 'swatch', style: `background:${nodeColor(id)}` }),
          h('span', { text: id }),
          h('span', { class: 'muted mono', text: String(k) }),
        ),
      ),
    ...(unowned
      ? [
          h(
            'span',
            { class: 'legend-item' },
            h('span', { class: 'swatch unowned' }),
            h('span', { text: 'unowned' }),
            h('span', { class: 'muted mono', text: String(unowned) }),
          ),
        ]
      : []),
    ...(handoff.size
      ? [
          h(
            'span',
            { class: 'legend-item' },
            h('span', { class: 'swatch handoff-swatch' }),
            h('span', { text: 'hand-off' }),
            h('span', { class: 'muted mono', text: String(handoff.size) }),
          ),
        ]
      : []),
  );
  lastHandoffs = handoff;
}
let lastHandoffs = new Map();

function setupShardTip() {
  const grid = $('shard-grid');
  const tip = $('shard-tip');
  grid.addEventListener('mousemove', (ev) => {
    const c = ev.target.closest?.('.cell');
    if (!c) {
      tip.hidden = true;
      return;
    }
    const i = Number(c.dataset.shard);
    const owner = c.dataset.owner || 'unowned';
    const ho = lastHandoffs.get(i);
    tip.replaceChildren(
      h('b', { text: `shard ${i}` }),
      h(
        'span',
        {},
        h('span', {
          class: 'swatch',
          style: `background:${c.dataset.owner ? nodeColor(owner) : 'var(--unowned)'}`,
        }),
        ` ${owner}`,
      ),
      ...(ho ? [h('span', { class: 'muted', text: `hand-off ${ho.from} → ${ho.to}` })] : []),
    );
    tip.hidden = false;
    const r = grid.getBoundingClientRect();
    const cr = c.getBoundingClientRect();
    tip.style.left = `${cr.left - r.left + cr.width / 2}px`;
    tip.style.top = `${cr.top - r.top}px`;
  });
  grid.addEventListener('mouseleave', () => {
    tip.hidden = true;
  });
}

// ---- statecharts ----------------------------------------------------------------------------------

const chartCards = new Map(); // sessionId -> { root, defKey, handle, step, ... }

function renderCharts() {
  const byNode = new Map();
  for (const a of state.actors.values()) {
    if (!byNode.has(a.nodeId)) byNode.set(a.nodeId, []);
    byNode.get(a.nodeId).push(a);
  }
  const nodes = [...byNode.keys()].sort(natural);
  if (!state.selectedNode || !byNode.has(state.selectedNode)) {
    const leader = chooseView()?.view?.leader?.nodeId;
    state.selectedNode = leader && byNode.has(leader) ? leader : (nodes[0] ?? null);
  }
  const tabs = $('node-tabs');
  const tabKey = nodes.join(',') + '|' + state.selectedNode;
  if (tabs.dataset.key !== tabKey) {
    tabs.dataset.key = tabKey;
    tabs.replaceChildren(
      ...nodes.map((id) =>
        h(
          'button',
          {
            class: `tab${id === state.selectedNode ? ' selected' : ''}`,
            role: 'tab',
            'aria-selected': id === state.selectedNode ? 'true' : 'false',
            'data-testid': `chart-tab-${id}`,
            onclick: () => {
              state.selectedNode = id;
              dirty.charts = true;
              schedule();
            },
          },
          h('span', { class: 'swatch', style: `background:${nodeColor(id)}` }),
          id,
        ),
      ),
    );
  }

  const container = $('charts');
  const actors = (byNode.get(state.selectedNode) ?? []).slice();
  const depth = (a) => {
    let d = 0;
    let p = a.actor.parentId;
    while (p && d < 20) {
      d++;
      p = state.actors.get(p)?.actor.parentId;
    }
    return d;
  };
  // The small, telling charts first; the root (the largest) last.
  const rank = (a) => CHART_ORDER[a.actor.name] ?? (depth(a) === 0 ? 9 : 5);
  actors.sort(
    (a, b) => rank(a) - rank(b) || depth(a) - depth(b) || natural(chartNodeOf(a) ?? '', chartNodeOf(b) ?? ''),
  );
  let machines = actors.filter((a) => a.actor.definition);
  const others = actors.filter((a) => !a.actor.definition);
  machines = groupLifecycles(machines);

  const wanted = new Set(machines.map(chartKey));
  for (const [sid, cc] of chartCards) {
    if (!wanted.has(sid)) {
      cc.root.remove();
      chartCards.delete(sid);
    }
  }
  if (machines.length === 0 && others.length === 0) {
    container.replaceChildren(
      h('div', { class: 'empty', text: state.actors.size ? 'Pick a node.' : 'No machines inspected yet.' }),
    );
    return;
  }
  container.querySelector('.empty')?.remove();
  machines.forEach((a, i) => {
    let cc = chartCards.get(chartKey(a));
    if (!cc) {
      cc = makeChartCard(a);
      chartCards.set(chartKey(a), cc);
    }
    if (container.children[i] !== cc.root) container.insertBefore(cc.root, container.children[i] ?? null);
    updateChartCard(cc, a);
  });
  let chips = container.querySelector('.other-actors');
  if (others.length > 0) {
    if (!chips) chips = h('div', { class: 'other-actors' });
    chips.replaceChildren(
      h('span', { class: 'muted', text: 'other actors' }),
      ...others.map((a) =>
        h(
          'span',
          { class: 'chip', title: a.actor.sessionId },
          a.actor.name,
          h('span', { class: 'muted', text: ` ${a.actor.snapshot?.status ?? ''}` }),
        ),
      ),
    );
    container.append(chips);
  } else chips?.remove();
}

const CHART_ORDER = { leadership: 0, nodeLifecycle: 1, rebalancing: 2, shardHost: 3, clusterNode: 8 };

/** The node a nodeLifecycle actor tracks. */
const chartNodeOf = (a) => a.actor.snapshot?.context?.nodeId ?? null;
const chartKey = (a) => (a.group ? `group:${a.actor.name}:${a.observer}` : a.actor.sessionId);

/**
 * One nodeLifecycle chart per known node makes a long panel: they share one definition, so they
 * become a single chart highlighting one member, with every member's state listed above it.
 */
function groupLifecycles(machines) {
  const members = machines.filter((a) => a.actor.name === 'nodeLifecycle');
  if (members.length < 2) return machines;
  const observer = members[0].nodeId;
  const focusId = state.lifecycleFocus ?? observer;
  const focus = members.find((m) => chartNodeOf(m) === focusId) ?? members[0];
  const group = { ...focus, group: true, observer, members, focus: chartNodeOf(focus) };
  const at = machines.indexOf(members[0]);
  const rest = machines.filter((a) => a.actor.name !== 'nodeLifecycle');
  rest.splice(at, 0, group);
  return rest;
}

function updateMembers(cc, a) {
  if (!cc.members) return;
  if (!a.group) {
    cc.members.hidden = true;
    return;
  }
  cc.members.hidden = false;
  cc.members.replaceChildren(
    h('span', { class: 'muted small', text: `${a.members.length} nodes as ${a.observer} sees them` }),
    ...a.members.map((m) => {
      const id = chartNodeOf(m) ?? '?';
      const value = valueText(m.actor.snapshot?.value);
      const top =
        typeof m.actor.snapshot?.value === 'string'
          ? m.actor.snapshot.value
          : Object.keys(m.actor.snapshot?.value ?? {})[0];
      return h(
        'button',
        {
          type: 'button',
          class: `member${id === a.focus ? ' selected' : ''} m-${top ?? 'unknown'}`,
          style: `--node:${nodeColor(id)}`,
          'data-testid': `lifecycle-${id}`,
          'data-state': value,
          title: `highlight ${id}'s lifecycle`,
          onclick: () => {
            state.lifecycleFocus = id;
            dirty.charts = true;
            schedule();
          },
        },
        h('span', { class: 'swatch', style: `background:${nodeColor(id)}` }),
        h('b', { text: id }),
        h('span', { class: 'mono', text: value }),
      );
    }),
  );
}

function makeChartCard(a) {
  const name = a.actor.name;
  const cc = { defKey: null, handle: null, step: -1, pending: null };
  cc.title = h('span', { class: 'chart-title', text: name });
  cc.meta = h('span', { class: 'muted mono small', text: a.actor.sessionId });
  cc.statusEl = h('span', { class: 'status small' });
  cc.value = h('span', { class: 'mono value' });
  cc.lastEvent = h('span', { class: 'mono last-event' });
  cc.body = h('div', { class: 'chart-body' }, h('div', { class: 'muted small', text: 'laying out…' }));
  cc.members = h('div', { class: 'members', hidden: true });
  const zoom = h(
    'button',
    { type: 'button', class: 'btn small ghost', title: 'fit to width / actual size' },
    '1:1',
  );
  zoom.addEventListener('click', () => {
    const actual = cc.root.classList.toggle('actual-size');
    zoom.textContent = actual ? 'fit' : '1:1';
  });
  cc.root = h(
    'article',
    { class: 'chart-card', 'data-testid': `statechart-${name}`, 'data-session-id': a.actor.sessionId },
    h(
      'header',
      {},
      cc.title,
      cc.statusEl,
      cc.meta,
      h('span', { class: 'spacer' }),
      cc.lastEvent,
      cc.value,
      zoom,
    ),
    cc.members,
    cc.body,
  );
  return cc;
}

function updateChartCard(cc, a) {
  const def = a.actor.definition;
  cc.root.dataset.sessionId = a.actor.sessionId;
  cc.meta.textContent = a.group ? `${a.actor.sessionId} · ${a.focus}` : a.actor.sessionId;
  updateMembers(cc, a);
  const snap = a.actor.snapshot ?? {};
  cc.value.textContent = valueText(snap.value);
  cc.value.title = 'current state';
  const status = snap.status ?? 'active';
  cc.statusEl.textContent = status;
  cc.statusEl.className = `status small st-${status}`;
  if (a.lastTransitions?.length) {
    const t = a.lastTransitions[0];
    cc.lastEvent.textContent = `${eventLabel(a.lastEventType ?? t.eventType)} →`;
  } else cc.lastEvent.textContent = '';
  const key = JSON.stringify(def);
  if (cc.defKey !== key) {
    cc.defKey = key;
    cc.handle = null;
    cc.step = -1;
    const mine = key;
    layoutDefinition(def)
      .then((layouts) => {
        if (cc.defKey !== mine) return;
        const layout = pickLayout(layouts, Math.max(300, cc.body.clientWidth - 24), 600);
        cc.handle = drawChart(layout, cssId(a.actor.sessionId));
        cc.root.dataset.direction = layout.direction;
        // Fit the width, but never below 70%: past that, scroll instead of squinting.
        cc.handle.svg.style.minWidth = `${Math.round(layout.laid.width * 0.7)}px`;
        cc.body.replaceChildren(cc.handle.svg);
        cc.root.dataset.laidOut = 'true';
        const latest = state.actors.get(a.actor.sessionId) ?? a;
        applyLive(cc, latest);
      })
      .catch((err) => {
        cc.body.replaceChildren(h('div', { class: 'error', text: `layout failed: ${err?.message ?? err}` }));
      });
    return;
  }
  if (cc.handle) applyLive(cc, a);
}

function applyLive(cc, a) {
  const def = a.actor.definition;
  const active = cc.handle.setActive(a.actor.snapshot?.value, def);
  cc.root.dataset.active = [...active].join(' ');
  if (cc.step !== a.step) {
    cc.step = a.step;
    cc.handle.setLastTransitions(a.lastTransitions);
  }
}

const cssId = (s) => s.replace(/[^A-Za-z0-9_-]/g, '_');

// ---- events ---------------------------------------------------------------------------------------

function renderNodeFilter(ids) {
  const sel = $('event-node');
  const key = ids.join(',');
  if (sel.dataset.key === key) return;
  sel.dataset.key = key;
  const current = sel.value;
  sel.replaceChildren(
    h('option', { value: '', text: 'all nodes' }),
    ...ids.map((id) => h('option', { value: id, text: id })),
  );
  sel.value = ids.includes(current) ? current : '';
}

function setupFilters() {
  const chips = $('type-chips');
  for (const t of EVENT_TYPES) {
    const b = h(
      'button',
      { class: 'type-chip on', 'data-type': t, title: `show/hide ${t}` },
      t.replace(/([a-z])([A-Z])/g, '$1 $2'),
    );
    b.addEventListener('click', () => {
      if (state.filters.hidden.has(t)) state.filters.hidden.delete(t);
      else state.filters.hidden.add(t);
      b.classList.toggle('on', !state.filters.hidden.has(t));
      dirty.events = true;
      schedule();
    });
    chips.append(b);
  }
  $('event-node').addEventListener('change', (ev) => {
    state.filters.node = ev.target.value;
    dirty.events = true;
    schedule();
  });
}

function matches(item) {
  const e = item.event;
  if (state.filters.hidden.has(e.type)) return false;
  const n = state.filters.node;
  if (!n) return true;
  return item.nodeId === n || e.origin === n || e.nodeId === n || e.from === n || e.to === n;
}

function renderEvents() {
  const list = $('events');
  const rows = [];
  let shown = 0;
  let i = 0;
  const evs = state.events;
  while (i < evs.length && rows.length < MAX_ROWS) {
    const item = evs[i];
    if (!matches(item)) {
      i++;
      continue;
    }
    const e = item.event;
    if (GROUPED.has(e.type)) {
      // Collapse a run of the same type (ignoring filtered-out rows in between).
      const group = [item];
      let j = i + 1;
      while (j < evs.length) {
        const next = evs[j];
        if (!matches(next)) {
          j++;
          continue;
        }
        if (next.event.type !== e.type) break;
        if (e.type === 'LeadershipRenewed' && next.event.nodeId !== e.nodeId) break;
        group.push(next);
        j++;
      }
      if (group.length > 1) {
        rows.push(groupRow(group));
        shown += group.length;
        i = j;
        continue;
      }
    }
    rows.push(eventRow(item));
    shown++;
    i++;
  }
  list.replaceChildren(...rows);
  $('event-count').textContent =
    `${state.events.length} kept${shown < state.events.length ? ` · ${shown} shown` : ''}`;
}

function nodeTag(id) {
  return h('span', { class: 'node-tag', style: `--node:${nodeColor(id)}`, text: id });
}

function eventRow(item) {
  const e = item.event;
  const parts = eventDetail(e).map((p) =>
    p.node !== undefined ? nodeTag(p.node) : h('span', { class: 'detail', text: p.text }),
  );
  return h(
    'li',
    {
      class: `event tone-${eventTone(e.type)}`,
      'data-type': e.type,
      title: JSON.stringify(e, null, 1).slice(0, 2000),
    },
    h('time', { class: 'mono', text: formatTime(e.at) }),
    h('span', { class: 'etype', text: e.type }),
    ...parts,
  );
}

function groupRow(group) {
  const first = group[group.length - 1].event; // oldest
  const last = group[0].event;
  const type = last.type;
  const parts = [];
  if (type === 'LeadershipRenewed') {
    parts.push(nodeTag(last.nodeId), h('span', { class: 'detail', text: `term ${last.term}` }));
  } else {
    const by = new Map();
    for (const { event } of group) {
      const to = event.type === 'ShardMigrated' ? event.to : event.nodeId;
      by.set(to, (by.get(to) ?? 0) + 1);
    }
    parts.push(h('span', { class: 'detail', text: '→' }));
    for (const [id, k] of [...by.entries()].sort((a, b) => natural(a[0], b[0]))) {
      parts.push(nodeTag(id), h('span', { class: 'detail count', text: `${k}` }));
    }
  }
  return h(
    'li',
    {
      class: `event grouped tone-${eventTone(type)}`,
      'data-type': type,
      title: `${group.length} × ${type} from ${formatTime(first.at)} to ${formatTime(last.at)}`,
    },
    h('time', { class: 'mono', text: formatTime(last.at) }),
    h('span', { class: 'etype', text: type }),
    h('span', { class: 'times', text: `×${group.length}` }),
    ...parts,
  );
}

// ---- start ----------------------------------------------------------------------------------------

$('control-add').addEventListener('click', () => sendControl('add'));
setupFilters();
setupShardTip();
renderShards(null);
connect();
schedule();

// Exposed for debugging from the console.
globalThis.aether = { state, chooseView, activeStateIds };

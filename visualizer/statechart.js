// Statechart drawing: a machine definition (XState's machine.toJSON()) laid out by elkjs and drawn as
// SVG. Layout happens once per definition; live state only toggles classes on the drawn elements.

const SVG_NS = 'http://www.w3.org/2000/svg';
const FONT = '12px "Inter", "Segoe UI", system-ui, sans-serif';
const LABEL_FONT = '11px "JetBrains Mono", "SFMono-Regular", ui-monospace, monospace';

let elk = null;
function getElk() {
  if (!elk) {
    if (typeof globalThis.ELK !== 'function') throw new Error('elkjs is not loaded');
    elk = new globalThis.ELK();
  }
  return elk;
}

const measureCtx = document.createElement('canvas').getContext('2d');
function textWidth(text, font) {
  measureCtx.font = font;
  return Math.ceil(measureCtx.measureText(text).width);
}

/** Strips the leading '#' of a target reference. */
const ref = (t) => (typeof t === 'string' && t.startsWith('#') ? t.slice(1) : t);

/** A readable name for an event type: delayed, done and error events get short forms. */
export function eventLabel(eventType, invokeSrc = null) {
  if (typeof eventType !== 'string' || eventType === '') return '';
  const actorName = (id) => invokeSrc?.get(id) ?? id.split('.').pop();
  let m = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (m) return `after ${/^\d+$/.test(m[1]) ? `${m[1]} ms` : m[1]}`;
  m = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (m) return `done: ${actorName(m[1])}`;
  m = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (m) return `error: ${actorName(m[1])}`;
  m = /^xstate\.done\.state\.(.+)$/.exec(eventType);
  if (m) return `done: ${m[1].split('.').pop()}`;
  return eventType;
}

function guardName(guard) {
  if (!guard) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof guard.type === 'string') return guard.type;
  return 'guard';
}

/** Walks a definition: every state node with its parent. */
function* walk(def, parent = null) {
  yield { def, parent };
  for (const child of Object.values(def.states ?? {})) yield* walk(child, def);
}

/** Builds the ELK graph for a definition, plus the metadata needed to draw it. */
function toElkGraph(def, direction) {
  const transitions = [];
  const states = new Map();
  const internals = new Map();
  const invokeSrc = new Map();
  for (const { def: d } of walk(def)) {
    for (const inv of d.invoke ?? []) {
      if (inv && typeof inv.id === 'string' && typeof inv.src === 'string') invokeSrc.set(inv.id, inv.src);
    }
  }
  const across = direction === 'RIGHT' ? 'DOWN' : 'RIGHT';
  const build = (s, depth) => {
    states.set(s.id, s);
    const kids = Object.values(s.states ?? {});
    const label = depth === 0 ? s.id : s.key;
    const lw = textWidth(label, FONT);
    // Transitions without a target stay in the state: listed inside it rather than drawn as loops.
    const inner = [];
    for (const t of s.transitions ?? []) {
      if ((t.target ?? []).length > 0) continue;
      const g = guardName(t.guard);
      const text = eventLabel(t.eventType, invokeSrc) + (g ? ` [${g}]` : '');
      if (!inner.includes(text)) inner.push(text);
    }
    const innerLines = wrapChips(inner, Math.max(150, lw + 40));
    internals.set(s.id, innerLines);
    const innerW = Math.max(0, ...innerLines.map((l) => textWidth(l, LABEL_FONT)));
    const innerH = innerLines.length * 14;
    const node = { id: s.id, labels: [{ text: label, width: lw, height: 14 }] };
    if (kids.length > 0) {
      node.layoutOptions = {
        'elk.padding': `[top=${(depth === 0 ? 34 : 30) + innerH},left=14,bottom=14,right=14]`,
        'elk.direction': s.type === 'parallel' ? across : direction,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.max(lw, innerW) + 40}, 60)`,
      };
      node.children = kids.map((k) => build(k, depth + 1));
      const initTargets = s.type === 'parallel' ? [] : (s.initial?.target ?? []).map(ref);
      if (initTargets.length > 0) {
        node.children.unshift({ id: `${s.id}::initial`, width: 10, height: 10 });
        for (const t of initTargets) {
          transitions.push({
            id: `${s.id}::initial->${t}`,
            source: `${s.id}::initial`,
            targets: [t],
            initial: true,
          });
        }
      }
    } else {
      const extra = s.type === 'final' ? 10 : 0;
      node.width = Math.max(72, lw + 28 + extra, innerW + 20);
      node.height = 34 + (innerH > 0 ? innerH + 4 : 0);
    }
    let i = 0;
    for (const t of s.transitions ?? []) {
      const targets = (t.target ?? []).map(ref).filter((x) => typeof x === 'string');
      const label = eventLabel(t.eventType, invokeSrc);
      const guard = guardName(t.guard);
      const text = guard ? `${label} [${guard}]` : label;
      transitions.push({
        id: `${s.id}::t${i++}`,
        source: s.id,
        targets,
        eventType: t.eventType,
        text,
        internal: targets.length === 0,
      });
    }
    return node;
  };
  const root = build(def, 0);
  const edges = [];
  for (const t of transitions) {
    for (const target of t.targets) {
      if (!states.has(target) && !target.endsWith('::initial')) continue;
      const e = { id: `${t.id}:${target}`, sources: [t.source], targets: [target] };
      if (t.text) e.labels = [{ text: t.text, width: textWidth(t.text, LABEL_FONT) + 8, height: 16 }];
      edges.push(e);
      t.edgeIds = [...(t.edgeIds ?? []), e.id];
    }
  }
  const graph = {
    id: '__graph',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.direction': direction,
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.spacing.nodeNode': '22',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeNode': '14',
      'elk.layered.spacing.edgeNodeBetweenLayers': '16',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.nodeLabels.placement': 'INSIDE V_TOP H_LEFT',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: [root],
    edges,
  };
  return { graph, transitions, states, internals };
}

/** Joins chips into lines of at most `max` px. */
function wrapChips(items, max) {
  const lines = [];
  let line = '';
  for (const it of items) {
    const next = line ? `${line} · ${it}` : it;
    if (line && textWidth(next, LABEL_FONT) > max) {
      lines.push(line);
      line = it;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function pathFor(section, dx, dy) {
  const pts = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map((p) => ({
    x: p.x + dx,
    y: p.y + dy,
  }));
  // Rounded corners on orthogonal bends.
  let d = `M${pts[0].x},${pts[0].y}`;
  for (let i = 1; i < pts.length - 1; i++) {
    const p = pts[i - 1];
    const c = pts[i];
    const n = pts[i + 1];
    const r = Math.min(6, Math.hypot(c.x - p.x, c.y - p.y) / 2, Math.hypot(n.x - c.x, n.y - c.y) / 2);
    const a = { x: c.x - Math.sign(c.x - p.x) * r, y: c.y - Math.sign(c.y - p.y) * r };
    const b = { x: c.x + Math.sign(n.x - c.x) * r, y: c.y + Math.sign(n.y - c.y) * r };
    d += ` L${a.x},${a.y} Q${c.x},${c.y} ${b.x},${b.y}`;
  }
  const last = pts[pts.length - 1];
  d += ` L${last.x},${last.y}`;
  return d;
}

const layoutCache = new Map();

/**
 * Lays out a definition once (keyed by its JSON text, so a changed definition is laid out again),
 * in both directions; {@link pickLayout} chooses the one that fits the space best.
 */
export function layoutDefinition(def) {
  const key = JSON.stringify(def);
  let entry = layoutCache.get(key);
  if (!entry) {
    const one = (direction) => {
      const built = toElkGraph(def, direction);
      return getElk()
        .layout(built.graph)
        .then((laid) => ({ ...built, laid, direction }));
    };
    entry = Promise.all([one('RIGHT'), one('DOWN')]);
    layoutCache.set(key, entry);
    if (layoutCache.size > 64) layoutCache.delete(layoutCache.keys().next().value);
  }
  return entry;
}

/** The layout drawn largest within `width` × `height` (RIGHT wins ties: it reads like a timeline). */
export function pickLayout(layouts, width, height) {
  const scale = (l) => Math.min(1, width / l.laid.width, height / l.laid.height);
  return layouts.reduce((best, l) => (scale(l) > scale(best) * 1.05 ? l : best));
}

/**
 * Draws a laid-out chart into a fresh SVG. Returns handles to update it: `setActive(value)` and
 * `setLastTransitions(transitions)`.
 */
export function drawChart(layout, machineId) {
  const { laid, transitions, states } = layout;
  const svg = el('svg', {
    class: 'chart',
    width: Math.ceil(laid.width),
    height: Math.ceil(laid.height),
    viewBox: `0 0 ${Math.ceil(laid.width)} ${Math.ceil(laid.height)}`,
    role: 'img',
    'aria-label': `statechart ${machineId}`,
  });
  const defs = el('defs', {}, svg);
  for (const [id, cls] of [
    ['arrow', 'arrowhead'],
    ['arrow-last', 'arrowhead last'],
  ]) {
    const m = el(
      'marker',
      {
        id: `${id}-${machineId}`,
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: 'auto-start-reverse',
      },
      defs,
    );
    el('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }, m);
  }

  const abs = new Map(); // node id -> absolute {x, y}
  const stateLayer = el('g', { class: 'states' }, svg);
  const edgeLayer = el('g', { class: 'edges' }, svg);
  const stateEls = new Map();

  const drawNode = (n, ox, oy, depth, parentG) => {
    const x = ox + (n.x ?? 0);
    const y = oy + (n.y ?? 0);
    abs.set(n.id, { x, y });
    if (n.id === '__graph') {
      for (const c of n.children ?? []) drawNode(c, x, y, 0, parentG);
      return;
    }
    if (n.id.endsWith('::initial')) {
      el('circle', { cx: x + 5, cy: y + 5, r: 4.5, class: 'initial-dot' }, parentG);
      return;
    }
    const s = states.get(n.id);
    const compound = (n.children ?? []).length > 0;
    const parentDef = [...states.values()].find((p) => p.states && Object.values(p.states).includes(s));
    const region = parentDef?.type === 'parallel';
    const g = el(
      'g',
      {
        class: `state ${compound ? 'compound' : 'atomic'} ${s?.type ?? ''} depth-${Math.min(depth, 4)}${region ? ' region' : ''}`,
        'data-state-id': n.id,
      },
      parentG,
    );
    const title = el('title', {}, g);
    title.textContent = n.id;
    el('rect', { x, y, width: n.width, height: n.height, rx: compound ? 10 : 8, class: 'box' }, g);
    if (s?.type === 'final') {
      el(
        'rect',
        { x: x + 3, y: y + 3, width: n.width - 6, height: n.height - 6, rx: 6, class: 'final-ring' },
        g,
      );
    }
    const label = n.labels?.[0];
    if (label) {
      const t = el(
        'text',
        compound
          ? { x: x + 12, y: y + 19, class: 'label' }
          : { x: x + n.width / 2, y: y + 21, class: 'label', 'text-anchor': 'middle' },
        g,
      );
      t.textContent = label.text;
      if (s?.type === 'parallel') {
        const tag = el('text', { x: x + n.width - 10, y: y + 19, class: 'tag', 'text-anchor': 'end' }, g);
        tag.textContent = 'parallel';
      }
    }
    const inner = layout.internals?.get(n.id) ?? [];
    inner.forEach((line, k) => {
      const t = el(
        'text',
        compound
          ? { x: x + 12, y: y + 34 + k * 14, class: 'internal' }
          : { x: x + n.width / 2, y: y + 36 + k * 14, class: 'internal', 'text-anchor': 'middle' },
        g,
      );
      t.textContent = line;
    });
    stateEls.set(n.id, g);
    for (const c of n.children ?? []) drawNode(c, x, y, depth + 1, g);
  };
  drawNode(laid, 0, 0, 0, stateLayer);

  const edgeEls = new Map();
  const drawEdges = (n) => {
    for (const e of n.edges ?? []) {
      const c = abs.get(e.container ?? n.id) ?? { x: 0, y: 0 };
      const g = el('g', { class: 'edge', 'data-edge-id': e.id }, edgeLayer);
      for (const s of e.sections ?? []) {
        el('path', { d: pathFor(s, c.x, c.y), class: 'wire', 'marker-end': `url(#arrow-${machineId})` }, g);
      }
      for (const l of e.labels ?? []) {
        const lx = c.x + (l.x ?? 0);
        const ly = c.y + (l.y ?? 0);
        el('rect', { x: lx, y: ly, width: l.width, height: l.height, rx: 4, class: 'edge-label-bg' }, g);
        const t = el(
          'text',
          { x: lx + l.width / 2, y: ly + l.height - 4, 'text-anchor': 'middle', class: 'edge-label' },
          g,
        );
        t.textContent = l.text;
      }
      edgeEls.set(e.id, g);
    }
    for (const c of n.children ?? []) drawEdges(c);
  };
  drawEdges(laid);
  for (const t of transitions)
    if (t.initial) for (const id of t.edgeIds ?? []) edgeEls.get(id)?.classList.add('initial');

  const flash = (g) => {
    if (!g) return;
    g.classList.remove('flash');
    // Restart the animation.
    void g.getBoundingClientRect();
    g.classList.add('flash');
  };
  let lastActive = new Set();
  let lastEdges = [];
  return {
    svg,
    /** Highlights the states of a snapshot `value`. */
    setActive(value, rootDef) {
      const active = activeStateIds(rootDef, value);
      for (const id of lastActive) if (!active.has(id)) stateEls.get(id)?.classList.remove('active');
      for (const id of active) stateEls.get(id)?.classList.add('active');
      lastActive = active;
      return active;
    },
    /** Marks the edges of the last microstep and flashes their targets. */
    setLastTransitions(taken) {
      for (const g of lastEdges) {
        g.classList.remove('last');
        for (const p of g.querySelectorAll('path.wire'))
          p.setAttribute('marker-end', `url(#arrow-${machineId})`);
      }
      lastEdges = [];
      for (const tk of taken ?? []) {
        if (tk.targets.length === 0) {
          // A targetless transition: the state stays; flash it where its event is listed.
          flash(stateEls.get(tk.source));
          continue;
        }
        const tr = transitions.find(
          (t) =>
            !t.initial &&
            t.source === tk.source &&
            t.eventType === tk.eventType &&
            !t.internal &&
            tk.targets.every((x) => t.targets.includes(x)),
        );
        for (const id of tr?.edgeIds ?? []) {
          const g = edgeEls.get(id);
          if (!g) continue;
          g.classList.add('last');
          edgeLayer.appendChild(g); // draw on top
          for (const p of g.querySelectorAll('path.wire'))
            p.setAttribute('marker-end', `url(#arrow-last-${machineId})`);
          lastEdges.push(g);
        }
        for (const target of tk.targets) flash(stateEls.get(target));
      }
    },
  };
}

/** State ids that a snapshot value makes active (ancestors included). */
export function activeStateIds(def, value) {
  const out = new Set();
  if (!def) return out;
  out.add(def.id);
  const visit = (d, v) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') {
      const child = d.states?.[v];
      if (child) out.add(child.id);
      return;
    }
    if (typeof v === 'object') {
      for (const [k, sub] of Object.entries(v)) {
        const child = d.states?.[k];
        if (!child) continue;
        out.add(child.id);
        visit(child, sub);
      }
    }
  };
  visit(def, value);
  return out;
}

/** A compact text form of a snapshot value: `run.{x: x1, y: y2}`. */
export function valueText(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 1) {
      const [k, sub] = entries[0];
      return typeof sub === 'object' && sub !== null && Object.keys(sub).length === 0
        ? k
        : `${k}.${valueText(sub)}`;
    }
    return `{${entries.map(([k, sub]) => `${k}: ${valueText(sub)}`).join(', ')}}`;
  }
  return String(v);
}

export { walk };

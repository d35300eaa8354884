// The live flow page: EventSource -> fold -> layered SVG with nested groups, pan and zoom,
// search and "show what blocks", and a timeline below it (timeline.mjs analyses, gantt.mjs
// draws) whose critical path is marked data-critical="true" in both views.
//
// The browser's EventSource reconnects by itself and sends Last-Event-ID, so the server resumes
// exactly or resynchronises with a snapshot. When the browser gives up (an error status), the
// page opens a new EventSource after a backoff, passing the last id as `lastEventId`.
//
// Drawing is in two speeds: a change of structure (nodes or relationships added or removed, a
// group collapsed, the "what blocks" set changed) lays the graph out again and redraws it; a
// status change only updates the changed nodes' elements and the groups' roll-ups in place.
// Both are timed with performance measures (`flow:structure`, `flow:layout`, `flow:draw`,
// `flow:open`, `flow:update`, `flow:header`, `flow:timeline`, `flow:frame-to-dom`) for tests/ui/bench.mjs.

import { applyMessage, countStatuses, emptyState, statusClass } from './fold.mjs';
import { NODE_H, NODE_W, edgePath, layout, structureKey } from './layout.mjs';
import { apiBase, el, readToken, span } from './session.mjs';
import { ancestors, blocking, containment, rollUps, sameSet, search } from './view.mjs';
import { STEP, centreOn, fit, overflows, pan, zoomAt } from './zoom.mjs';
import { drawTimeline, setRowStatus } from './gantt.mjs';
import { CycleError, analyse } from './timeline.mjs';

const SVG = 'http://www.w3.org/2000/svg';
const MESSAGE_TYPES = ['snapshot', 'upsert-flow', 'upsert-nodes', 'upsert-rels', 'delete-nodes', 'delete-rels'];
const RESYNCED_SHOWN_MS = 5000;
const PAN_STEP = 80;
const DRAG_THRESHOLD = 4;
// finish-to-start, the common case, carries no label (its tooltip names it).
const EDGE_ABBREVIATIONS = {
  'start-to-start': 'SS',
  'finish-to-finish': 'FF',
  'start-to-finish': 'SF',
  triggers: 'T',
};

const flowId = decodeURIComponent(location.pathname.slice(location.pathname.lastIndexOf('/') + 1));
const base = apiBase();
const token = readToken();

const state = emptyState();
const since = new Map(); // node id -> ms when this page saw it enter its status
const pageLoadedAt = Date.now();
const collapsed = new Set();
let tree = containment(state);
let groupStatus = new Map();
let selected = null;
let structure = null; // structureKey of the last layout
let structureDirty = true;
let relayout = true;
let plan = null;
let blockingOn = false;
let blockSet = null;
let query = '';
let matches = [];
let transform = { x: 0, y: 0, k: 1 };
let placed = false; // whether the first view (fitted or not) was chosen
const touched = new Set(); // nodes to refresh in place at the next render
const elements = new Map(); // node id -> its drawn element
const groupElements = new Map(); // group id -> its drawn box, open or collapsed
let frameAt = null;
let source = null;
let lastEventId = null;
let snapshots = 0;
let resyncs = 0;
let lastEventAt = null;
let renderQueued = false;
let resyncedTimer = null;
let manualRetries = 0;
let analysis = null; // the last timeline analysis (timeline.mjs), or { error }
let analysisKey = null;
let timelineRows = new Map(); // node id -> its timeline row

const $ = (id) => document.getElementById(id);
const svg = $('canvas');
const viewport = $('viewport');

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function clip(text, max) {
  const chars = [...String(text)];
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

function timed(name, work) {
  const start = performance.now();
  const result = work();
  performance.measure(name, { start, end: performance.now() });
  return result;
}

// ---- connection ----------------------------------------------------------------------------

function setConnection(value) {
  const badge = $('connection');
  badge.dataset.state = value;
  badge.textContent = value;
  clearTimeout(resyncedTimer);
  if (value === 'resynced') {
    resyncedTimer = setTimeout(() => {
      if (badge.dataset.state === 'resynced') setConnection('live');
    }, RESYNCED_SHOWN_MS);
  }
  $('resyncs').textContent = resyncs ? `resynced ×${resyncs}` : '';
}

function streamUrl() {
  const params = new URLSearchParams();
  if (token) params.set('access_token', token);
  if (lastEventId) params.set('lastEventId', lastEventId);
  const text = params.toString();
  return `${base}/v1/flows/${encodeURIComponent(flowId)}/stream${text ? `?${text}` : ''}`;
}

function connect() {
  source = new EventSource(streamUrl());
  source.onopen = () => {
    manualRetries = 0;
    if ($('connection').dataset.state !== 'resynced') setConnection('live');
  };
  source.onerror = () => {
    setConnection('reconnecting');
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (an error status such as 401 or 503): try again ourselves.
      const delay = Math.min(30000, 1000 * 2 ** Math.min(manualRetries, 5));
      manualRetries += 1;
      setTimeout(connect, delay);
    }
  };
  for (const type of MESSAGE_TYPES) source.addEventListener(type, onFrame);
  source.addEventListener('heartbeat', () => {
    lastEventAt = Date.now();
  });
}

function onFrame(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  frameAt = frameAt ?? performance.now();
  if (event.lastEventId) lastEventId = event.lastEventId;
  lastEventAt = Date.now();
  if (message.type === 'snapshot') {
    snapshots += 1;
    if (snapshots > 1) {
      resyncs += 1;
      setConnection('resynced');
    } else {
      setConnection('live');
    }
  }
  if (message.type === 'upsert-nodes' && Array.isArray(message.nodes)) {
    // Only statuses, labels and meta change unless a node is new.
    for (const node of message.nodes) {
      if (!state.nodes.has(node.id)) structureDirty = true;
      touched.add(node.id);
    }
  } else if (message.type !== 'upsert-flow') {
    structureDirty = true;
  }
  const changed = applyMessage(state, flowId, message);
  if (changed) {
    const now = Date.now();
    for (const id of changed) {
      if (state.nodes.has(id) && !(message.type === 'snapshot' && snapshots === 1)) since.set(id, now);
      else since.delete(id);
    }
  }
  queueRender();
}

// ---- rendering -----------------------------------------------------------------------------

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  if (structureDirty) {
    structureDirty = false;
    const key = timed('flow:structure', () => structureKey(state));
    if (key !== structure) {
      structure = key;
      tree = containment(state);
      relayout = true;
    } else {
      for (const id of state.nodes.keys()) touched.add(id);
    }
  }
  groupStatus = rollUps(state, tree);
  if (blockingOn) {
    const set = blocking(state, tree);
    if (!blockSet || !sameSet(set, blockSet)) {
      blockSet = set;
      relayout = true;
    }
  }
  if (relayout) {
    relayout = false;
    touched.clear();
    plan = timed('flow:layout', () => layout(state, { collapsed, only: blockingOn ? blockSet : null }));
    timed('flow:draw', () => drawGraph());
    if (!placed && plan.nodes.size + plan.groups.length > 0) {
      placed = true;
      timed('flow:open', openView);
    }
  } else {
    timed('flow:update', () => updateInPlace());
  }
  if (frameAt !== null) {
    performance.measure('flow:frame-to-dom', { start: frameAt, end: performance.now() });
    frameAt = null;
  }
  timed('flow:header', () => {
    renderHeader();
    renderDetails();
  });
  timed('flow:timeline', () => renderTimeline(true));
}

// ---- timeline and critical path ------------------------------------------------------------

/**
 * Analyses the flow at the current second, redraws the timeline when the analysis changed (else
 * only recolours rows whose status changed), and marks the critical path in the graph
 * (`redrawn`: the graph's elements were just replaced). Whole seconds keep a status update
 * from redrawing a running flow's every row; the one-second tick grows the running bars.
 */
function renderTimeline(redrawn) {
  let next;
  try {
    next = analyse(state.nodes.values(), state.rels.values(), Math.floor(Date.now() / 1000) * 1000);
  } catch (err) {
    if (!(err instanceof CycleError)) throw err;
    next = { error: err.message, path: [], running: false };
  }
  const key = JSON.stringify(next);
  const changed = key !== analysisKey;
  analysis = next;
  analysisKey = key;
  if (changed) {
    const bars = $('timeline-bars');
    // The scroll box's inner width: clientWidth less its horizontal padding.
    const box = bars.parentElement;
    const style = getComputedStyle(box);
    const width = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    timelineRows = drawTimeline(bars, $('timeline-summary'), next, state.nodes, width);
  } else {
    for (const [id, g] of timelineRows) setRowStatus(g, state.nodes.get(id)?.status ?? '');
  }
  if (changed || redrawn) markCritical();
}

/** Sets data-critical="true" on the graph's nodes and finish-to-start edges on the path. */
function markCritical() {
  const path = analysis ? analysis.path : [];
  const onPath = new Set(path);
  const steps = new Set(path.slice(1).map((id, i) => JSON.stringify([path[i], id])));
  const mark = (g, on) => (on ? g.setAttribute('data-critical', 'true') : g.removeAttribute('data-critical'));
  for (const [id, g] of elements) mark(g, onPath.has(id));
  for (const g of viewport.querySelectorAll('.edge')) {
    mark(g, g.dataset.type === 'finish-to-start' && steps.has(JSON.stringify([g.dataset.from, g.dataset.to])));
  }
}

function renderHeader() {
  const flow = state.flow;
  $('flow-title').textContent = flowId;
  const status = $('flow-status');
  status.textContent = flow ? flow.status : '';
  status.className = `badge status-${statusClass(flow ? flow.status : '')}`;
  const roots = new Set(tree.roots);
  const counts = countStatuses([...state.nodes.values()].filter((n) => !roots.has(n.id)).map((n) => n.status));
  const items = counts.map(([s, n]) => {
    const item = el('li', `chip status-${statusClass(s)}`, `${n} ${s}`);
    item.dataset.status = s;
    item.dataset.count = n;
    return item;
  });
  $('counts').replaceChildren(...items);
}

function groupTitle(id) {
  if (id === '') return 'no region';
  const node = state.nodes.get(id);
  return node ? node.label : id;
}

function inside(id) {
  let n = 0;
  const walk = (g) => {
    for (const c of tree.children.get(g) || []) {
      if (state.nodes.has(c)) n += 1;
      walk(c);
    }
  };
  walk(id);
  return n;
}

function toggle(id, x, y, open) {
  const g = svgEl('g', {
    class: 'toggle',
    'data-action': 'toggle-group',
    'data-group': id,
    role: 'button',
    tabindex: 0,
    'aria-label': `${open ? 'collapse' : 'expand'} ${groupTitle(id)}`,
    'aria-expanded': open,
    transform: `translate(${x},${y})`,
  });
  g.append(svgEl('rect', { width: 18, height: 18, rx: 4, class: 'toggle-box' }));
  g.append(svgEl('text', { x: 9, y: 13, class: 'toggle-glyph' }, open ? '−' : '+'));
  return g;
}

function drawGroup(box) {
  const hasNode = state.nodes.has(box.id);
  const status = groupStatus.get(box.id) ?? '';
  const g = svgEl('g', {
    class: `group${box.root ? ' root' : ''}${box.collapsed ? ' collapsed' : ''} status-${statusClass(status)}`,
    'data-group': box.id,
    'data-depth': box.depth,
  });
  if (box.id !== '') {
    g.setAttribute('data-status', status);
    g.setAttribute('data-collapsed', String(box.collapsed));
    groupElements.set(box.id, g);
  }
  if (hasNode) {
    g.setAttribute('data-node-id', box.id);
    elements.set(box.id, g);
  }
  g.append(svgEl('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: 10, class: 'group-box' }));
  g.append(svgEl('rect', { x: box.x, y: box.y, width: 6, height: box.h, rx: 3, class: 'group-stripe' }));
  const canToggle = box.id !== '' && tree.groups.has(box.id);
  if (canToggle) g.append(toggle(box.id, box.x + 12, box.y + 6, !box.collapsed));
  const label = svgEl('text', { x: box.x + (canToggle ? 38 : 16), y: box.y + 20, class: 'group-label' }, clip(groupTitle(box.id), 60));
  if (status) label.append(svgEl('tspan', { class: 'group-status', dx: 8 }, box.collapsed ? `${status} · ${inside(box.id)} inside` : status));
  g.append(label);
  return g;
}

function drawNode(id, pos) {
  const node = state.nodes.get(id);
  const status = pos.collapsed ? groupStatus.get(id) ?? '' : node.status;
  const g = svgEl('g', {
    class: `node${pos.collapsed ? ' collapsed' : ''}${id === selected ? ' selected' : ''} status-${statusClass(status)}`,
    // A group without a node of its own is not a node of the graph.
    [node ? 'data-node-id' : 'data-group']: id,
    'data-status': status,
    transform: `translate(${pos.x},${pos.y})`,
    tabindex: 0,
    role: 'button',
  });
  if (pos.collapsed) g.setAttribute('data-collapsed', 'true');
  g.append(svgEl('rect', { width: NODE_W, height: NODE_H, rx: 8, class: 'node-box' }));
  const left = pos.collapsed ? 34 : 12;
  g.append(svgEl('text', { x: left, y: 18, class: 'node-label' }, clip(node ? node.label : id, pos.collapsed ? 21 : 24)));
  const second = pos.collapsed ? `${status} · ${inside(id)} inside` : status;
  g.append(svgEl('text', { x: left, y: 34, class: 'node-status' }, clip(second, 28)));
  g.append(svgEl('title', {}, `${id}: ${second}`));
  if (pos.collapsed) {
    g.append(toggle(id, 8, 13, false));
    groupElements.set(id, g);
  }
  if (node) elements.set(id, g);
  return g;
}

function drawGraph() {
  elements.clear();
  groupElements.clear();
  const groups = svgEl('g', { class: 'groups' });
  for (const box of plan.groups) groups.append(drawGroup(box));
  const edges = svgEl('g', { class: 'edges' });
  for (const edge of plan.edges) {
    const { rel, key } = edge;
    const g = svgEl('g', {
      class: `edge edge-${rel.type}`,
      'data-from': edge.from,
      'data-to': edge.to,
      'data-type': rel.type,
      'data-key': key,
    });
    g.append(svgEl('path', { d: edgePath(edge), class: 'edge-line', 'marker-end': 'url(#arrow)' }));
    const label = EDGE_ABBREVIATIONS[rel.type] ?? (rel.type === 'finish-to-start' ? null : rel.type);
    if (label) g.append(svgEl('text', { x: (edge.x1 + edge.x2) / 2, y: (edge.y1 + edge.y2) / 2 - 4, class: 'edge-label' }, label));
    const condition = rel.condition ? `, ${rel.condition}` : '';
    const lag = rel.lag ? `, lag ${rel.lag}s` : '';
    g.append(svgEl('title', {}, `${rel.fromId} → ${rel.toId} (${rel.type}${condition}${lag})`));
    edges.append(g);
  }
  const nodes = svgEl('g', { class: 'nodes' });
  for (const [id, pos] of plan.nodes) nodes.append(drawNode(id, pos));
  viewport.replaceChildren(groups, edges, nodes);
  const empty = $('empty');
  if (state.nodes.size === 0) {
    empty.textContent = 'Waiting for the flow’s first nodes…';
    empty.hidden = false;
  } else if (plan.nodes.size + plan.groups.length === 0) {
    empty.textContent = 'Nothing blocks: every node has succeeded.';
    empty.hidden = false;
  } else {
    empty.hidden = true;
  }
  markMatches(false);
}

function setStatus(g, status) {
  g.dataset.status = status;
  g.classList.remove(...[...g.classList].filter((c) => c.startsWith('status-')));
  g.classList.add(`status-${statusClass(status)}`);
}

function updateInPlace() {
  for (const id of touched) {
    const g = elements.get(id);
    const node = state.nodes.get(id);
    if (!g || !node || g.classList.contains('group') || g.dataset.collapsed === 'true') continue;
    setStatus(g, node.status);
    const [label, status] = g.querySelectorAll('text');
    label.textContent = clip(node.label, 24);
    status.textContent = clip(node.status, 28);
    g.querySelector('title').textContent = `${id}: ${node.status}`;
  }
  touched.clear();
  for (const [id, g] of groupElements) {
    const status = groupStatus.get(id);
    if (status === undefined || g.dataset.status === status) continue;
    setStatus(g, status);
    const text = g.dataset.collapsed === 'true' ? `${status} · ${inside(id)} inside` : status;
    const target = g.classList.contains('group') ? g.querySelector('.group-status') : g.querySelector('.node-status');
    if (target) target.textContent = text;
  }
}

// ---- pan, zoom, search ---------------------------------------------------------------------

function viewSize() {
  return { width: svg.clientWidth, height: svg.clientHeight };
}

function setTransform(next) {
  transform = next;
  viewport.setAttribute('transform', `translate(${next.x},${next.y}) scale(${next.k})`);
  svg.dataset.scale = next.k.toFixed(4);
}

function contentBox() {
  return { x: 0, y: 0, width: plan ? plan.width : 1, height: plan ? plan.height : 1 };
}

function fitView() {
  setTransform(fit(contentBox(), viewSize()));
}

/** Fitted when the drawing is larger than the canvas, else at scale 1 from the top left. */
function openView() {
  if (overflows(contentBox(), viewSize())) fitView();
  else setTransform({ x: 0, y: 0, k: 1 });
}

function zoomBy(factor) {
  const { width, height } = viewSize();
  setTransform(zoomAt(transform, factor, width / 2, height / 2));
}

function centre(id) {
  const pos = plan.nodes.get(id);
  const box = plan.groups.find((b) => b.id === id);
  const [cx, cy] = pos ? [pos.x + NODE_W / 2, pos.y + NODE_H / 2] : [box.x + box.w / 2, box.y + 15];
  setTransform(centreOn(cx, cy, viewSize(), Math.max(transform.k, 1)));
}

/** Outlines the drawn matches; a collapsed group holding a match is marked `data-match-inside`. */
function markMatches(move) {
  const found = search(state, query);
  matches = found.filter((id) => elements.has(id));
  const holders = new Set();
  for (const id of found) {
    if (!elements.has(id)) {
      const holder = ancestors(tree, id).find((up) => groupElements.has(up) && collapsed.has(up));
      if (holder !== undefined) holders.add(holder);
    }
  }
  const shown = new Set(matches);
  for (const [id, g] of elements) {
    if (shown.has(id)) g.setAttribute('data-match', 'true');
    else g.removeAttribute('data-match');
  }
  for (const [id, g] of groupElements) {
    if (holders.has(id)) g.setAttribute('data-match-inside', 'true');
    else g.removeAttribute('data-match-inside');
  }
  const folded = holders.size ? `, more in ${holders.size} collapsed` : '';
  $('search-count').textContent = query.trim() ? `${matches.length} found${folded}` : '';
  const first = matches[0] ?? [...holders].sort()[0];
  if (move && first !== undefined) centre(first);
}

function setBlocking(on) {
  blockingOn = on;
  blockSet = null;
  relayout = true;
  const button = document.querySelector('[data-action="blocking"]');
  button.setAttribute('aria-pressed', String(on));
  render();
  openView();
}

function toggleGroup(id) {
  if (collapsed.has(id)) collapsed.delete(id);
  else collapsed.add(id);
  relayout = true;
  render();
}

let drag = null;
let dragged = false;
svg.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  drag = { x: event.clientX, y: event.clientY, from: transform, id: event.pointerId };
  dragged = false;
});
svg.addEventListener('pointermove', (event) => {
  if (!drag || drag.id !== event.pointerId) return;
  const dx = event.clientX - drag.x;
  const dy = event.clientY - drag.y;
  if (!dragged && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
  if (!dragged) svg.setPointerCapture(event.pointerId);
  dragged = true;
  svg.classList.add('dragging');
  setTransform(pan(drag.from, dx, dy));
});
const endDrag = () => {
  drag = null;
  svg.classList.remove('dragging');
};
svg.addEventListener('pointerup', endDrag);
svg.addEventListener('pointercancel', endDrag);
svg.addEventListener(
  'wheel',
  (event) => {
    event.preventDefault();
    const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
    const rect = svg.getBoundingClientRect();
    const factor = Math.exp(-event.deltaY * unit * 0.0015);
    setTransform(zoomAt(transform, factor, event.clientX - rect.left, event.clientY - rect.top));
  },
  { passive: false },
);
svg.addEventListener('click', (event) => {
  if (dragged) {
    dragged = false;
    return;
  }
  const action = event.target.closest('[data-action="toggle-group"]');
  if (action) {
    toggleGroup(action.dataset.group);
    return;
  }
  const target = event.target.closest('[data-node-id]');
  select(target ? target.dataset.nodeId : selected);
});
svg.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' && event.key !== ' ') return;
  const action = event.target.closest('[data-action="toggle-group"]');
  if (action) toggleGroup(action.dataset.group);
  else if (event.target.dataset.nodeId) select(event.target.dataset.nodeId);
  event.preventDefault();
});

const ACTIONS = {
  fit: fitView,
  'zoom-in': () => zoomBy(STEP),
  'zoom-out': () => zoomBy(1 / STEP),
  blocking: () => setBlocking(!blockingOn),
};
for (const button of document.querySelectorAll('.controls [data-action]')) {
  button.addEventListener('click', () => ACTIONS[button.dataset.action]());
}

const searchBox = document.querySelector('input[type="search"]');
searchBox.addEventListener('input', () => {
  query = searchBox.value;
  markMatches(true);
});
searchBox.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && matches.length > 0) {
    // Enter steps through the matches.
    matches.push(matches.shift());
    centre(matches[0]);
  }
});

const KEYS = {
  '+': () => zoomBy(STEP),
  '=': () => zoomBy(STEP),
  '-': () => zoomBy(1 / STEP),
  0: fitView,
  ArrowLeft: () => setTransform(pan(transform, PAN_STEP, 0)),
  ArrowRight: () => setTransform(pan(transform, -PAN_STEP, 0)),
  ArrowUp: () => setTransform(pan(transform, 0, PAN_STEP)),
  ArrowDown: () => setTransform(pan(transform, 0, -PAN_STEP)),
  '/': () => searchBox.focus(),
};
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    select(null);
    return;
  }
  if (event.target.closest('input, textarea') || event.ctrlKey || event.metaKey || event.altKey) return;
  const action = KEYS[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

// ---- details -------------------------------------------------------------------------------

function select(id) {
  if (selected !== null) elements.get(selected)?.classList.remove('selected');
  selected = id;
  if (id !== null) elements.get(id)?.classList.add('selected');
  renderDetails();
}

function sinceOf(node) {
  const seen = since.get(node.id);
  if (seen !== undefined) return { at: seen, exact: true };
  const meta = node.meta || {};
  if (typeof meta.since === 'number') return { at: meta.since, exact: true };
  const finished = node.status === 'succeeded' || node.status === 'failed';
  const at = finished ? node.endedAt ?? node.startedAt : node.startedAt;
  if (typeof at === 'number') return { at, exact: true };
  return { at: pageLoadedAt, exact: false };
}

function renderDetails() {
  const panel = $('details');
  const node = selected === null ? undefined : state.nodes.get(selected);
  if (!node) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  $('details-title').textContent = node.label;
  const meta = node.meta || {};
  const text = (v) => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));
  const when = sinceOf(node);
  const inState = `${when.exact ? '' : 'at least '}${span(Date.now() - when.at)}`;
  const rows = [
    ['id', node.id],
    ['kind', text(meta.kind)],
    ['status', node.status],
    ['inside', tree.groups.has(node.id) ? `${groupStatus.get(node.id)} (${inside(node.id)} nodes)` : null],
    ['in this state for', inState],
    ['reason', text(meta.reason)],
    ['message', text(meta.message)],
    ['chart', text(meta.chart)],
    ['version', text(meta.chartVersion ?? meta.version)],
    ['region', node.region],
    ['family', node.family],
    ['started', node.startedAt == null ? null : new Date(node.startedAt).toISOString()],
    ['ended', node.endedAt == null ? null : new Date(node.endedAt).toISOString()],
  ];
  const list = el('dl');
  for (const [name, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    const dt = el('dt', null, name);
    const dd = el('dd', name === 'status' ? `badge status-${statusClass(node.status)}` : null, value);
    dd.dataset.field = name;
    list.append(dt, dd);
  }
  $('details-fields').replaceChildren(list);
  $('details-meta').textContent = Object.keys(meta).length ? JSON.stringify(meta, null, 2) : '';
}

$('details-close').addEventListener('click', () => select(null));
setInterval(() => {
  renderDetails();
  if (analysis && analysis.running) renderTimeline(false);
  $('last-event').textContent = lastEventAt ? `last event ${span(Date.now() - lastEventAt)} ago` : '';
}, 1000);

document.title = `${flowId} · OpenovaFlow`;
setTransform(transform);
render();
setConnection('connecting');
connect();

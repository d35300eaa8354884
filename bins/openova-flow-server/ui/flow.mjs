// The live flow page: EventSource -> fold -> layered SVG.
//
// The browser's EventSource reconnects by itself and sends Last-Event-ID, so the server resumes
// exactly or resynchronises with a snapshot. When the browser gives up (an error status), the
// page opens a new EventSource after a backoff, passing the last id as `lastEventId`.

import { applyMessage, countStatuses, emptyState, statusClass } from './fold.mjs';
import { NODE_H, NODE_W, edgePath, layout, structureKey } from './layout.mjs';
import { apiBase, el, readToken, span } from './session.mjs';

const SVG = 'http://www.w3.org/2000/svg';
const MESSAGE_TYPES = ['snapshot', 'upsert-flow', 'upsert-nodes', 'upsert-rels', 'delete-nodes', 'delete-rels'];
const RESYNCED_SHOWN_MS = 5000;
const EDGE_ABBREVIATIONS = {
  'finish-to-start': 'FS',
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
let selected = null;
let cachedKey = null;
let cachedLayout = null;
let source = null;
let lastEventId = null;
let snapshots = 0;
let resyncs = 0;
let lastEventAt = null;
let renderQueued = false;
let resyncedTimer = null;
let manualRetries = 0;

const $ = (id) => document.getElementById(id);
const svg = $('canvas');

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
  const query = params.toString();
  return `${base}/v1/flows/${encodeURIComponent(flowId)}/stream${query ? `?${query}` : ''}`;
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
  const key = structureKey(state);
  if (key !== cachedKey) {
    cachedKey = key;
    cachedLayout = layout(state);
  }
  renderHeader();
  renderGraph(cachedLayout);
  renderDetails();
}

function renderHeader() {
  const flow = state.flow;
  $('flow-title').textContent = flowId;
  const status = $('flow-status');
  status.textContent = flow ? flow.status : '';
  status.className = `badge status-${statusClass(flow ? flow.status : '')}`;
  const counts = countStatuses([...state.nodes.values()].filter((n) => !isRegion(n.id)).map((n) => n.status));
  const items = counts.map(([s, n]) => {
    const item = el('li', `chip status-${statusClass(s)}`, `${n} ${s}`);
    item.dataset.status = s;
    item.dataset.count = n;
    return item;
  });
  $('counts').replaceChildren(...items);
}

function isRegion(id) {
  return cachedLayout ? cachedLayout.bands.some((b) => b.id === id) : false;
}

function renderGraph(plan) {
  svg.setAttribute('width', plan.width);
  svg.setAttribute('height', plan.height);
  svg.setAttribute('viewBox', `0 0 ${plan.width} ${plan.height}`);
  const defs = svgEl('defs');
  const marker = svgEl('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 10,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
  });
  marker.append(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }));
  defs.append(marker);

  const bands = svgEl('g', { class: 'bands' });
  for (const band of plan.bands) {
    const g = svgEl('g', { class: 'region', 'data-id': band.id });
    const parentStatus = band.parent ? band.parent.status : null;
    g.append(svgEl('rect', { x: band.x, y: band.y, width: band.w, height: band.h, rx: 10, class: 'region-box' }));
    g.append(
      svgEl('rect', {
        x: band.x,
        y: band.y,
        width: 6,
        height: band.h,
        rx: 3,
        class: `region-stripe status-${statusClass(parentStatus || '')}`,
      }),
    );
    const title = band.id === '' ? 'no region' : band.parent ? band.parent.label : band.id;
    const label = svgEl('text', { x: band.x + 16, y: band.y + 20, class: 'region-label' }, clip(title, 60));
    if (parentStatus) label.append(svgEl('tspan', { class: 'region-status', dx: 8 }, parentStatus));
    g.append(label);
    bands.append(g);
  }

  const edges = svgEl('g', { class: 'edges' });
  for (const { rel, key } of plan.edges) {
    const a = plan.nodes.get(rel.fromId);
    const b = plan.nodes.get(rel.toId);
    const g = svgEl('g', {
      class: `edge edge-${rel.type}`,
      'data-from': rel.fromId,
      'data-to': rel.toId,
      'data-type': rel.type,
      'data-key': key,
    });
    const d = edgePath(a, b);
    g.append(svgEl('path', { d, class: 'edge-line', 'marker-end': 'url(#arrow)' }));
    const mx = (a.x + NODE_W + b.x) / 2;
    const my = (a.y + b.y) / 2 + NODE_H / 2;
    g.append(svgEl('text', { x: mx, y: my - 4, class: 'edge-label' }, EDGE_ABBREVIATIONS[rel.type] || rel.type));
    const condition = rel.condition ? `, ${rel.condition}` : '';
    const lag = rel.lag ? `, lag ${rel.lag}s` : '';
    g.append(svgEl('title', {}, `${rel.fromId} → ${rel.toId} (${rel.type}${condition}${lag})`));
    edges.append(g);
  }

  const nodes = svgEl('g', { class: 'nodes' });
  for (const [id, pos] of plan.nodes) {
    const node = state.nodes.get(id);
    const cls = statusClass(node.status);
    const g = svgEl('g', {
      class: `node status-${cls}${id === selected ? ' selected' : ''}`,
      'data-id': id,
      'data-status': node.status,
      transform: `translate(${pos.x},${pos.y})`,
      tabindex: 0,
      role: 'button',
    });
    g.append(svgEl('rect', { width: NODE_W, height: NODE_H, rx: 8, class: 'node-box' }));
    g.append(svgEl('text', { x: 12, y: 18, class: 'node-label' }, clip(node.label, 24)));
    g.append(svgEl('text', { x: 12, y: 34, class: 'node-status' }, clip(node.status, 28)));
    g.append(svgEl('title', {}, `${id}: ${node.status}`));
    g.addEventListener('click', () => select(id));
    g.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') select(id);
    });
    nodes.append(g);
  }
  svg.replaceChildren(defs, bands, edges, nodes);
  $('empty').hidden = state.nodes.size > 0;
}

function select(id) {
  selected = id;
  render();
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
    ['status', node.status],
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
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') select(null);
});
setInterval(() => {
  renderDetails();
  $('last-event').textContent = lastEventAt ? `last event ${span(Date.now() - lastEventAt)} ago` : '';
}, 1000);

document.title = `${flowId} · OpenovaFlow`;
render();
setConnection('connecting');
connect();

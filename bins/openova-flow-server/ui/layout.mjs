// A layered, left-to-right layout of a flow: one horizontal band per region (the parents of
// `contains` relationships), columns by longest dependency path, shared by all bands so that
// edges between regions point right too. The layout depends only on the graph's structure
// (ids and relationships), never on statuses, so status updates never move a node.

import { relKey } from './fold.mjs';

export const NODE_W = 210;
export const NODE_H = 44;
const COL_W = 270;
const ROW_H = 60;
const BAND_HEAD = 30;
const BAND_PAD = 14;
const MARGIN = 16;

const byText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** A string that changes whenever the layout could change. */
export function structureKey(state) {
  const nodes = [...state.nodes.keys()].sort(byText);
  const rels = [...state.rels.keys()].sort(byText);
  return JSON.stringify([nodes, rels]);
}

/**
 * Positions for every drawn node, band boxes for regions and routes for edges.
 * Returns { width, height, nodes: Map(id -> {x, y, band}), bands: [{id, parent, x, y, w, h}],
 * edges: [{rel, key}] }.
 */
export function layout(state) {
  const parentOf = new Map();
  const regions = new Set();
  for (const rel of state.rels.values()) {
    if (rel.type !== 'contains' || rel.fromId === rel.toId) continue;
    regions.add(rel.toId);
    const current = parentOf.get(rel.fromId);
    if (current === undefined || rel.toId < current) parentOf.set(rel.fromId, rel.toId);
  }
  const drawn = [...state.nodes.keys()].filter((id) => !regions.has(id)).sort(byText);
  const isDrawn = new Set(drawn);
  const edges = [];
  const preds = new Map(drawn.map((id) => [id, []]));
  const succs = new Map(drawn.map((id) => [id, []]));
  for (const [key, rel] of state.rels) {
    if (rel.type === 'contains' || !isDrawn.has(rel.fromId) || !isDrawn.has(rel.toId)) continue;
    if (rel.fromId === rel.toId) continue;
    edges.push({ rel, key });
    preds.get(rel.toId).push(rel.fromId);
    succs.get(rel.fromId).push(rel.toId);
  }
  edges.sort((a, b) => byText(a.key, b.key));

  // Longest-path layering (Kahn); nodes on a cycle are placed after their placed predecessors.
  const layer = new Map();
  const indegree = new Map(drawn.map((id) => [id, preds.get(id).length]));
  const queue = drawn.filter((id) => indegree.get(id) === 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    const l = Math.max(-1, ...preds.get(id).map((p) => layer.get(p) ?? -1)) + 1;
    layer.set(id, l);
    for (const s of succs.get(id)) {
      indegree.set(s, indegree.get(s) - 1);
      if (indegree.get(s) === 0) queue.push(s);
    }
  }
  for (const id of drawn) {
    if (!layer.has(id)) layer.set(id, Math.max(-1, ...preds.get(id).map((p) => layer.get(p) ?? -1)) + 1);
  }

  // Bands: regions by id (also regions without a node of their own), then ungrouped nodes.
  const bandIds = [...regions].filter((r) => !parentOf.has(r)).sort(byText);
  const members = new Map(bandIds.map((r) => [r, []]));
  members.set('', []);
  for (const id of drawn) {
    let top = parentOf.get(id);
    const seen = new Set();
    while (top !== undefined && parentOf.has(top) && !seen.has(top)) {
      seen.add(top);
      top = parentOf.get(top);
    }
    const band = top === undefined ? '' : top;
    if (!members.has(band)) {
      members.set(band, []);
      bandIds.push(band);
    }
    members.get(band).push(id);
  }
  if (members.get('').length > 0) bandIds.push('');

  const maxLayer = Math.max(0, ...layer.values());
  const width = MARGIN * 2 + BAND_PAD * 2 + maxLayer * COL_W + NODE_W;
  const nodes = new Map();
  const bands = [];
  let y = MARGIN;
  for (const band of bandIds) {
    const ids = members.get(band);
    const columns = new Map();
    for (const id of ids) {
      const l = layer.get(id);
      if (!columns.has(l)) columns.set(l, []);
      columns.get(l).push(id);
    }
    // One barycenter pass, left to right, on structure only (stable across status changes).
    const row = new Map();
    let rows = 0;
    for (const l of [...columns.keys()].sort((a, b) => a - b)) {
      const column = columns.get(l);
      const weight = (id) => {
        const placed = preds.get(id).filter((p) => row.has(p));
        return placed.length ? placed.reduce((s, p) => s + row.get(p), 0) / placed.length : Infinity;
      };
      const keyed = column.map((id) => [weight(id), id]);
      keyed.sort((a, b) => (a[0] === b[0] ? byText(a[1], b[1]) : a[0] - b[0]));
      keyed.forEach(([, id], i) => row.set(id, i));
      rows = Math.max(rows, column.length);
    }
    const h = BAND_HEAD + BAND_PAD + Math.max(1, rows) * ROW_H;
    for (const id of ids) {
      nodes.set(id, {
        x: MARGIN + BAND_PAD + layer.get(id) * COL_W,
        y: y + BAND_HEAD + row.get(id) * ROW_H,
        band,
      });
    }
    bands.push({ id: band, parent: band === '' ? null : state.nodes.get(band) || null, x: MARGIN, y, w: width - MARGIN * 2, h });
    y += h + MARGIN;
  }
  return { width, height: Math.max(y, 120), nodes, bands, edges };
}

/** The SVG path of an edge from the right side of `a` to the left side of `b`. */
export function edgePath(a, b) {
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const dx = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
}

export { relKey };

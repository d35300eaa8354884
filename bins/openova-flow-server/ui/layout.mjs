// A layered, left-to-right layout of a flow with nested groups.
//
// Groups come from the containment tree (view.mjs): a root (a region) is a full-width band, a
// nested group (a Kustomization) a box inside its parent, a collapsed group one node-sized box.
// Columns come from one longest-path layering of the whole drawing, so every dependency edge
// points right, also between regions and between groups: an expanded nested group is entered
// and left through two zero-width points, so whatever depends on the group as a whole starts
// right of everything inside it. Inside each group, rows are ordered by alternating barycenter
// sweeps, keeping the order with the fewest edge crossings, then by swapping neighbours. The
// layout depends only on the structure (ids, relationships, the collapsed set and the filter),
// never on statuses, so a status update never moves a node.

import { containment } from './view.mjs';

export const NODE_W = 210;
export const NODE_H = 44;
const COL_W = 270;
const ROW_H = 60;
const HEAD = 30;
const BAND_PAD = 14;
const GROUP_PAD = 12;
const GAP = 12;
const MARGIN = 16;
const EMPTY_H = 12;
const SWEEPS = 8;

const byText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** A string that changes whenever the layout could change. */
export function structureKey(state) {
  const nodes = [...state.nodes.keys()].sort(byText);
  const rels = [...state.rels.keys()].sort(byText);
  return JSON.stringify([nodes, rels]);
}

/**
 * Lays out `state`. Options: `collapsed` (a Set of group ids drawn closed), `only` (a Set of
 * ids to draw, or null for all), `sweeps` (ordering passes; 0 keeps rows in id order).
 *
 * Returns { width, height, nodes: Map(id -> {x, y, group, collapsed}), groups: [{id, parent,
 * root, collapsed, depth, x, y, w, h}], edges: [{key, rel, from, to, x1, y1, x2, y2}] }: `nodes`
 * are the node-sized boxes (leaves and collapsed nested groups), `groups` the drawn group boxes
 * parents first, `edges` the dependency edges between drawn boxes (`from`/`to` are the boxes'
 * ids: a node inside a collapsed group is represented by the group).
 */
export function layout(state, { collapsed = new Set(), only = null, sweeps = SWEEPS } = {}) {
  const tree = containment(state);
  const { parentOf, groups: groupIds } = tree;
  const shown = (id) => only === null || only.has(id);

  // Which box stands for each id: itself, or its outermost collapsed ancestor.
  const repCache = new Map();
  const rep = (id) => {
    let cached = repCache.get(id);
    if (cached === undefined) {
      cached = id;
      for (let up = parentOf.get(id); up !== undefined; up = parentOf.get(up)) if (collapsed.has(up)) cached = up;
      repCache.set(id, cached);
    }
    return cached;
  };
  const isRoot = (g) => !parentOf.has(g);
  const drawnGroup = (g) => shown(g) && rep(g) === g;
  const expanded = (g) => groupIds.has(g) && drawnGroup(g) && !collapsed.has(g);
  // A box's container: its nearest drawn expanded group, or '' (the ungrouped band).
  const containerOf = (id) => {
    for (let up = parentOf.get(id); up !== undefined; up = parentOf.get(up)) if (expanded(up)) return up;
    return '';
  };

  // Node-sized boxes: leaves and collapsed nested groups.
  const boxes = [];
  for (const id of state.nodes.keys()) if (!groupIds.has(id) && shown(id) && rep(id) === id) boxes.push(id);
  for (const g of groupIds) if (!isRoot(g) && collapsed.has(g) && drawnGroup(g)) boxes.push(g);
  boxes.sort(byText);
  const nested = [...groupIds].filter((g) => !isRoot(g) && expanded(g)).sort(byText);
  const roots = tree.roots.filter(drawnGroup);

  // Layering graph: one vertex per box, two per expanded nested group (in, out).
  const index = new Map();
  const inV = new Map();
  const outV = new Map();
  let count = 0;
  for (const id of boxes) {
    index.set(id, count);
    inV.set(id, count);
    outV.set(id, count);
    count += 1;
  }
  for (const g of nested) {
    inV.set(g, count);
    outV.set(g, count + 1);
    count += 2;
  }
  const succ = Array.from({ length: count }, () => []);
  const link = (a, b, w) => succ[a].push([b, w]);
  for (const g of nested) link(inV.get(g), outV.get(g), 0);
  for (const id of [...boxes, ...nested]) {
    const c = containerOf(id);
    if (inV.has(c)) {
      link(inV.get(c), inV.get(id), 0);
      link(outV.get(id), outV.get(c), 0);
    }
  }
  const edges = [];
  const seenEdge = new Set();
  for (const [key, rel] of state.rels) {
    if (rel.type === 'contains' || rel.fromId === rel.toId) continue;
    if (!shown(rel.fromId) || !shown(rel.toId)) continue;
    if (!(state.nodes.has(rel.fromId) || groupIds.has(rel.fromId))) continue;
    if (!(state.nodes.has(rel.toId) || groupIds.has(rel.toId))) continue;
    const from = rep(rel.fromId);
    const to = rep(rel.toId);
    if (from === to || !outV.has(from) || !inV.has(to)) continue;
    const pair = `${from}\u0000${to}\u0000${rel.type}`;
    if (seenEdge.has(pair)) continue;
    seenEdge.add(pair);
    edges.push({ key, rel, from, to });
    link(outV.get(from), inV.get(to), 1);
  }
  edges.sort((a, b) => byText(a.key, b.key));

  // Longest path with weights 0 (containment) and 1 (dependency).
  const layer = longestPath(succ);
  // A box that waits on nothing moves right, next to the first box that waits on it, so the
  // first column does not collect every independent release.
  const waits = new Uint8Array(count);
  for (const list of succ) for (const [b, w] of list) if (w === 1) waits[b] = 1;
  for (const id of boxes) {
    const v = index.get(id);
    if (waits[v] || !succ[v].some(([, w]) => w === 1)) continue;
    layer[v] = Math.max(layer[v], Math.min(...succ[v].map(([b, w]) => layer[b] - w)));
  }
  const layerOf = (id) => layer[index.get(id)];

  // Column spans and nesting height of nested groups, innermost first.
  const contents = new Map([...roots, ...nested, ''].map((g) => [g, { boxes: [], groups: [] }]));
  for (const id of boxes) contents.get(containerOf(id)).boxes.push(id);
  for (const g of nested) contents.get(containerOf(g)).groups.push(g);
  const span = new Map();
  const levels = new Map();
  const spanOf = (g) => {
    if (span.has(g)) return span.get(g);
    const { boxes: inside, groups: sub } = contents.get(g);
    let lo = Infinity;
    let hi = -Infinity;
    let level = 1;
    for (const id of inside) {
      lo = Math.min(lo, layerOf(id));
      hi = Math.max(hi, layerOf(id));
    }
    for (const s of sub) {
      const [a, b] = spanOf(s);
      lo = Math.min(lo, a);
      hi = Math.max(hi, b);
      level = Math.max(level, levels.get(s) + 1);
    }
    if (lo === Infinity) lo = hi = layer[inV.get(g)];
    span.set(g, [lo, hi]);
    levels.set(g, level);
    return [lo, hi];
  };
  let deepest = 0;
  for (const g of nested) {
    spanOf(g);
    deepest = Math.max(deepest, levels.get(g));
  }
  let maxLayer = 0;
  for (const id of boxes) maxLayer = Math.max(maxLayer, layerOf(id));
  for (const g of nested) maxLayer = Math.max(maxLayer, span.get(g)[1]);
  const left = MARGIN + BAND_PAD + deepest * GROUP_PAD;
  const colX = (l) => left + l * COL_W;
  const width = left * 2 + maxLayer * COL_W + NODE_W;

  // Columns of each container, in id order to start with.
  const columns = new Map();
  for (const [g, { boxes: inside }] of contents) {
    const byLayer = new Map();
    for (const id of inside) {
      const l = layerOf(id);
      if (!byLayer.has(l)) byLayer.set(l, []);
      byLayer.get(l).push(id);
    }
    columns.set(g, byLayer);
  }
  const rowsOf = (g) => Math.max(0, ...[...columns.get(g).values()].map((c) => c.length));

  // Heights, bottom-up; nested groups that do not share a column sit side by side in a lane.
  const height = new Map();
  const lanesOf = new Map();
  const measure = (g) => {
    const sub = [...contents.get(g).groups].sort((a, b) => span.get(a)[0] - span.get(b)[0] || byText(a, b));
    const lanes = [];
    for (const s of sub) {
      measure(s);
      const lane = lanes.find((l) => l.end < span.get(s)[0]);
      if (lane) {
        lane.members.push(s);
        lane.end = span.get(s)[1];
        lane.h = Math.max(lane.h, height.get(s));
      } else {
        lanes.push({ members: [s], end: span.get(s)[1], h: height.get(s) });
      }
    }
    lanesOf.set(g, lanes);
    const rows = rowsOf(g);
    const body = rows * ROW_H + lanes.reduce((sum, l) => sum + l.h + GAP, 0);
    height.set(g, HEAD + (body > 0 ? body : EMPTY_H));
  };

  // Placement, top-down.
  const groupsOut = [];
  const rowTop = new Map();
  const place = (g, y, depth) => {
    const root = depth === 0;
    const collapsedRoot = root && collapsed.has(g);
    let x;
    let w;
    if (root) {
      x = MARGIN;
      w = width - MARGIN * 2;
    } else {
      const [lo, hi] = span.get(g);
      const pad = levels.get(g) * GROUP_PAD;
      x = colX(lo) - pad;
      w = colX(hi) + NODE_W + pad - x;
    }
    const h = collapsedRoot ? HEAD + EMPTY_H : height.get(g);
    groupsOut.push({ id: g, parent: parentOf.get(g) ?? null, root, collapsed: collapsedRoot, depth, x, y, w, h });
    if (collapsedRoot) return h;
    rowTop.set(g, y + HEAD);
    let laneY = y + HEAD + rowsOf(g) * ROW_H;
    for (const lane of lanesOf.get(g)) {
      for (const s of lane.members) place(s, laneY, depth + 1);
      laneY += lane.h + GAP;
    }
    return h;
  };
  let y = MARGIN;
  const bands = [...roots];
  if (contents.get('').boxes.length + contents.get('').groups.length > 0) bands.push('');
  for (const g of bands) {
    if (!collapsed.has(g)) measure(g);
    y += place(g, y, 0) + MARGIN;
  }
  const groupBox = new Map(groupsOut.map((b) => [b.id, b]));

  // Rows, in id order to start with; anchors: boxes by row, nested groups by their header.
  const allColumns = [];
  for (const [g, byLayer] of columns) {
    if (rowTop.has(g)) for (const [l, column] of byLayer) allColumns.push({ g, l, column, top: rowTop.get(g) });
  }
  allColumns.sort((a, b) => a.l - b.l || byText(a.g, b.g));
  const pos = new Map();
  for (const c of allColumns) c.column.forEach((id, row) => pos.set(id, c.top + row * ROW_H));
  const outPoint = (id) =>
    index.has(id) ? [colX(layerOf(id)) + NODE_W, pos.get(id) + NODE_H / 2] : [groupBox.get(id).x + groupBox.get(id).w, groupBox.get(id).y + HEAD / 2];
  const inPoint = (id) => (index.has(id) ? [colX(layerOf(id)), pos.get(id) + NODE_H / 2] : [groupBox.get(id).x, groupBox.get(id).y + HEAD / 2]);
  orderRows(allColumns, edges, { pos, outPoint, inPoint }, sweeps);

  const nodes = new Map();
  for (const id of boxes) {
    nodes.set(id, { x: colX(layerOf(id)), y: pos.get(id), group: containerOf(id), collapsed: groupIds.has(id) });
  }
  const drawn = edges.map((e) => {
    const [x1, y1] = outPoint(e.from);
    const [x2, y2] = inPoint(e.to);
    return { ...e, x1, y1, x2, y2 };
  });
  return { width, height: Math.max(y, 120), nodes, groups: groupsOut, edges: drawn };
}

/**
 * Orders the rows of every column (`{ column: [ids], top }`, left to right) to cross fewer
 * edges, updating `anchors.pos` (id -> y): up to `sweeps` alternating barycenter sweeps keeping
 * the best order, then swaps of neighbours while that uncrosses the edges of the two (as
 * between adjacent layers), kept only if the whole drawing ends with fewer crossings.
 */
function orderRows(columns, edges, { pos, outPoint, inPoint }, sweeps) {
  const setRows = (c) => c.column.forEach((id, row) => pos.set(id, c.top + row * ROW_H));
  const segment = (e) => {
    const [x1, y1] = outPoint(e.from);
    const [x2, y2] = inPoint(e.to);
    return { x1, y1, x2, y2 };
  };
  const total = () => crossingsOf(edges.map(segment));
  const snapshot = () => columns.map((c) => [...c.column]);
  const restore = (saved) =>
    columns.forEach((c, i) => {
      c.column.splice(0, c.column.length, ...saved[i]);
      setRows(c);
    });

  // Barycenter sweeps, left to right then right to left.
  const preds = new Map();
  const succs = new Map();
  for (const e of edges) {
    if (!preds.has(e.to)) preds.set(e.to, []);
    if (!succs.has(e.from)) succs.set(e.from, []);
    preds.get(e.to).push(e.from);
    succs.get(e.from).push(e.to);
  }
  let best = snapshot();
  let fewest = total();
  for (let pass = 0, stale = 0; pass < sweeps && fewest > 0 && stale < 2; pass++) {
    const forward = pass % 2 === 0;
    for (const c of forward ? columns : [...columns].reverse()) {
      const keyed = c.column.map((id, row) => {
        const near = (forward ? preds : succs).get(id) || [];
        const ys = near.map((n) => (forward ? outPoint(n) : inPoint(n))[1]);
        return [ys.length ? ys.reduce((sum, v) => sum + v, 0) / ys.length : pos.get(id), row, id];
      });
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      keyed.forEach(([, , id], i) => (c.column[i] = id));
      setRows(c);
    }
    const now = total();
    if (now < fewest) {
      fewest = now;
      best = snapshot();
      stale = 0;
    } else {
      stale += 1;
    }
  }
  restore(best);

  // Transposition.
  const incident = new Map();
  for (const e of edges) {
    for (const id of [e.from, e.to]) {
      if (!incident.has(id)) incident.set(id, []);
      incident.get(id).push(e);
    }
  }
  const between = (a, b) => crossingsAcross(incident.get(a).map(segment), incident.get(b).map(segment));
  const swap = (c, i) => {
    [c.column[i], c.column[i + 1]] = [c.column[i + 1], c.column[i]];
    pos.set(c.column[i], c.top + i * ROW_H);
    pos.set(c.column[i + 1], c.top + (i + 1) * ROW_H);
  };
  for (let round = 0, improved = sweeps > 0; round < 4 && improved; round++) {
    improved = false;
    for (const c of columns) {
      for (let i = 0; i + 1 < c.column.length; i++) {
        const [a, b] = [c.column[i], c.column[i + 1]];
        if (!incident.has(a) || !incident.has(b)) continue;
        const before = between(a, b);
        swap(c, i);
        if (between(a, b) < before) improved = true;
        else swap(c, i);
      }
    }
  }
  if (total() > fewest) restore(best);
}

/**
 * Layers of a graph given as successor lists of [vertex, weight]: each vertex at least `weight`
 * right of every predecessor, as far left as that allows. On a cycle, the lowest unplaced
 * vertex is placed after its placed predecessors and the walk goes on.
 */
function longestPath(succ) {
  const count = succ.length;
  const indegree = new Int32Array(count);
  for (const list of succ) for (const [b] of list) indegree[b] += 1;
  const layer = new Int32Array(count);
  const placed = new Uint8Array(count);
  const queue = [];
  for (let v = 0; v < count; v++) if (indegree[v] === 0) queue.push(v);
  let head = 0;
  let nextForced = 0;
  for (let done = 0; done < count; ) {
    let v;
    if (head < queue.length) {
      v = queue[head++];
      if (placed[v]) continue; // forced earlier, on a cycle
    } else {
      while (placed[nextForced]) nextForced += 1;
      v = nextForced;
    }
    placed[v] = 1;
    done += 1;
    for (const [b, w] of succ[v]) {
      if (placed[b]) continue;
      layer[b] = Math.max(layer[b], layer[v] + w);
      indegree[b] -= 1;
      if (indegree[b] === 0) queue.push(b);
    }
  }
  return layer;
}

/** Pairs of edges of a layout whose straight segments cross (edges sharing an end do not count). */
export function crossings(plan) {
  return crossingsOf(plan.edges);
}

function crossingsOf(segments) {
  // Sorted by top end, a segment can only cross those that start above its bottom end (edges
  // are short vertically and long horizontally, so this sweep looks at few pairs).
  const list = segments
    .map((s) => [s.x1, s.y1, s.x2, s.y2, Math.min(s.y1, s.y2), Math.max(s.y1, s.y2)])
    .sort((a, b) => a[4] - b[4]);
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const [ax, ay, bx, by, , bottom] = list[i];
    const left = Math.min(ax, bx);
    const right = Math.max(ax, bx);
    for (let j = i + 1; j < list.length && list[j][4] < bottom; j++) {
      const [cx, cy, dx, dy] = list[j];
      if (Math.max(cx, dx) <= left || Math.min(cx, dx) >= right) continue;
      if (cross(ax, ay, bx, by, cx, cy, dx, dy)) total += 1;
    }
  }
  return total;
}

/** Pairs of one segment from `mine` and one from `theirs` that cross. */
function crossingsAcross(mine, theirs) {
  let total = 0;
  for (const s of mine) for (const t of theirs) if (cross(s.x1, s.y1, s.x2, s.y2, t.x1, t.y1, t.x2, t.y2)) total += 1;
  return total;
}

/** Whether segment a-b properly crosses segment c-d (touching ends do not count). */
function cross(ax, ay, bx, by, cx, cy, dx, dy) {
  return side(ax, ay, bx, by, cx, cy) * side(ax, ay, bx, by, dx, dy) < 0 && side(cx, cy, dx, dy, ax, ay) * side(cx, cy, dx, dy, bx, by) < 0;
}

/** -1, 0 or 1: which side of the line p-q the point r lies on. */
function side(px, py, qx, qy, rx, ry) {
  return Math.sign((qx - px) * (ry - py) - (qy - py) * (rx - px));
}

/** The SVG path of an edge from (x1, y1) to (x2, y2), leaving and entering horizontally. */
export function edgePath({ x1, y1, x2, y2 }) {
  const dx = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
}

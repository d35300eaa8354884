// The page's pure modules without a browser: layout (nesting, crossings), view (containment,
// roll-up, "what blocks", search) and zoom.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { applyMessage, emptyState } from '../../bins/openova-flow-server/ui/fold.mjs';
import { NODE_H, NODE_W, crossings, layout } from '../../bins/openova-flow-server/ui/layout.mjs';
import { blocking, containment, rollUp, rollUps, search } from '../../bins/openova-flow-server/ui/view.mjs';
import { MAX_SCALE, MIN_SCALE, centreOn, fit, zoomAt } from '../../bins/openova-flow-server/ui/zoom.mjs';
import { estate } from './estate.mjs';

const node = (id, status = 'succeeded', extra = {}) => ({ id, flowId: 'f', label: id, status, ...extra });
const rel = (fromId, toId, type = 'finish-to-start') => ({ fromId, toId, type });

function fold(nodes, relationships) {
  const state = emptyState();
  applyMessage(state, 'f', { type: 'snapshot', flow: { id: 'f', status: 'running', startedAt: 1 }, nodes, relationships });
  return state;
}

function estateState(regions, releases) {
  const state = emptyState();
  for (const m of estate({ regions, releases, flowId: 'f' })) applyMessage(state, 'f', m);
  return state;
}

const inside = (inner, outer) => inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w && inner.y + inner.h <= outer.y + outer.h;
const boxOf = (plan, id) => {
  const n = plan.nodes.get(id);
  return n ? { x: n.x, y: n.y, w: NODE_W, h: NODE_H } : plan.groups.find((g) => g.id === id);
};

test('the estate generator gives 3 × 60 releases and about 150 finish-to-start edges, reproducibly', () => {
  const [flow, nodes, rels] = estate();
  assert.equal(flow.type, 'upsert-flow');
  assert.equal(nodes.nodes.length, 183);
  const fs = rels.relationships.filter((r) => r.type === 'finish-to-start');
  assert.ok(fs.length >= 140 && fs.length <= 170, `${fs.length} edges`);
  assert.deepEqual(estate(), [flow, nodes, rels]);
  // A release is succeeded only when everything it waits on is.
  const status = new Map(nodes.nodes.map((n) => [n.id, n.status]));
  for (const r of fs) if (status.get(r.toId) === 'succeeded') assert.equal(status.get(r.fromId), 'succeeded');
});

test('barycenter sweeps reduce edge crossings on the 3 × 60 estate', (t) => {
  const state = estateState(3, 60);
  const before = crossings(layout(state, { sweeps: 0 }));
  const plan = layout(state);
  const after = crossings(plan);
  t.diagnostic(`crossings on the 3 × 60 estate: ${before} in id order, ${after} after the sweeps`);
  assert.ok(after < before * 0.75, `${before} -> ${after}`);

  // Every edge points right; no two boxes overlap; every release lies in its region's band.
  for (const e of plan.edges) assert.ok(e.x1 < e.x2, `${e.from} -> ${e.to}`);
  const boxes = [...plan.nodes].map(([id, n]) => ({ id, ...n }));
  const cells = new Set(boxes.map((b) => `${b.x},${b.y}`));
  assert.equal(cells.size, boxes.length);
  for (const b of boxes) {
    const region = plan.groups.find((g) => g.id === state.nodes.get(b.id).region);
    assert.ok(inside({ x: b.x, y: b.y, w: NODE_W, h: NODE_H }, region), `${b.id} in its region`);
  }
});

test('two crossing edges are uncrossed', () => {
  // In id order a sits above b and c above d, so a -> d and b -> c cross.
  const state = fold([node('a'), node('b'), node('c'), node('d')], [rel('a', 'd'), rel('b', 'c')]);
  assert.equal(crossings(layout(state, { sweeps: 0 })), 1);
  assert.equal(crossings(layout(state)), 0);
});

test('a status change never moves a box', () => {
  const state = estateState(2, 30);
  const plan = layout(state);
  for (const n of state.nodes.values()) n.status = 'failed';
  assert.deepEqual([...layout(state).nodes], [...plan.nodes]);
});

// region r: Kustomization k1 (h1, h2, and k2 holding h3), Kustomization k3 (h5) after k1, h4 directly.
const NESTED = fold(
  ['r', 'k1', 'k2', 'k3', 'h1', 'h2', 'h3', 'h4', 'h5'].map((id) => node(id, id === 'h3' ? 'failed' : 'succeeded')),
  [
    rel('k1', 'r', 'contains'),
    rel('k3', 'r', 'contains'),
    rel('k2', 'k1', 'contains'),
    rel('h1', 'k1', 'contains'),
    rel('h2', 'k1', 'contains'),
    rel('h3', 'k2', 'contains'),
    rel('h4', 'r', 'contains'),
    rel('h5', 'k3', 'contains'),
    rel('h1', 'h2'),
    rel('k1', 'k3'),
    rel('h4', 'h5'),
  ],
);

test('containment nests region, Kustomization, HelmRelease, and edges between groups point right', () => {
  const tree = containment(NESTED);
  assert.deepEqual(tree.roots, ['r']);
  assert.deepEqual(tree.children.get('k1'), ['h1', 'h2', 'k2']);
  const plan = layout(NESTED);
  assert.deepEqual(plan.groups.map((g) => [g.id, g.depth]), [['r', 0], ['k1', 1], ['k2', 2], ['k3', 1]]);
  for (const [child, parent] of [['h1', 'k1'], ['h2', 'k1'], ['k2', 'k1'], ['h3', 'k2'], ['k1', 'r'], ['k3', 'r'], ['h4', 'r'], ['h5', 'k3']]) {
    assert.ok(inside(boxOf(plan, child), boxOf(plan, parent)), `${child} inside ${parent}`);
  }
  for (const other of ['h4', 'h5']) assert.ok(!inside(boxOf(plan, other), boxOf(plan, 'k1')), `${other} outside k1`);
  // k3 waits on k1 as a whole: it starts right of everything in k1.
  const k1 = boxOf(plan, 'k1');
  assert.ok(boxOf(plan, 'k3').x > k1.x + k1.w);
  const groupEdge = plan.edges.find((e) => e.from === 'k1' && e.to === 'k3');
  assert.equal(groupEdge.x1, k1.x + k1.w);
});

test('a collapsed group is one box that stands for everything inside it', () => {
  const plan = layout(NESTED, { collapsed: new Set(['k1']) });
  assert.deepEqual([...plan.nodes.keys()].sort(), ['h4', 'h5', 'k1']);
  assert.equal(plan.nodes.get('k1').collapsed, true);
  assert.deepEqual(plan.groups.map((g) => g.id), ['r', 'k3']);
  assert.deepEqual(plan.edges.map((e) => `${e.from}>${e.to}`).sort(), ['h4>h5', 'k1>k3']);
  const root = layout(NESTED, { collapsed: new Set(['r']) });
  assert.equal(root.nodes.size, 0);
  assert.deepEqual(root.groups.map((g) => [g.id, g.collapsed]), [['r', true]]);
});

test('roll-ups: failed, then running, then succeeded only if all succeeded, else pending', () => {
  assert.equal(rollUp(['succeeded', 'running', 'failed']), 'failed');
  assert.equal(rollUp(['succeeded', 'running', 'pending']), 'running');
  assert.equal(rollUp(['succeeded', 'succeeded']), 'succeeded');
  assert.equal(rollUp(['succeeded', 'waiting']), 'pending');
  assert.equal(rollUp([]), 'pending');
  const ups = rollUps(NESTED, containment(NESTED));
  assert.deepEqual(Object.fromEntries(ups), { r: 'failed', k1: 'failed', k2: 'failed', k3: 'succeeded' });
});

test('"what blocks": not succeeded, upstream through finish-to-start only, and the holding groups', () => {
  const state = fold(
    [node('r'), node('a'), node('b'), node('c', 'pending'), node('d'), node('e', 'running'), node('x')],
    [rel('a', 'r', 'contains'), rel('c', 'r', 'contains'), rel('a', 'b'), rel('b', 'c'), rel('d', 'c', 'triggers'), rel('c', 'x'), rel('x', 'e', 'start-to-start')],
  );
  assert.deepEqual([...blocking(state, containment(state))].sort(), ['a', 'b', 'c', 'e', 'r']);
  const plan = layout(state, { only: blocking(state, containment(state)) });
  assert.deepEqual([...plan.nodes.keys()].sort(), ['a', 'b', 'c', 'e']);
});

test('search matches ids and labels, ignoring case; a blank query matches nothing', () => {
  const state = fold([node('fsn1/bp-loki', 'succeeded', { label: 'Loki' }), node('hel1/bp-tempo')], []);
  assert.deepEqual(search(state, 'LOKI'), ['fsn1/bp-loki']);
  assert.deepEqual(search(state, 'bp-'), ['fsn1/bp-loki', 'hel1/bp-tempo']);
  assert.deepEqual(search(state, '  '), []);
});

test('zoom: fit shows the whole content, zooming keeps the pointer still, scales are bounded', () => {
  const view = { width: 1000, height: 600 };
  const t = fit({ x: 0, y: 0, width: 3000, height: 2600 }, view);
  assert.ok(t.x >= 0 && t.y >= 0 && t.x + 3000 * t.k <= view.width && t.y + 2600 * t.k <= view.height);
  assert.deepEqual(fit({ x: 0, y: 0, width: 100, height: 100 }, view).k, 1);
  const z = zoomAt(t, 2, 300, 200);
  assert.ok(Math.abs((300 - t.x) / t.k - (300 - z.x) / z.k) < 1e-9, 'the point under the pointer stays');
  assert.equal(zoomAt(t, 1e6, 0, 0).k, MAX_SCALE);
  assert.equal(zoomAt(t, 1e-6, 0, 0).k, MIN_SCALE);
  const c = centreOn(50, 60, view, 1);
  assert.deepEqual([c.x + 50, c.y + 60], [500, 300]);
});

test('random nested flows: boxes and groups never overlap and always lie inside their group', () => {
  // A seeded generator (mulberry32), so a failure names a reproducible seed.
  for (let seed = 1; seed <= 150; seed++) {
    let a = seed;
    const next = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = (list) => list[Math.floor(next() * list.length)];
    const ids = ['r0', 'r1'];
    const rels = [];
    const groups = ['r0', 'r1'];
    for (let i = 0; i < 4; i++) {
      const id = `k${i}`;
      rels.push(rel(id, pick(groups), 'contains'));
      ids.push(id);
      groups.push(id);
    }
    for (let i = 0; i < 14; i++) {
      const id = `h${i}`;
      if (next() < 0.9) rels.push(rel(id, pick(groups), 'contains'));
      ids.push(id);
    }
    for (let i = 0; i < 18; i++) {
      const from = pick(ids);
      const to = pick(ids);
      rels.push(rel(from, to, next() < 0.8 ? 'finish-to-start' : 'triggers'));
    }
    const state = fold(ids.map((id) => node(id, pick(['succeeded', 'failed', 'running']))), rels);
    const collapsed = new Set(groups.filter(() => next() < 0.25));
    const only = next() < 0.3 ? blocking(state, containment(state)) : null;
    const plan = layout(state, { collapsed, only });
    const where = `seed ${seed}`;

    const cells = [...plan.nodes.values()].map((n) => `${n.x},${n.y}`);
    assert.equal(new Set(cells).size, cells.length, `${where}: two boxes share a place`);
    const groupBoxes = new Map(plan.groups.map((g) => [g.id, g]));
    for (const [id, n] of plan.nodes) {
      if (n.group === '') continue;
      assert.ok(inside({ x: n.x, y: n.y, w: NODE_W, h: NODE_H }, groupBoxes.get(n.group)), `${where}: ${id} inside ${n.group}`);
    }
    for (const g of plan.groups) {
      const parent = groupBoxes.get(g.parent);
      if (parent) {
        assert.ok(inside(g, parent), `${where}: ${g.id} inside ${g.parent}`);
        assert.ok(g.x > parent.x && g.x + g.w < parent.x + parent.w, `${where}: ${g.id} is drawn with a margin in ${g.parent}`);
      }
    }
    const meet = (p, q) => p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
    for (const g of plan.groups) {
      for (const h of plan.groups) {
        if (g.id < h.id && g.parent === h.parent) assert.ok(!meet(g, h), `${where}: sibling groups ${g.id} and ${h.id} overlap`);
      }
      for (const [id, n] of plan.nodes) {
        if (n.group === g.parent) assert.ok(!meet({ x: n.x, y: n.y, w: NODE_W, h: NODE_H }, g), `${where}: ${id} overlaps group ${g.id}`);
      }
    }
    for (const e of plan.edges) {
      assert.ok(plan.nodes.has(e.from) || groupBoxes.has(e.from), `${where}: edge from a drawn box`);
      assert.ok(plan.nodes.has(e.to) || groupBoxes.has(e.to), `${where}: edge to a drawn box`);
    }
    if (only) for (const id of plan.nodes.keys()) assert.ok(only.has(id), `${where}: ${id} is in the filter`);
  }
});

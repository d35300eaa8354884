// The page's fold and layout, without a browser: the contract's semantics and a layout that
// depends on structure only.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { applyMessage, countStatuses, emptyState } from '../../bins/openova-flow-server/ui/fold.mjs';
import { layout } from '../../bins/openova-flow-server/ui/layout.mjs';

const node = (id, status, extra = {}) => ({ id, flowId: 'f', label: id, status, ...extra });
const rel = (fromId, toId, type, extra = {}) => ({ fromId, toId, type, ...extra });

function fold(messages) {
  const state = emptyState();
  for (const m of messages) applyMessage(state, 'f', m);
  return state;
}

const SNAPSHOT = {
  type: 'snapshot',
  flow: { id: 'f', status: 'running', startedAt: 1 },
  nodes: [node('r1', 'running'), node('r1/a', 'succeeded'), node('r1/b', 'failed'), node('x', 'pending')],
  relationships: [
    rel('r1/a', 'r1', 'contains'),
    rel('r1/b', 'r1', 'contains'),
    rel('r1/a', 'r1/b', 'finish-to-start'),
    rel('r1/a', 'r1/b', 'start-to-start', { toFlowId: 'other' }),
    rel('r1/b', 'x', 'triggers'),
  ],
};

test('delete-nodes prunes relationships of this flow touching the nodes, like the server', () => {
  const state = fold([SNAPSHOT, { type: 'delete-nodes', ids: ['r1/b', 'missing'] }]);
  assert.deepEqual([...state.nodes.keys()].sort(), ['r1', 'r1/a', 'x']);
  assert.deepEqual(
    [...state.rels.values()].map((r) => `${r.fromId}>${r.toId}:${r.type}`).sort(),
    ['r1/a>r1/b:start-to-start', 'r1/a>r1:contains'],
  );
});

test('snapshot resets, upserts replace by key, delete-rels removes by key', () => {
  const changed = [];
  const state = emptyState();
  for (const m of [
    SNAPSHOT,
    { type: 'upsert-nodes', nodes: [node('r1/a', 'running')] },
    { type: 'upsert-rels', relationships: [rel('r1/a', 'r1/b', 'finish-to-start', { lag: 5 })] },
    { type: 'delete-rels', pairs: [rel('r1/b', 'x', 'triggers')] },
    { type: 'upsert-flow', flow: { id: 'f', status: 'failed', startedAt: 1 } },
  ]) changed.push(applyMessage(state, 'f', m));
  assert.deepEqual(changed[1], ['r1/a']);
  assert.equal(state.nodes.get('r1/a').status, 'running');
  assert.equal(state.rels.size, 4);
  assert.equal([...state.rels.values()].find((r) => r.type === 'finish-to-start').lag, 5);
  assert.equal(state.flow.status, 'failed');
  const reset = fold([SNAPSHOT, { type: 'snapshot', flow: { id: 'f', status: 'pending', startedAt: 2 }, nodes: [], relationships: [] }]);
  assert.equal(reset.nodes.size + reset.rels.size, 0);
  assert.equal(applyMessage(emptyState(), 'f', { type: 'future-type' }), null);
});

test('layout: regions become bands, edges point right, statuses never move nodes', () => {
  const state = fold([SNAPSHOT]);
  const plan = layout(state);
  assert.deepEqual(plan.groups.map((b) => b.id), ['r1', '']);
  assert.ok(!plan.nodes.has('r1'), 'the region is a band, not a node');
  assert.equal(plan.nodes.get('r1/a').group, 'r1');
  assert.equal(plan.nodes.get('x').group, '');
  for (const { rel: r } of plan.edges) assert.ok(plan.nodes.get(r.fromId).x < plan.nodes.get(r.toId).x);
  assert.deepEqual(plan.edges.map((e) => e.rel.type).sort(), ['finish-to-start', 'start-to-start', 'triggers']);

  applyMessage(state, 'f', { type: 'upsert-nodes', nodes: [node('r1/a', 'failed'), node('x', 'odd')] });
  const again = layout(state);
  assert.deepEqual([...again.nodes], [...plan.nodes]);
});

test('layout survives a dependency cycle', () => {
  const state = fold([{ ...SNAPSHOT, relationships: [rel('r1/a', 'r1/b', 'finish-to-start'), rel('r1/b', 'r1/a', 'finish-to-start')] }]);
  const plan = layout(state);
  assert.equal(plan.nodes.size, 4);
});

test('counts list known statuses first', () => {
  assert.deepEqual(countStatuses(['zeta', 'failed', 'pending', 'failed']), [['pending', 1], ['failed', 2], ['zeta', 1]]);
});

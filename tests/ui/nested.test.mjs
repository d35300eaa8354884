// The nested live page (issue 16): region -> Kustomization -> HelmRelease drawn as boxes in
// boxes, groups collapse, and a collapsed group shows its status roll-up as it changes live.
// The flow is written by hand in the mapper's shape (`contains` runs child -> parent).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { layoutBoxes, openBrowser, outside } from './browser.mjs';
import { freePort, post, startServer } from './server.mjs';

const WAIT = { timeout: 5000 };
const FLOW = 'nested';

const kustomization = (id, name, status) => ({
  id,
  flowId: FLOW,
  label: name,
  status,
  region: 'fsn1',
  meta: { kind: 'Kustomization', name, namespace: 'flux-system' },
});
const release = (id, name, status) => ({
  id,
  flowId: FLOW,
  label: name,
  status,
  region: 'fsn1',
  meta: { kind: 'HelmRelease', name, namespace: 'flux-system' },
});
const NODES = [
  { id: 'fsn1', flowId: FLOW, label: 'fsn1', status: 'running', region: 'fsn1' },
  kustomization('fsn1/kustomization/infra', 'infra', 'succeeded'),
  kustomization('fsn1/kustomization/apps', 'apps', 'running'),
  kustomization('fsn1/kustomization/apps-data', 'apps-data', 'succeeded'),
  release('fsn1/cilium', 'cilium', 'succeeded'),
  release('fsn1/cert-manager', 'cert-manager', 'succeeded'),
  release('fsn1/postgres', 'postgres', 'succeeded'),
  release('fsn1/keycloak', 'keycloak', 'running'),
  release('fsn1/grafana', 'grafana', 'pending'),
];
const contains = (fromId, toId) => ({ fromId, toId, type: 'contains' });
const after_ = (fromId, toId) => ({ fromId, toId, type: 'finish-to-start' });
const RELS = [
  contains('fsn1/kustomization/infra', 'fsn1'),
  contains('fsn1/kustomization/apps', 'fsn1'),
  contains('fsn1/kustomization/apps-data', 'fsn1/kustomization/apps'),
  contains('fsn1/cilium', 'fsn1/kustomization/infra'),
  contains('fsn1/cert-manager', 'fsn1/kustomization/infra'),
  contains('fsn1/postgres', 'fsn1/kustomization/apps-data'),
  contains('fsn1/keycloak', 'fsn1/kustomization/apps'),
  contains('fsn1/grafana', 'fsn1'),
  after_('fsn1/kustomization/infra', 'fsn1/kustomization/apps'),
  after_('fsn1/cilium', 'fsn1/cert-manager'),
  after_('fsn1/postgres', 'fsn1/keycloak'),
];
const MESSAGES = [
  { type: 'upsert-flow', flow: { id: FLOW, status: 'running', startedAt: 1767225600000 } },
  { type: 'upsert-nodes', nodes: NODES },
  { type: 'upsert-rels', relationships: RELS },
];
const INFRA = 'fsn1/kustomization/infra';
const AUTH = { authorization: 'Bearer ingest-secret' };

let server;
let browser;
let page;

before(async () => {
  server = await startServer(await freePort(), { FLOW_SERVER_INGEST_TOKENS: 'ingest-secret' });
  await post(server.url, FLOW, MESSAGES, AUTH);
  browser = await openBrowser({ width: 1500, height: 820 });
  page = browser.page;
  await page.goto(`${server.url}/ui/flows/${FLOW}`);
  await page.waitForFunction((n) => document.querySelectorAll('[data-node-id]').length === n, NODES.length, WAIT);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const attrs = (id) =>
  page.evaluate((nodeId) => {
    const e = document.querySelector(`[data-node-id="${nodeId}"]`);
    return e && { status: e.dataset.status, collapsed: e.dataset.collapsed ?? null, text: e.textContent };
  }, id);

test('containment is drawn nested: region, then Kustomization, then HelmRelease', async () => {
  const { nodes: boxes } = await layoutBoxes(page);
  const parentOf = new Map(RELS.filter((r) => r.type === 'contains').map((r) => [r.fromId, r.toId]));
  for (const [child, parent] of parentOf) assert.ok(!outside(boxes[child], boxes[parent]), `${child} is drawn inside ${parent}`);
  for (const k of ['fsn1/kustomization/infra', 'fsn1/kustomization/apps']) {
    assert.ok(outside(boxes['fsn1/grafana'], boxes[k]), `grafana sits in the region, not in ${k}`);
  }
  // apps waits on infra: it is drawn right of it.
  assert.ok(boxes['fsn1/kustomization/apps'].left > boxes[INFRA].right);
  const kinds = await page.evaluate(() => [...document.querySelectorAll('g.group[data-node-id]')].map((g) => g.dataset.nodeId).sort());
  assert.deepEqual(kinds, ['fsn1', 'fsn1/kustomization/apps', 'fsn1/kustomization/apps-data', INFRA]);
});

test('a collapsed group shows its roll-up, and a live status change rolls up into it', async () => {
  await page.click(`[data-node-id="${INFRA}"] [data-action="toggle-group"]`);
  await page.waitForFunction((id) => document.querySelector(`[data-node-id="${id}"]`)?.dataset.collapsed === 'true', INFRA, WAIT);
  for (const hidden of ['fsn1/cilium', 'fsn1/cert-manager']) assert.equal(await attrs(hidden), null, `${hidden} is folded away`);
  let infra = await attrs(INFRA);
  assert.equal(infra.status, 'succeeded');
  assert.match(infra.text, /succeeded · 2 inside/);

  // A search for a folded release marks the collapsed group that holds it.
  await page.fill('input[type="search"]', 'cert-manager');
  await page.waitForFunction((id) => document.querySelector(`[data-node-id="${id}"]`).dataset.matchInside === 'true', INFRA, WAIT);
  assert.equal(await page.locator('[data-match]').count(), 0);
  assert.equal(await page.textContent('#search-count'), '0 found, more in 1 collapsed');
  await page.fill('input[type="search"]', '');
  await page.waitForFunction(() => document.querySelectorAll('[data-match-inside]').length === 0, null, WAIT);

  const certManager = NODES.find((n) => n.id === 'fsn1/cert-manager');
  await post(server.url, FLOW, [{ type: 'upsert-nodes', nodes: [{ ...certManager, status: 'failed' }] }], AUTH);
  await page.waitForFunction((id) => document.querySelector(`[data-node-id="${id}"]`).dataset.status === 'failed', INFRA, WAIT);
  infra = await attrs(INFRA);
  assert.match(infra.text, /failed · 2 inside/);
  const fill = await page.evaluate((id) => getComputedStyle(document.querySelector(`[data-node-id="${id}"] .node-box`)).fill, INFRA);
  assert.equal(fill, 'rgb(244, 166, 166)', 'drawn in the failed colour');
  assert.equal((await attrs('fsn1')).status, 'failed', 'the region rolls up too');

  // Expanding shows the members again, with the new status.
  await page.click(`[data-node-id="${INFRA}"] [data-action="toggle-group"]`);
  await page.waitForFunction(() => document.querySelector('[data-node-id="fsn1/cert-manager"]')?.dataset.status === 'failed', null, WAIT);
  assert.equal((await attrs(INFRA)).collapsed, 'false');
});

test('collapsing a region folds everything in it into its band', async () => {
  await page.click('[data-node-id="fsn1"] > [data-action="toggle-group"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-node-id]').length === 1, null, WAIT);
  assert.equal((await attrs('fsn1')).collapsed, 'true');
  await page.click('[data-node-id="fsn1"] > [data-action="toggle-group"]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-node-id]').length === n, NODES.length, WAIT);
});

test("the mapper's own output for nested Kustomizations is drawn nested", async () => {
  // testdata/kustomization/edge-nested: the mapper's golden messages for a Kustomization
  // (apps) inside another (flux-system), with infra beside it and releases inside both.
  const golden = JSON.parse(await readFile(new URL('../../testdata/kustomization/edge-nested/expected.json', import.meta.url), 'utf8'));
  const rels = golden.flatMap((m) => m.relationships || []);
  const ids = golden.flatMap((m) => m.nodes || []).map((n) => n.id);
  await post(server.url, 'golden', golden, AUTH);
  await page.goto(`${server.url}/ui/flows/golden`);
  await page.waitForFunction((n) => document.querySelectorAll('[data-node-id]').length === n, ids.length, WAIT);
  const { nodes: boxes } = await layoutBoxes(page);
  const contained = rels.filter((r) => r.type === 'contains');
  assert.ok(contained.length >= 5);
  for (const r of contained) assert.ok(!outside(boxes[r.fromId], boxes[r.toId]), `${r.fromId} is drawn inside ${r.toId}`);
  for (const r of rels.filter((x) => x.type === 'finish-to-start')) {
    assert.ok(boxes[r.fromId].right < boxes[r.toId].left, `${r.toId} is drawn right of ${r.fromId}`);
  }
});

test('a group without a node of its own is no graph node but still rolls up live', async () => {
  const bare = ['x', 'y'].map((id) => ({ id, flowId: 'bare', label: id, status: 'succeeded' }));
  await post(server.url, 'bare', [
    { type: 'upsert-nodes', nodes: bare },
    { type: 'upsert-rels', relationships: [contains('x', 'r9'), contains('y', 'r9'), after_('x', 'y')] },
  ], AUTH);
  await page.goto(`${server.url}/ui/flows/bare`);
  await page.waitForFunction(() => document.querySelectorAll('[data-node-id]').length === 2, null, WAIT);
  const group = 'g.group[data-group="r9"]';
  assert.equal(await page.getAttribute(group, 'data-node-id'), null);
  assert.equal(await page.getAttribute(group, 'data-status'), 'succeeded');
  await post(server.url, 'bare', [{ type: 'upsert-nodes', nodes: [{ ...bare[0], status: 'failed' }] }], AUTH);
  await page.waitForFunction((sel) => document.querySelector(sel).dataset.status === 'failed', group, WAIT);
  assert.match(await page.textContent(`${group} .group-label`), /r9\s*failed/);
});

test('when nothing blocks, "show what blocks" says so', async () => {
  const done = ['a', 'b'].map((id) => ({ id, flowId: 'done', label: id, status: 'succeeded' }));
  await post(server.url, 'done', [{ type: 'upsert-nodes', nodes: done }, { type: 'upsert-rels', relationships: [after_('a', 'b')] }], AUTH);
  await page.goto(`${server.url}/ui/flows/done`);
  await page.waitForFunction(() => document.querySelectorAll('[data-node-id]').length === 2, null, WAIT);
  await page.click('[data-action="blocking"]');
  assert.equal(await page.locator('[data-node-id]').count(), 0);
  assert.equal(await page.textContent('#empty'), 'Nothing blocks: every node has succeeded.');
  assert.ok(await page.isVisible('#empty'));
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

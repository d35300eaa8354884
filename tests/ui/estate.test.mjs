// The live page at a real estate's size (issue 22): 3 regions × 60 HelmReleases from
// estate.mjs, in headless Chromium against a real openova-flow-server.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { layoutBoxes, openBrowser, outside } from './browser.mjs';
import { estate } from './estate.mjs';
import { freePort, post, startServer } from './server.mjs';

const AUTH = { authorization: 'Bearer ingest-secret' };
const TOKENS = { FLOW_SERVER_READ_TOKENS: 'read-secret', FLOW_SERVER_INGEST_TOKENS: 'ingest-secret' };
const WAIT = { timeout: 5000 };

const messages = estate({ regions: 3, releases: 60, flowId: 'estate' });
const nodes = new Map(messages[1].nodes.map((n) => [n.id, n]));
const rels = messages[2].relationships;
const dependencies = rels.filter((r) => r.type === 'finish-to-start');

/**
 * "Show what blocks", worked out here from the words: the nodes that are not
 * succeeded, every node upstream of those through finish-to-start edges, and their regions.
 */
function expectedBlocking(statusOf, edges = dependencies) {
  const shown = new Set([...nodes.keys()].filter((id) => statusOf(id) !== 'succeeded'));
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of edges) {
      if (shown.has(r.toId) && !shown.has(r.fromId)) {
        shown.add(r.fromId);
        grew = true;
      }
    }
  }
  for (const r of rels) if (r.type === 'contains' && shown.has(r.fromId)) shown.add(r.toId);
  return [...shown].sort();
}

let server;
let browser;
let page;

before(async () => {
  server = await startServer(await freePort(), TOKENS);
  await post(server.url, 'estate', messages, AUTH);
  browser = await openBrowser({ width: 1500, height: 820 });
  page = browser.page;
  await page.goto(`${server.url}/ui/flows/estate?access_token=read-secret`);
  await page.waitForFunction((n) => document.querySelectorAll('[data-node-id]').length === n, nodes.size, WAIT);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const drawnIds = () => page.evaluate(() => [...document.querySelectorAll('[data-node-id]')].map((e) => e.dataset.nodeId).sort());
const scale = () => page.evaluate(() => Number(document.getElementById('canvas').dataset.scale));

async function assertAllInside() {
  const { canvas, nodes: boxes } = await layoutBoxes(page);
  const out = Object.entries(boxes).filter(([, box]) => outside(box, canvas)).map(([id]) => id);
  assert.deepEqual(out, [], 'every [data-node-id] lies inside the canvas');
  return { canvas, boxes };
}

test('every node of the graph, and nothing else, carries its data-node-id', async () => {
  assert.deepEqual(await drawnIds(), [...nodes.keys()].sort());
  const outsideGraph = await page.evaluate(() => [...document.querySelectorAll('[data-node-id]')].filter((e) => !e.closest('#viewport')).length);
  assert.equal(outsideGraph, 0);
});

test('a graph larger than the window opens fitted', async () => {
  assert.ok((await scale()) < 1, 'the 3 × 60 estate does not fit at scale 1, so it is scaled down');
  await assertAllInside();
});

test('buttons, keys, the wheel and dragging zoom and pan; fit shows everything again', async () => {
  const id = 'hel1/bp-00-cilium';
  const width = async () => (await layoutBoxes(page)).nodes[id].width;
  const fitted = { scale: await scale(), width: await width() };

  await page.click('[data-action="zoom-in"]');
  assert.ok((await scale()) > fitted.scale);
  assert.ok((await width()) > fitted.width * 1.2, 'nodes are drawn larger');
  await page.click('[data-action="zoom-out"]');
  await page.click('[data-action="zoom-out"]');
  assert.ok((await scale()) < fitted.scale);
  assert.ok((await width()) < fitted.width);

  await page.locator('#canvas').focus();
  const beforeKey = await scale();
  await page.keyboard.press('+');
  assert.ok((await scale()) > beforeKey, '+ zooms in');
  await page.keyboard.press('-');
  await page.keyboard.press('-');
  assert.ok((await scale()) < beforeKey, '- zooms out');

  const { canvas } = await layoutBoxes(page);
  const [cx, cy] = [(canvas.left + canvas.right) / 2, (canvas.top + canvas.bottom) / 2];
  await page.mouse.move(cx, cy);
  const beforeWheel = await scale();
  await page.mouse.wheel(0, -400);
  await page.waitForFunction((k) => Number(document.getElementById('canvas').dataset.scale) > k, beforeWheel, WAIT);

  const from = (await layoutBoxes(page)).nodes[id];
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 60, cy + 30, { steps: 4 });
  await page.mouse.up();
  const to = (await layoutBoxes(page)).nodes[id];
  assert.ok(Math.abs(to.left - from.left - 60) < 1 && Math.abs(to.top - from.top - 30) < 1, 'dragging pans by the drag');

  await page.click('[data-action="fit"]');
  await assertAllInside();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('0');
  await assertAllInside();
});

test('search highlights exactly the release searched for and centres it', async () => {
  const id = 'nbg1/bp-37-loki';
  assert.ok(nodes.has(id));
  await page.fill('input[type="search"]', id);
  await page.waitForFunction(() => document.querySelectorAll('[data-match="true"]').length > 0, null, WAIT);
  const matched = await page.evaluate(() => [...document.querySelectorAll('[data-match="true"]')].map((e) => e.dataset.nodeId));
  assert.deepEqual(matched, [id]);
  const { canvas, nodes: boxes } = await layoutBoxes(page);
  const box = boxes[id];
  assert.ok(Math.abs((box.left + box.right) / 2 - (canvas.left + canvas.right) / 2) < 2, 'centred across');
  assert.ok(Math.abs((box.top + box.bottom) / 2 - (canvas.top + canvas.bottom) / 2) < 2, 'centred down');

  // By label: every region has a release of that name.
  await page.fill('input[type="search"]', 'BP-37-LOKI');
  await page.waitForFunction(() => document.querySelectorAll('[data-match="true"]').length === 3, null, WAIT);
  await page.fill('input[type="search"]', '');
  await page.waitForFunction(() => document.querySelectorAll('[data-match]').length === 0, null, WAIT);
});

test('finish-to-start edges carry no label, only a tooltip', async () => {
  const edges = await page.evaluate(() =>
    [...document.querySelectorAll('g.edge')].map((g) => ({
      type: g.dataset.type,
      labels: [...g.querySelectorAll('.edge-label')].map((t) => t.textContent),
      title: g.querySelector('title').textContent,
    })),
  );
  assert.equal(edges.length, dependencies.length);
  for (const edge of edges) {
    assert.deepEqual(edge.labels, []);
    assert.match(edge.title, /\(finish-to-start\)$/);
  }
});

test('a status update changes the node in place without laying the graph out again', async () => {
  const count = (name) => page.evaluate((n) => performance.getEntriesByName(n).length, name);
  const layouts = await count('flow:layout');
  const updates = await count('flow:update');
  const node = nodes.get('nbg1/bp-14-kyverno');
  assert.equal(node.status, 'succeeded');
  await post(server.url, 'estate', [{ type: 'upsert-nodes', nodes: [{ ...node, status: 'running' }] }], AUTH);
  await page.waitForFunction(() => document.querySelector('[data-node-id="nbg1/bp-14-kyverno"]').dataset.status === 'running', null, WAIT);
  await page.waitForFunction(() => document.querySelector('[data-node-id="nbg1"]').dataset.status === 'running', null, WAIT);
  assert.equal(await count('flow:layout'), layouts);
  assert.ok((await count('flow:update')) > updates);
  await post(server.url, 'estate', [{ type: 'upsert-nodes', nodes: [node] }], AUTH);
  await page.waitForFunction(() => document.querySelector('[data-node-id="nbg1"]').dataset.status === 'succeeded', null, WAIT);
});

test('"show what blocks" shows exactly what is not done and what it waits on, live', async () => {
  const status = new Map([...nodes].map(([id, n]) => [id, n.status]));
  const expected = expectedBlocking((id) => status.get(id));
  assert.ok(expected.length > 10 && expected.length < nodes.size, `a real subset (${expected.length})`);
  assert.ok(!expected.includes('nbg1'), 'a region where everything succeeded is hidden');

  await page.click('[data-action="blocking"]');
  assert.equal(await page.getAttribute('[data-action="blocking"]', 'aria-pressed'), 'true');
  assert.deepEqual(await drawnIds(), expected);
  await assertAllInside();

  // The failed release succeeds: it and what only it waited on leave the view.
  const failed = [...nodes.values()].find((n) => n.status === 'failed' && n.meta.kind === 'HelmRelease');
  status.set(failed.id, 'succeeded');
  const after = expectedBlocking((id) => status.get(id));
  assert.ok(after.length < expected.length && !after.includes(failed.id));
  await post(server.url, 'estate', [{ type: 'upsert-nodes', nodes: [{ ...failed, status: 'succeeded' }] }], AUTH);
  await page.waitForFunction((want) => {
    const ids = [...document.querySelectorAll('[data-node-id]')].map((e) => e.dataset.nodeId).sort();
    return JSON.stringify(ids) === JSON.stringify(want);
  }, after, WAIT);

  // A new edge makes a release of the finished region upstream of a waiting one: it and its
  // region join the view.
  const waiting = [...nodes.values()].find((n) => n.status === 'pending');
  const edge = { fromId: 'nbg1/bp-04-ingress-nginx', toId: waiting.id, type: 'finish-to-start' };
  assert.ok(nodes.has(edge.fromId) && !after.includes(edge.fromId));
  const grown = expectedBlocking((id) => status.get(id), [...dependencies, edge]);
  assert.ok(grown.includes(edge.fromId) && grown.includes('nbg1'));
  await post(server.url, 'estate', [{ type: 'upsert-rels', relationships: [edge] }], AUTH);
  await page.waitForFunction((want) => {
    const ids = [...document.querySelectorAll('[data-node-id]')].map((e) => e.dataset.nodeId).sort();
    return JSON.stringify(ids) === JSON.stringify(want);
  }, grown, WAIT);

  await page.click('[data-action="blocking"]');
  assert.equal(await page.getAttribute('[data-action="blocking"]', 'aria-pressed'), 'false');
  assert.deepEqual(await drawnIds(), [...nodes.keys()].sort());
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

// The live flow page in headless Chromium against a real openova-flow-server.
//
// Run through run.sh (it installs playwright-core and Chromium and builds the server), or with
// OPENOVA_FLOW_SERVER_BIN=<server> node --test --test-concurrency=1 tests/ui/

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { openBrowser } from './browser.mjs';
import { freePort, post, startServer } from './server.mjs';

// Where to save the README's screenshot of the page; unset in tests, set by scripts/screenshot.
const SCREENSHOT = process.env.FLOW_UI_SCREENSHOT;
const READ = 'read-secret';
const INGEST = 'ingest-secret';
const TOKENS = { FLOW_SERVER_READ_TOKENS: READ, FLOW_SERVER_INGEST_TOKENS: INGEST };
const AUTH = { authorization: `Bearer ${INGEST}` };

const fixture = (await readFile(new URL('./fixture.jsonl', import.meta.url), 'utf8'))
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line));
const fixtureNodes = fixture.find((m) => m.type === 'upsert-nodes').nodes;
const fixtureRels = fixture.find((m) => m.type === 'upsert-rels').relationships;
const regionIds = new Set(fixtureRels.filter((r) => r.type === 'contains').map((r) => r.toId));
const drawnNodes = fixtureNodes.filter((n) => !regionIds.has(n.id));
const dependencyRels = fixtureRels.filter((r) => r.type !== 'contains');

// The page's palette (app.css), as computed colours.
const FILLS = {
  pending: 'rgb(217, 222, 231)',
  running: 'rgb(156, 199, 242)',
  succeeded: 'rgb(166, 219, 160)',
  failed: 'rgb(244, 166, 166)',
  other: 'rgb(232, 228, 216)',
};
const KNOWN = ['pending', 'running', 'succeeded', 'failed'];

let port;
let server;
let browser;
let page;

before(async () => {
  port = await freePort();
  server = await startServer(port, TOKENS);
  await post(server.url, 'demo', fixture, AUTH);
  browser = await openBrowser({ width: 1500, height: 820 });
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** What the page shows, read from the DOM. */
async function shown() {
  return page.evaluate(() => {
    const box = (g) => {
      const [x, y] = g.getAttribute('transform').match(/-?[\d.]+/g).map(Number);
      return { x, y };
    };
    return {
      connection: document.getElementById('connection').dataset.state,
      nodes: [...document.querySelectorAll('g.node')].map((g) => ({
        id: g.dataset.nodeId,
        status: g.dataset.status,
        cls: g.getAttribute('class'),
        fill: getComputedStyle(g.querySelector('.node-box')).fill,
        text: [...g.querySelectorAll('text')].map((t) => t.textContent),
        ...box(g),
      })),
      edges: [...document.querySelectorAll('g.edge')].map((g) => ({
        from: g.dataset.from,
        to: g.dataset.to,
        type: g.dataset.type,
        label: g.querySelector('.edge-label')?.textContent ?? null,
      })),
      regions: [...document.querySelectorAll('g.group.root')].map((g) => {
        const r = g.querySelector('.group-box');
        return {
          id: g.dataset.nodeId,
          y: Number(r.getAttribute('y')),
          h: Number(r.getAttribute('height')),
          label: g.querySelector('.group-label').textContent,
        };
      }),
      counts: Object.fromEntries([...document.querySelectorAll('#counts li')].map((li) => [li.dataset.status, Number(li.dataset.count)])),
    };
  });
}

test('draws the fixture flow: regions, layered nodes, status colours, typed edges, counts', async () => {
  await page.goto(`${server.url}/ui/flows/demo?access_token=${READ}`);
  await page.waitForFunction((n) => document.querySelectorAll('g.node').length === n, drawnNodes.length);
  assert.equal(new URL(page.url()).search, '', 'the token is dropped from the address bar');
  const view = await shown();
  assert.equal(view.connection, 'live');

  assert.deepEqual(view.regions.map((r) => r.id).sort(), ['fsn1', 'hel1']);
  for (const node of drawnNodes) {
    const drawn = view.nodes.find((n) => n.id === node.id);
    assert.ok(drawn, `${node.id} is drawn`);
    assert.equal(drawn.status, node.status);
    const cls = KNOWN.includes(node.status) ? node.status : 'other';
    assert.ok(drawn.cls.includes(`status-${cls}`), `${node.id} has class status-${cls}`);
    assert.equal(drawn.fill, FILLS[cls], `${node.id} fill`);
    assert.deepEqual(drawn.text, [node.label, node.status], `${node.id} shows label and status`);
    const band = view.regions.find((r) => r.id === node.region);
    assert.ok(drawn.y > band.y && drawn.y < band.y + band.h, `${node.id} lies in region ${node.region}`);
  }
  // The unknown status is neutral and labelled with its own name.
  const waiting = view.nodes.find((n) => n.status === 'waiting');
  assert.equal(waiting.fill, FILLS.other);
  assert.ok(waiting.text.includes('waiting'));

  assert.equal(view.edges.length, dependencyRels.length);
  for (const rel of dependencyRels) {
    const edge = view.edges.find((e) => e.from === rel.fromId && e.to === rel.toId && e.type === rel.type);
    assert.ok(edge, `edge ${rel.fromId} -> ${rel.toId} (${rel.type})`);
    const [a, b] = [rel.fromId, rel.toId].map((id) => view.nodes.find((n) => n.id === id));
    assert.ok(a.x < b.x, `${rel.fromId} is left of ${rel.toId}`);
  }
  assert.equal(view.edges.find((e) => e.type === 'triggers').label, 'T');
  assert.equal(view.edges.find((e) => e.type === 'start-to-start').label, 'SS');
  assert.equal(view.edges.find((e) => e.type === 'finish-to-start').label, null, 'finish-to-start is unlabelled');

  assert.deepEqual(view.counts, { pending: 2, running: 2, succeeded: 3, failed: 1, waiting: 1 });
});

test('clicking a node shows reason, message, chart, version and time in state, as text', async () => {
  await page.click('g.node[data-node-id="fsn1/bp-cert-manager"]');
  const fields = async () =>
    page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#details dd')].map((dd) => [dd.dataset.field, dd.textContent])));
  const details = await fields();
  assert.equal(details.reason, 'InstallFailed');
  assert.match(details.message, /^Helm install failed/);
  assert.equal(details.chart, 'cert-manager');
  assert.equal(details.version, '1.16.2');
  assert.equal(details.status, 'failed');
  assert.match(details['in this state for'], /^\d+(s|m\d+s|h\d+m|d\d+h)$/);

  await page.click('g.node[data-node-id="fsn1/bp-catalyst"]');
  const catalyst = await fields();
  assert.equal(catalyst.message, '<b>not html</b> & waiting for a person', 'markup in data stays text');
  assert.equal(await page.locator('#details b').count(), 0);
});

test('posted updates appear within a second and nodes keep their places', async () => {
  const before = await shown();
  const keycloak = fixtureNodes.find((n) => n.id === 'fsn1/bp-keycloak');
  const started = Date.now();
  await post(server.url, 'demo', [
    { type: 'upsert-nodes', nodes: [{ ...keycloak, status: 'running', meta: { reason: 'Progressing' } }] },
  ], AUTH);
  await page.waitForFunction(
    () => document.querySelector('g.node[data-node-id="fsn1/bp-keycloak"]')?.dataset.status === 'running',
    null,
    { timeout: 1000 },
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 1000, `update shown after ${elapsed} ms`);
  const afterUpdate = await shown();
  for (const node of before.nodes) {
    const now = afterUpdate.nodes.find((n) => n.id === node.id);
    assert.deepEqual([now.x, now.y], [node.x, node.y], `${node.id} did not move`);
  }
  assert.equal(afterUpdate.counts.running, 3);
  // The open panel follows the change.
  await page.click('g.node[data-node-id="fsn1/bp-keycloak"]');
  assert.equal(await page.textContent('#details dd[data-field="reason"]'), 'Progressing');

  // delete-nodes removes the node and every edge touching it.
  await post(server.url, 'demo', [{ type: 'delete-nodes', ids: ['fsn1/bp-catalyst'] }], AUTH);
  await page.waitForFunction(() => !document.querySelector('g.node[data-node-id="fsn1/bp-catalyst"]'), null, { timeout: 1000 });
  const afterDelete = await shown();
  assert.equal(afterDelete.edges.filter((e) => e.from === 'fsn1/bp-catalyst' || e.to === 'fsn1/bp-catalyst').length, 0);
  assert.equal(afterDelete.edges.length, dependencyRels.length - 2);
});

test('a server restart shows reconnecting, then the resynced state', async () => {
  await server.stop();
  await page.waitForFunction(() => document.getElementById('connection').dataset.state === 'reconnecting', null, { timeout: 10000 });
  server = await startServer(port, TOKENS);
  await post(server.url, 'demo', fixture, AUTH);
  // The new process has a new epoch: the browser's Last-Event-ID cannot be replayed, so the
  // server answers with a snapshot and the page says it resynchronised.
  await page.waitForFunction(() => document.getElementById('connection').dataset.state === 'resynced', null, { timeout: 15000 });
  await page.waitForFunction((n) => document.querySelectorAll('g.node').length === n, drawnNodes.length, { timeout: 5000 });
  const view = await shown();
  assert.equal(view.nodes.find((n) => n.id === 'fsn1/bp-keycloak').status, 'pending', 'state is the new server\'s');
  assert.ok((await page.textContent('#resyncs')).includes('resynced'));
  await page.waitForFunction(() => document.getElementById('connection').dataset.state === 'live', null, { timeout: 10000 });

  await page.click('g.node[data-node-id="fsn1/bp-cert-manager"]');
  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT });
});

test('the flows list links to each flow with its counts', async () => {
  await page.goto(`${server.url}/ui/`);
  await page.waitForSelector('tr[data-flow="demo"]');
  const row = await page.evaluate(() => {
    const tr = document.querySelector('tr[data-flow="demo"]');
    return {
      href: tr.querySelector('a').getAttribute('href'),
      chips: [...tr.querySelectorAll('.chip')].map((c) => c.textContent),
    };
  });
  assert.equal(row.href, 'flows/demo');
  assert.deepEqual(row.chips, ['2 pending', '3 running', '4 succeeded', '1 failed', '1 waiting']);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

// The timeline and critical path on the live page (issue 20) against `flowctl critical-path
// --format json` for the same flow: the highlighted path in graph and timeline, and the bars,
// before and after a live change. The flow is testdata/timeline/diamond, the golden graph the
// Rust and JS analyses share.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';

import { openBrowser } from './browser.mjs';
import { freePort, post, startServer, until } from './server.mjs';

const FLOW = 'diamond';
const WAIT = 5000;

/** The flowctl binary: $FLOWCTL_BIN, else target/debug/flowctl (run.sh builds it). */
function flowctlBinary() {
  const path = process.env.FLOWCTL_BIN || new URL('../../target/debug/flowctl', import.meta.url).pathname;
  if (!existsSync(path)) throw new Error(`flowctl not found at ${path}; build it (cargo build -p flowctl) or set FLOWCTL_BIN`);
  return path;
}

async function criticalPath(url) {
  const { stdout } = await promisify(execFile)(flowctlBinary(), ['critical-path', url, FLOW, '--format', 'json']);
  return JSON.parse(stdout);
}

/** What the page shows: the timeline's rows and summary, the graph's marked nodes and edges. */
async function shown(page) {
  return page.evaluate(() => {
    const num = (v) => (v === undefined ? null : Number(v));
    const rows = [...document.querySelectorAll('#timeline-bars .tl-row')].map((g) => {
      const bar = g.querySelector('.tl-bar');
      const wait = g.querySelector('.tl-wait');
      return {
        id: g.dataset.timelineNode,
        critical: g.dataset.critical === 'true',
        startedAt: num(g.dataset.startedAt),
        endedAt: num(g.dataset.endedAt),
        waitMs: num(g.dataset.waitMs),
        bar: bar && { x: Number(bar.getAttribute('x')), width: Number(bar.getAttribute('width')), critical: bar.dataset.critical === 'true' },
        wait: wait && { x: Number(wait.getAttribute('x')), width: Number(wait.getAttribute('width')) },
      };
    });
    return {
      durationMs: num(document.getElementById('timeline-summary').dataset.durationMs),
      rows,
      nodes: [...document.querySelectorAll('#canvas [data-node-id][data-critical="true"]')].map((g) => g.dataset.nodeId).sort(),
      edges: [...document.querySelectorAll('#canvas .edge[data-critical="true"]')].map((g) => [g.dataset.from, g.dataset.to]).sort(),
    };
  });
}

/** Asserts the page shows exactly `expected` (flowctl's JSON) as its critical path and bars. */
function assertMatches(view, expected) {
  assert.equal(view.durationMs, expected.durationMs);
  const ids = expected.path.map((s) => s.id);
  const critical = view.rows.filter((r) => r.critical);
  assert.deepEqual(critical.map((r) => r.id).sort(), [...ids].sort(), 'critical rows are the path');
  for (const step of expected.path) {
    const row = view.rows.find((r) => r.id === step.id);
    assert.deepEqual(
      { id: row.id, startedAt: row.startedAt, endedAt: row.endedAt, waitMs: row.waitMs },
      step,
      `row ${step.id}`,
    );
    assert.ok(row.bar.critical, `${step.id}'s bar is marked`);
  }
  assert.deepEqual(view.nodes, [...ids].sort(), 'critical graph nodes are the path');
  const steps = ids.slice(1).map((id, i) => [ids[i], id]).sort();
  assert.deepEqual(view.edges, steps, 'critical graph edges join consecutive path nodes');
  // Bars are to scale: x = left + (start - flow start) * k, width = duration * k, wait = wait * k.
  const timed = view.rows.filter((r) => r.bar);
  const flowStart = Math.min(...timed.map((r) => r.startedAt));
  const first = timed.find((r) => r.startedAt === flowStart);
  const k = (timed[timed.length - 1].bar.x - first.bar.x) / (timed[timed.length - 1].startedAt - flowStart);
  for (const row of timed) {
    const close = (a, b, what) => assert.ok(Math.abs(a - b) < 0.5, `${row.id} ${what}: ${a} vs ${b}`);
    close(row.bar.x - first.bar.x, (row.startedAt - flowStart) * k, 'bar start');
    close(row.bar.width, Math.max((row.endedAt - row.startedAt) * k, 2), 'bar width');
    close(row.wait.width, row.waitMs * k, 'wait width');
  }
}

let server;
let browser;

before(async () => {
  server = await startServer(await freePort());
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the highlighted path and the bars match flowctl critical-path, also after a live change', async () => {
  const input = JSON.parse(await readFile(new URL('../../testdata/timeline/diamond/input.json', import.meta.url), 'utf8'));
  const nodes = input.nodes.map((n) => ({ ...n, flowId: FLOW }));
  await post(server.url, FLOW, [
    { type: 'upsert-nodes', nodes },
    { type: 'upsert-rels', relationships: input.relationships },
  ]);
  const { page, errors } = browser;
  await page.goto(`${server.url}/ui/flows/${FLOW}`);
  const expected = await criticalPath(server.url);
  assert.deepEqual(expected.path.map((s) => s.id), ['a', 'c', 'd'], 'the golden diamond');
  await until(async () => (await shown(page)).nodes.length === 3, WAIT, 'the path in the graph');
  assertMatches(await shown(page), expected);

  // Live: b now ends last and a new node e follows it; the path moves to a, b, e.
  await post(server.url, FLOW, [
    { type: 'upsert-nodes', nodes: [{ ...nodes[1], endedAt: 1045 }, { id: 'e', flowId: FLOW, label: 'e', status: 'succeeded', startedAt: 1046, endedAt: 1080 }] },
    { type: 'upsert-rels', relationships: [{ fromId: 'b', toId: 'e', type: 'finish-to-start' }] },
  ]);
  const moved = await criticalPath(server.url);
  assert.deepEqual(moved.path.map((s) => s.id), ['a', 'b', 'e']);
  await until(async () => (await shown(page)).durationMs === moved.durationMs, WAIT, 'the live change on the page');
  assertMatches(await shown(page), moved);
  assert.deepEqual(errors, []);
});

test('a cycle of finish-to-start edges leaves the timeline empty with the reason, as flowctl refuses it', async () => {
  const input = JSON.parse(await readFile(new URL('../../testdata/timeline/cycle/input.json', import.meta.url), 'utf8'));
  await post(server.url, 'loop', [
    { type: 'upsert-nodes', nodes: input.nodes.map((n) => ({ ...n, flowId: 'loop' })) },
    { type: 'upsert-rels', relationships: input.relationships },
  ]);
  const refused = await promisify(execFile)(flowctlBinary(), ['critical-path', server.url, 'loop']).catch((err) => err);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cycle: a -> b -> c/);
  const { page, errors } = browser;
  await page.goto(`${server.url}/ui/flows/loop`);
  await page.waitForFunction(() => document.getElementById('timeline-summary').textContent.includes('cycle'), null, { timeout: WAIT });
  const view = await shown(page);
  assert.equal(await page.textContent('#timeline-summary'), 'timeline unavailable: finish-to-start relationships form a cycle: a -> b -> c');
  assert.deepEqual([view.rows, view.nodes, view.edges, view.durationMs], [[], [], [], null]);
  assert.equal(await page.locator('#canvas [data-node-id]').count(), 4, 'the graph is still drawn');
  assert.deepEqual(errors, []);
});

// Speed of the live page on a 1,000-node flow, in headless Chromium: the first render and one
// live status update, read from the page's own performance marks. A benchmark, not a test: it
// prints figures (medians of the runs, with min and max) and asserts nothing about speed.
//
//   OPENOVA_FLOW_SERVER_BIN=target/debug/openova-flow-server node tests/ui/bench.mjs [runs=5]
//
// Figures (ms):
//   layout             layout.mjs on the whole flow (flow:layout)
//   draw               building the SVG elements (flow:draw)
//   snapshot->dom      first frame received -> graph in the DOM (flow:frame-to-dom), including
//                      the wait for the animation frame
//   load->painted      navigation start -> the frame after the graph is in the DOM
//   timeline           timeline.mjs's analysis + the timeline panel drawn (flow:timeline)
//   update             patching one node and the roll-ups in place (flow:update)
//   timeline update    the same after that status change (flow:timeline)
//   frame->dom         that update's frame received -> DOM patched (flow:frame-to-dom)
//   post->shown        POST of the update -> the node's new status read back from the DOM
// and whether the update laid the graph out again (it must not).

import { openBrowser } from './browser.mjs';
import { estate } from './estate.mjs';
import { freePort, post, startServer } from './server.mjs';

const runs = Number(process.argv[2] || 5);
const messages = estate({ regions: 4, releases: 249, flowId: 'big' });
const nodes = messages[1].nodes;
const edges = messages[2].relationships.filter((r) => r.type !== 'contains').length;
const target = nodes.find((n) => n.status === 'succeeded' && n.meta.kind === 'HelmRelease');

const server = await startServer(await freePort());
const samples = {};
const add = (name, value) => (samples[name] ??= []).push(value);
let relayouts = 0;
try {
  await post(server.url, 'big', messages);
  for (let run = 0; run < runs; run++) {
    const browser = await openBrowser({ width: 1500, height: 820 });
    try {
      const { page } = browser;
      await page.goto(`${server.url}/ui/flows/big`);
      await page.waitForFunction((n) => document.querySelectorAll('[data-node-id]').length === n, nodes.length, { timeout: 60000 });
      const first = await page.evaluate(async () => {
        await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
        const one = (name) => performance.getEntriesByName(name).at(-1).duration;
        return {
          layout: one('flow:layout'),
          draw: one('flow:draw'),
          structure: one('flow:structure'),
          open: one('flow:open'),
          header: one('flow:header'),
          timeline: one('flow:timeline'),
          'snapshot->dom': one('flow:frame-to-dom'),
          'load->painted': performance.now(),
          layouts: performance.getEntriesByName('flow:layout').length,
        };
      });
      const status = run % 2 === 0 ? 'failed' : 'running';
      const started = performance.now();
      await post(server.url, 'big', [{ type: 'upsert-nodes', nodes: [{ ...target, status }] }]);
      await page.waitForFunction(
        ([id, want]) => document.querySelector(`[data-node-id="${id}"]`).dataset.status === want,
        [target.id, status],
        { timeout: 10000 },
      );
      add('post->shown', performance.now() - started);
      const update = await page.evaluate(() => ({
        update: performance.getEntriesByName('flow:update').at(-1).duration,
        'timeline update': performance.getEntriesByName('flow:timeline').at(-1).duration,
        'frame->dom': performance.getEntriesByName('flow:frame-to-dom').at(-1).duration,
        layouts: performance.getEntriesByName('flow:layout').length,
      }));
      if (update.layouts !== first.layouts) relayouts += 1;
      for (const [name, value] of Object.entries(first)) if (name !== 'layouts') add(name, value);
      for (const [name, value] of Object.entries(update)) if (name !== 'layouts') add(name, value);
      await post(server.url, 'big', [{ type: 'upsert-nodes', nodes: [target] }]);
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.stop();
}

console.log(`flow: ${nodes.length} nodes, ${edges} edges; ${runs} runs, each in a fresh browser`);
for (const [name, values] of Object.entries(samples)) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`${name.padEnd(14)} median ${median.toFixed(1).padStart(7)} ms   min ${sorted[0].toFixed(1).padStart(7)}   max ${sorted.at(-1).toFixed(1).padStart(7)}`);
}
console.log(`status updates that laid the graph out again: ${relayouts} of ${runs}`);

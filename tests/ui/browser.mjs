// Headless Debian Chromium for the page tests and the benchmark, and what they read back.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser with one page of the given viewport. `errors` collects uncaught page errors and
 * console errors other than failed loads; `close()` ends the browser and removes its profile.
 */
export async function openBrowser(viewport = { width: 1500, height: 820 }) {
  const profile = await mkdtemp(join(tmpdir(), 'openova-flow-ui-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: FLAGS,
    headless: true,
    viewport,
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource|net::ERR_/.test(msg.text())) errors.push(msg.text());
  });
  return {
    page,
    errors,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Client rectangles of the canvas and of every `[data-node-id]` element, by id. */
export async function layoutBoxes(page) {
  return page.evaluate(() => {
    const rect = (e) => {
      const r = e.getBoundingClientRect();
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
    };
    const nodes = {};
    for (const e of document.querySelectorAll('[data-node-id]')) {
      // A group's own box, not its label or toggle.
      nodes[e.dataset.nodeId] = rect(e.querySelector(':scope > .group-box, :scope > .node-box') || e);
    }
    return { canvas: rect(document.querySelector('.canvas-wrap')), nodes };
  });
}

/** Whether the box `inner` sticks out of the box `outer` (1 px of slack). */
export function outside(inner, outer) {
  return inner.left < outer.left - 1 || inner.top < outer.top - 1 || inner.right > outer.right + 1 || inner.bottom > outer.bottom + 1;
}

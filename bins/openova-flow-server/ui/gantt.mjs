// The timeline panel: one row per node, its wait (from the flow's start until its dependencies
// ended) drawn faint and its run from start to end as a bar, the critical path marked with
// data-critical="true". Draws the result of timeline.mjs's analyse(); no analysis of its own.

import { statusClass } from './fold.mjs';
import { span } from './session.mjs';
import { compareIds } from './timeline.mjs';

const SVG = 'http://www.w3.org/2000/svg';
const LABEL_W = 230;
const ROW_H = 20;
const BAR_H = 12;
const PAD = 12;

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Rows in drawing order: timed nodes by start (then id), then the untimed ones by id. */
export function rowOrder(result) {
  const timed = result.nodes.filter((n) => n.startedAt !== null);
  const untimed = result.nodes.filter((n) => n.startedAt === null);
  timed.sort((a, b) => a.startedAt - b.startedAt || compareIds(a.id, b.id));
  return [...timed, ...untimed];
}

/**
 * Draws `result` (or the cycle error) into `svg` (replacing its content) and the summary line
 * into `summary`. `nodes` is the fold's Map(id -> node) for labels and statuses; `width` the
 * drawing width in px. Returns Map(id -> row element) for setRowStatus.
 */
export function drawTimeline(svg, summary, result, nodes, width) {
  if (result.error) {
    summary.textContent = `timeline unavailable: ${result.error}`;
    summary.removeAttribute('data-duration-ms');
    svg.replaceChildren();
    svg.setAttribute('height', 0);
    return new Map();
  }
  const critical = new Set(result.path);
  const verb = result.running ? 'running for' : 'took';
  summary.dataset.durationMs = result.durationMs;
  summary.textContent = result.path.length
    ? `${verb} ${span(result.durationMs)} · critical path: ${result.path.map((id) => nodes.get(id)?.label ?? id).join(' → ')}`
    : 'no node has started yet';
  const rows = rowOrder(result);
  const starts = result.nodes.filter((n) => n.startedAt !== null).map((n) => n.startedAt);
  const flowStart = starts.length ? starts.reduce((a, b) => Math.min(a, b)) : 0;
  const scale = (Math.max(width, LABEL_W + 200) - LABEL_W - PAD) / Math.max(result.durationMs, 1);
  const x = (ms) => LABEL_W + ms * scale;
  const out = new Map();
  rows.forEach((row, i) => {
    const node = nodes.get(row.id);
    const g = svgEl('g', {
      class: `tl-row status-${statusClass(node ? node.status : '')}`,
      'data-timeline-node': row.id,
      transform: `translate(0,${i * ROW_H})`,
    });
    if (critical.has(row.id)) g.setAttribute('data-critical', 'true');
    g.append(svgEl('text', { x: 4, y: 14, class: 'tl-label' }, node ? node.label : row.id));
    if (row.startedAt === null) {
      g.append(svgEl('text', { x: LABEL_W, y: 14, class: 'tl-none' }, 'not started'));
    } else {
      g.dataset.startedAt = row.startedAt;
      g.dataset.waitMs = row.waitMs;
      if (row.endedAt !== null) g.dataset.endedAt = row.endedAt;
      const y = (ROW_H - BAR_H) / 2;
      const wait = svgEl('rect', { x: x(0), y, width: row.waitMs * scale, height: BAR_H, class: 'tl-wait' });
      const offset = row.startedAt - flowStart;
      const bar = svgEl('rect', {
        x: x(offset),
        y,
        width: Math.max(row.durationMs * scale, 2),
        height: BAR_H,
        rx: 3,
        class: `tl-bar${row.endedAt === null ? ' tl-running' : ''}`,
      });
      if (critical.has(row.id)) {
        wait.setAttribute('data-critical', 'true');
        bar.setAttribute('data-critical', 'true');
      }
      const ended = row.endedAt === null ? 'running' : `ended ${new Date(row.endedAt).toISOString()}`;
      bar.append(svgEl('title', {}, `${row.id}: waited ${span(row.waitMs)}, ran ${span(row.durationMs)} (started ${new Date(row.startedAt).toISOString()}, ${ended})`));
      g.append(wait, bar);
    }
    out.set(row.id, g);
  });
  svg.replaceChildren(...out.values());
  svg.setAttribute('height', rows.length * ROW_H);
  svg.setAttribute('width', Math.max(width, LABEL_W + 200));
  return out;
}

/** Recolours a drawn row for a status change that left the analysis as it was. */
export function setRowStatus(g, status) {
  const wanted = `tl-row status-${statusClass(status)}`;
  if (g.getAttribute('class') !== wanted) g.setAttribute('class', wanted);
}

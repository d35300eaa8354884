// What made a flow slow: per-node duration and wait, the critical path, the total duration.
// The same rules as flow_router::Timeline (flow-router/src/timeline.rs), kept equal by running
// both on the golden graphs in testdata/timeline/ (tests/ui/timeline.test.mjs):
//
// - A node is timed when it has startedAt; its end is endedAt (never before its start), or
//   `now` while running (no endedAt). Untimed nodes get no figures and are never on the path.
// - Only finish-to-start relationships between nodes of the flow count (an end whose
//   fromFlowId/toFlowId names another flow than its node's is not); a cycle is refused.
// - The flow runs from the earliest start to the latest end of its timed nodes.
// - A node's wait: from the flow's start until its last timed dependency ended (0 without
//   one), never more than the time until it started itself.
// - The path ends at the running node that started first, else at the node that ended last
//   (ties: earlier start), and walks back through the timed dependency that ended last. Other
//   ties go to the smaller id (compared by code point, as Rust compares strings).

/** Thrown when finish-to-start relationships form a cycle; `nodes` lists it in edge order. */
export class CycleError extends Error {
  constructor(nodes) {
    super(`finish-to-start relationships form a cycle: ${nodes.join(' -> ')}`);
    this.nodes = nodes;
  }
}

/**
 * Orders strings as Rust does (by code point, which is UTF-8 byte order), without allocating:
 * UTF-16 units order like code points except surrogates, which must sort above U+E000-U+FFFF.
 */
export function compareIds(a, b) {
  const rank = (c) => (c >= 0xd800 && c <= 0xdfff ? c + 0x2000 : c >= 0xe000 ? c - 0x800 : c);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

/** Lexicographic comparison of key tuples (numbers or ids). */
function compareKeys(a, b) {
  for (let i = 0; i < a.length; i += 1) {
    const d = typeof a[i] === 'string' ? compareIds(a[i], b[i]) : a[i] - b[i];
    if (d !== 0) return d;
  }
  return 0;
}

/** The item whose key is smallest, or undefined. */
function minBy(items, key) {
  let best;
  let bestKey;
  for (const item of items) {
    const k = key(item);
    if (best === undefined || compareKeys(k, bestKey) < 0) {
      best = item;
      bestKey = k;
    }
  }
  return best;
}

/** The first cycle a depth-first search meets, over roots and successors in id order. */
function findCycle(ids, next) {
  const marks = new Map();
  for (const root of ids) {
    if (marks.has(root)) continue;
    const stack = [[root, 0]];
    marks.set(root, 'on-stack');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const successors = next.get(top[0]) ?? [];
      if (top[1] >= successors.length) {
        marks.set(top[0], 'done');
        stack.pop();
        continue;
      }
      const succ = successors[top[1]];
      top[1] += 1;
      const mark = marks.get(succ);
      if (mark === 'on-stack') {
        const from = stack.findIndex(([n]) => n === succ);
        return stack.slice(from).map(([n]) => n);
      }
      if (mark === undefined) {
        marks.set(succ, 'on-stack');
        stack.push([succ, 0]);
      }
    }
  }
  return null;
}

/**
 * Analyses nodes and relationships (iterables of contract objects) at `now` (unix ms).
 * Returns {durationMs, running, nodes: [{id, startedAt, endedAt, durationMs, waitMs}] in id
 * order, path: [id, ...] first to last}; absent figures are null. Throws CycleError.
 */
export function analyse(nodeList, relationships, now) {
  const nodes = new Map();
  for (const node of nodeList) nodes.set(node.id, node);
  const ids = [...nodes.keys()].sort(compareIds);
  const deps = new Map();
  const next = new Map();
  const push = (map, key, value) => {
    if (!map.has(key)) map.set(key, []);
    map.get(key).push(value);
  };
  // An end names another flow's node when its flow id is given and differs.
  const local = (id, flow) => nodes.has(id) && (flow == null || flow === nodes.get(id).flowId);
  for (const rel of relationships) {
    if (rel.type === 'finish-to-start' && local(rel.fromId, rel.fromFlowId) && local(rel.toId, rel.toFlowId)) {
      push(deps, rel.toId, rel.fromId);
      push(next, rel.fromId, rel.toId);
    }
  }
  for (const map of [deps, next]) {
    for (const [key, list] of map) map.set(key, [...new Set(list)].sort(compareIds));
  }
  const cycle = findCycle(ids, next);
  if (cycle) throw new CycleError(cycle);

  const spans = new Map();
  for (const id of ids) {
    const { startedAt, endedAt } = nodes.get(id);
    if (startedAt == null) continue;
    const running = endedAt == null;
    spans.set(id, { start: startedAt, end: Math.max(running ? now : endedAt, startedAt), running });
  }
  const all = [...spans.values()];
  const flowStart = all.length ? all.reduce((m, s) => Math.min(m, s.start), Infinity) : 0;
  const flowEnd = all.reduce((m, s) => Math.max(m, s.end), flowStart);
  const running = all.some((s) => s.running);
  const timedDeps = (id) => (deps.get(id) ?? []).filter((d) => spans.has(d)).map((d) => [d, spans.get(d).end]);

  const timings = ids.map((id) => {
    const span = spans.get(id);
    if (!span) return { id, startedAt: null, endedAt: null, durationMs: null, waitMs: null };
    const ready = Math.max(flowStart, ...timedDeps(id).map(([, end]) => end));
    return {
      id,
      startedAt: span.start,
      endedAt: span.running ? null : span.end,
      durationMs: span.end - span.start,
      waitMs: Math.min(Math.max(ready, flowStart), span.start) - flowStart,
    };
  });

  const entries = [...spans.entries()];
  const last = running
    ? minBy(entries.filter(([, s]) => s.running), ([id, s]) => [s.start, id])
    : minBy(entries, ([id, s]) => [-s.end, s.start, id]);
  const path = [];
  let at = last?.[0];
  while (at !== undefined) {
    path.push(at);
    at = minBy(timedDeps(at), ([dep, end]) => [-end, dep])?.[0];
  }
  path.reverse();
  return { durationMs: flowEnd - flowStart, running, nodes: timings, path };
}

// What the page shows of a folded flow beyond the nodes themselves: the containment tree
// (`contains` edges run child -> parent; a region is a root, Kustomizations nest, HelmReleases
// sit in a Kustomization or directly in the region), the status roll-up of each group, the
// "show what blocks" set and search matches. Pure functions of the fold's state.

const byText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The containment tree. A node with several parents keeps the smallest parent id; a link that
 * would close a cycle is dropped. Returns { parentOf: Map(child -> parent), children:
 * Map(group -> [child ids, sorted]), groups: Set, roots: [group ids without a parent, sorted] }.
 * Every target of a `contains` edge is a group, also one without a node of its own.
 */
export function containment(state) {
  const parentOf = new Map();
  const groups = new Set();
  for (const rel of state.rels.values()) {
    if (rel.type !== 'contains' || rel.fromId === rel.toId) continue;
    groups.add(rel.toId);
    const current = parentOf.get(rel.fromId);
    if (current === undefined || rel.toId < current) parentOf.set(rel.fromId, rel.toId);
  }
  for (const child of [...parentOf.keys()].sort(byText)) {
    const seen = new Set([child]);
    for (let up = parentOf.get(child); up !== undefined; up = parentOf.get(up)) {
      if (seen.has(up)) {
        parentOf.delete(child);
        break;
      }
      seen.add(up);
    }
  }
  const children = new Map([...groups].map((g) => [g, []]));
  for (const [child, parent] of parentOf) {
    if (state.nodes.has(child) || groups.has(child)) children.get(parent).push(child);
  }
  for (const list of children.values()) list.sort(byText);
  const roots = [...groups].filter((g) => !parentOf.has(g)).sort(byText);
  return { parentOf, children, groups, roots };
}

/** The ids above `id` in the tree, nearest first. */
export function ancestors(tree, id) {
  const out = [];
  for (let up = tree.parentOf.get(id); up !== undefined; up = tree.parentOf.get(up)) out.push(up);
  return out;
}

/**
 * The roll-up of a group, as the mapper's region roll-up: failed if any failed, else running if
 * any runs, else succeeded if there is at least one status and all succeeded, else pending.
 */
export function rollUp(statuses) {
  let any = false;
  let running = false;
  let allSucceeded = true;
  for (const s of statuses) {
    if (s === 'failed') return 'failed';
    any = true;
    running ||= s === 'running';
    allSucceeded &&= s === 'succeeded';
  }
  if (running) return 'running';
  return any && allSucceeded ? 'succeeded' : 'pending';
}

/**
 * The roll-up of every group over its own node's status (if it has a node) and every node
 * below it. Returns Map(group -> status).
 */
export function rollUps(state, tree) {
  const statuses = new Map([...tree.groups].map((g) => [g, []]));
  for (const [id, node] of state.nodes) {
    if (statuses.has(id)) statuses.get(id).push(node.status);
    for (const up of ancestors(tree, id)) statuses.get(up).push(node.status);
  }
  return new Map([...statuses].map(([g, list]) => [g, rollUp(list)]));
}

/**
 * "Show what blocks": the nodes that are not `succeeded`, every node upstream of one of those
 * through `finish-to-start` edges, and the groups that hold any of them. Returns a Set of ids.
 */
export function blocking(state, tree) {
  const upstream = new Map();
  for (const rel of state.rels.values()) {
    if (rel.type !== 'finish-to-start' || !state.nodes.has(rel.fromId)) continue;
    if (!upstream.has(rel.toId)) upstream.set(rel.toId, []);
    upstream.get(rel.toId).push(rel.fromId);
  }
  const shown = new Set();
  const stack = [];
  for (const [id, node] of state.nodes) {
    if (node.status !== 'succeeded') {
      shown.add(id);
      stack.push(id);
    }
  }
  while (stack.length > 0) {
    for (const from of upstream.get(stack.pop()) || []) {
      if (!shown.has(from)) {
        shown.add(from);
        stack.push(from);
      }
    }
  }
  for (const id of [...shown]) for (const up of ancestors(tree, id)) shown.add(up);
  return shown;
}

/** The ids of nodes whose label or id contains `query` (case-insensitive), sorted; none for a blank query. */
export function search(state, query) {
  const needle = query.trim().toLowerCase();
  if (needle === '') return [];
  const found = [];
  for (const [id, node] of state.nodes) {
    if (id.toLowerCase().includes(needle) || String(node.label).toLowerCase().includes(needle)) found.push(id);
  }
  return found.sort(byText);
}

/** Whether two sets hold the same members. */
export function sameSet(a, b) {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

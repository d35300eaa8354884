// The client-side fold of a flow, with exactly the contract's semantics (docs/CONTRACT.md):
// `snapshot` replaces everything; upserts replace by key; `delete-nodes` removes the nodes and
// every relationship of this flow touching one of them; `delete-rels` removes by natural key.

/** An empty flow state. */
export function emptyState() {
  return { flow: null, nodes: new Map(), rels: new Map() };
}

/** The natural key of a relationship or pair: (fromId, toId, type). */
export function relKey(rel) {
  return JSON.stringify([rel.fromId, rel.toId, rel.type]);
}

/**
 * Folds one FlowMessage into `state` (mutated). Returns the ids of nodes whose status changed,
 * appeared or disappeared, so callers can track how long a node has been in its status.
 */
export function applyMessage(state, flowId, message) {
  const before = new Map();
  for (const [id, node] of state.nodes) before.set(id, node.status);
  switch (message.type) {
    case 'snapshot':
      state.flow = message.flow;
      state.nodes = new Map(message.nodes.map((n) => [n.id, n]));
      state.rels = new Map(message.relationships.map((r) => [relKey(r), r]));
      break;
    case 'upsert-flow':
      state.flow = message.flow;
      break;
    case 'upsert-nodes':
      for (const node of message.nodes) state.nodes.set(node.id, node);
      break;
    case 'upsert-rels':
      for (const rel of message.relationships) state.rels.set(relKey(rel), rel);
      break;
    case 'delete-nodes': {
      const removed = new Set(message.ids.filter((id) => state.nodes.delete(id)));
      const gone = (id, flow) => (flow == null || flow === flowId) && removed.has(id);
      for (const [key, rel] of state.rels) {
        if (gone(rel.fromId, rel.fromFlowId) || gone(rel.toId, rel.toFlowId)) state.rels.delete(key);
      }
      break;
    }
    case 'delete-rels':
      for (const pair of message.pairs) state.rels.delete(relKey(pair));
      break;
    default:
      return null;
  }
  const changed = [];
  for (const [id, node] of state.nodes) if (before.get(id) !== node.status) changed.push(id);
  for (const id of before.keys()) if (!state.nodes.has(id)) changed.push(id);
  return changed;
}

/** The four statuses with their own colour; any other status is shown neutral and labelled. */
export const KNOWN_STATUSES = ['pending', 'running', 'succeeded', 'failed'];

/** `known` for the four statuses above, else `other`. */
export function statusClass(status) {
  return KNOWN_STATUSES.includes(status) ? status : 'other';
}

/** Counts by status: the known ones in order, then the others by name. */
export function countStatuses(statuses) {
  const counts = new Map();
  for (const s of statuses) counts.set(s, (counts.get(s) || 0) + 1);
  const rank = (s) => {
    const i = KNOWN_STATUSES.indexOf(s);
    return i < 0 ? KNOWN_STATUSES.length : i;
  };
  return [...counts].sort((a, b) => rank(a[0]) - rank(b[0]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

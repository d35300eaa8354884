// A generated flow the size of a real estate: R regions × N HelmReleases with finish-to-start
// edges, as FlowMessages (upsert-flow, upsert-nodes, upsert-rels) shaped like the mapper's.
//
//   node tests/ui/estate.mjs [regions=3] [releases=60] [flowId=estate] > estate.jsonl
//
// Deterministic (a seeded generator): the same arguments give the same bytes. Release `i`
// depends on 0-2 earlier releases of its region (about 0.9 edges per release, so 3 × 60 has
// about 160 edges). Statuses follow the edges: a release whose dependency has not succeeded is
// pending. The first region has one failed release with no dependents and a tail of running
// releases; the second has a running tail; every further region has succeeded. Region nodes
// carry the region roll-up, as the mapper's do.

const REGIONS = ['fsn1', 'hel1', 'nbg1', 'ash1', 'hil1', 'sin1'];
const COMPONENTS = [
  'cilium', 'flux', 'cert-manager', 'external-dns', 'ingress-nginx', 'keycloak', 'harbor',
  'loki', 'tempo', 'grafana', 'prometheus', 'alertmanager', 'velero', 'vault', 'kyverno',
  'trivy', 'longhorn', 'minio', 'postgres', 'redis', 'kafka', 'nats', 'argo-rollouts',
  'openova-flow-server', 'catalyst', 'gitea', 'opensearch', 'jaeger', 'metallb', 'coredns',
];
const START = Date.UTC(2026, 0, 1);

/** mulberry32: a small seeded generator, so fixtures are reproducible. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The region roll-up (flow-flux-mapper's `NodeStatus::roll_up`). */
function rollUp(statuses) {
  if (statuses.includes('failed')) return 'failed';
  if (statuses.includes('running')) return 'running';
  return statuses.length > 0 && statuses.every((s) => s === 'succeeded') ? 'succeeded' : 'pending';
}

/**
 * The estate's messages: `regions` regions (at most 6) of `releases` HelmReleases each.
 * Returns [upsert-flow, upsert-nodes, upsert-rels].
 */
export function estate({ regions = 3, releases = 60, flowId = 'estate', seed = 22 } = {}) {
  if (regions < 1 || regions > REGIONS.length) throw new Error(`regions must be 1..${REGIONS.length}`);
  const next = random(seed);
  const width = String(releases - 1).length;
  const nodes = [];
  const rels = [];
  for (let r = 0; r < regions; r++) {
    const region = REGIONS[r];
    const deps = [];
    for (let i = 0; i < releases; i++) {
      const roll = next();
      const count = i === 0 ? 0 : roll < 0.2 ? 0 : roll < 0.75 ? 1 : 2;
      const chosen = new Set();
      for (let k = 0; k < count; k++) chosen.add(Math.max(0, i - 1 - Math.floor(next() * 12)));
      deps.push([...chosen].sort((a, b) => a - b));
    }
    const hasDependents = new Set(deps.flat());
    // The failed release: the last one of the first region's first 40 with no dependents.
    let failed = -1;
    if (r === 0) {
      for (let i = Math.min(40, releases) - 1; i >= 0 && failed < 0; i--) if (!hasDependents.has(i)) failed = i;
    }
    const runningFrom = r === 0 ? releases - 5 : r === 1 ? releases - 15 : Infinity;
    const status = [];
    const ids = [];
    for (let i = 0; i < releases; i++) {
      const component = COMPONENTS[i % COMPONENTS.length];
      const name = `bp-${String(i).padStart(width, '0')}-${component}`;
      ids.push(`${region}/${name}`);
      const blocked = deps[i].some((d) => status[d] !== 'succeeded');
      status.push(blocked ? 'pending' : i === failed ? 'failed' : i >= runningFrom ? 'running' : 'succeeded');
      const startedAt = START + i * 30_000;
      const node = {
        id: ids[i],
        flowId,
        label: name,
        status: status[i],
        family: component,
        region,
        meta: {
          kind: 'HelmRelease',
          name,
          namespace: 'flux-system',
          chart: component,
          reason: { pending: 'DependencyNotReady', running: 'Progressing', succeeded: 'InstallSucceeded', failed: 'InstallFailed' }[status[i]],
        },
      };
      if (status[i] !== 'pending') node.startedAt = startedAt;
      if (status[i] === 'succeeded' || status[i] === 'failed') node.endedAt = startedAt + 25_000;
      nodes.push(node);
      rels.push({ fromId: ids[i], toId: region, type: 'contains' });
      for (const d of deps[i]) rels.push({ fromId: ids[d], toId: ids[i], type: 'finish-to-start' });
    }
    nodes.push({ id: region, flowId, label: region, status: rollUp(status), region, meta: { namespace: 'flux-system' } });
  }
  const flowStatus = rollUp(nodes.filter((n) => n.meta.kind).map((n) => n.status));
  return [
    { type: 'upsert-flow', flow: { id: flowId, definitionId: 'bootstrap-v1', status: flowStatus, startedAt: START } },
    { type: 'upsert-nodes', nodes },
    { type: 'upsert-rels', relationships: rels },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [regions = '3', releases = '60', flowId = 'estate'] = process.argv.slice(2);
  for (const message of estate({ regions: Number(regions), releases: Number(releases), flowId })) {
    process.stdout.write(`${JSON.stringify(message)}\n`);
  }
}

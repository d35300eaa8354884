// The flows list: GET /v1/flows every few seconds.

import { apiBase, el, readToken, span } from './session.mjs';
import { countStatuses, statusClass } from './fold.mjs';

const REFRESH_MS = 3000;
const base = apiBase();
const token = readToken();
const body = document.getElementById('flows');
const state = document.getElementById('list-state');

function chips(nodesByStatus) {
  const cell = el('td', 'counts');
  const statuses = [];
  for (const [status, n] of Object.entries(nodesByStatus || {})) for (let i = 0; i < n; i++) statuses.push(status);
  for (const [status, n] of countStatuses(statuses)) {
    const chip = el('span', `chip status-${statusClass(status)}`, `${n} ${status}`);
    chip.dataset.status = status;
    cell.append(chip);
  }
  return cell;
}

function render(flows) {
  const rows = flows
    .slice()
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((flow) => {
      const row = el('tr');
      row.dataset.flow = flow.id;
      const link = el('a', null, flow.id);
      link.href = `flows/${encodeURIComponent(flow.id)}`;
      const name = el('td');
      name.append(link);
      const last = flow.lastEventAt == null ? '-' : `${span(Date.now() - flow.lastEventAt)} ago`;
      row.append(
        name,
        el('td', 'num', flow.nodes),
        chips(flow.nodesByStatus),
        el('td', 'num', flow.seq),
        el('td', 'mono', flow.epoch),
        el('td', 'num', flow.subscribers),
        el('td', null, last),
      );
      return row;
    });
  if (rows.length === 0) {
    const row = el('tr');
    const cell = el('td', 'empty', 'No flows yet. Post a FlowMessage to /v1/flows/{flowId}/events.');
    cell.colSpan = 7;
    row.append(cell);
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

async function refresh() {
  try {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(`${base}/v1/flows`, { headers, cache: 'no-store' });
    if (response.status === 401) {
      state.textContent = 'A read token is required: open this page with ?access_token=<token>.';
      state.dataset.state = 'error';
      return;
    }
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const answer = await response.json();
    render(answer.flows || []);
    state.textContent = `updated ${new Date().toLocaleTimeString()}`;
    state.dataset.state = 'ok';
  } catch (err) {
    state.textContent = `cannot list flows: ${err.message}`;
    state.dataset.state = 'error';
  }
}

document.getElementById('open-flow').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = document.getElementById('open-flow-id').value.trim();
  if (id) location.href = `flows/${encodeURIComponent(id)}`;
});

refresh();
setInterval(refresh, REFRESH_MS);

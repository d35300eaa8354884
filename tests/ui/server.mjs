// Starts and stops a real openova-flow-server for the browser tests.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

/** The server binary: $OPENOVA_FLOW_SERVER_BIN, else target/debug/openova-flow-server. */
export function serverBinary() {
  const path = process.env.OPENOVA_FLOW_SERVER_BIN || new URL('../../target/debug/openova-flow-server', import.meta.url).pathname;
  if (!existsSync(path)) {
    throw new Error(`openova-flow-server binary not found at ${path}; build it (cargo build -p openova-flow-server) or set OPENOVA_FLOW_SERVER_BIN`);
  }
  return path;
}

/** A loopback port that was free a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Polls `check` every 50 ms until it returns a truthy value, for at most `ms`. */
export async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => false);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running server on `port`; resolves once /readyz answers 200. */
export async function startServer(port, env = {}) {
  const child = spawn(serverBinary(), [], {
    env: { ...process.env, FLOW_SERVER_LISTEN_ADDR: `127.0.0.1:${port}`, FLOW_SERVER_LOG: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/readyz`)).ok, 15000, `${url}/readyz`);
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** POSTs each message of `messages` to the flow, in order. */
export async function post(url, flow, messages, headers = {}) {
  for (const message of messages) {
    const response = await fetch(`${url}/v1/flows/${flow}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(message),
    });
    if (!response.ok) throw new Error(`POST ${message.type}: ${response.status} ${await response.text()}`);
  }
}

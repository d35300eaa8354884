// The page's timeline analysis against the golden graphs the Rust analysis runs
// (testdata/timeline/, flow-router's tests/router/timeline.rs): the two cannot drift.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { CycleError, analyse, compareIds } from '../../bins/openova-flow-server/ui/timeline.mjs';

const root = new URL('../../testdata/timeline/', import.meta.url).pathname;
const cases = readdirSync(root).filter((c) => existsSync(join(root, c, 'input.json'))).sort();

function run(input) {
  try {
    return analyse(input.nodes, input.relationships, input.now);
  } catch (err) {
    if (err instanceof CycleError) return { error: { cycle: err.nodes } };
    throw err;
  }
}

test('the golden graphs are there', () => {
  assert.ok(cases.length >= 6, `golden graphs missing under ${root}`);
});

for (const name of cases) {
  test(`golden graph ${name}`, () => {
    const read = (file) => JSON.parse(readFileSync(join(root, name, file), 'utf8'));
    assert.deepEqual(run(read('input.json')), read('expected.json'));
  });
}

test('ids compare by code point like Rust strings, not by UTF-16 unit', () => {
  assert.ok(compareIds('\u{ff61}', '\u{1f600}') < 0, 'U+FF61 sorts before an astral character');
  assert.ok(compareIds('a', 'ab') < 0);
  assert.equal(compareIds('a', 'a'), 0);
});

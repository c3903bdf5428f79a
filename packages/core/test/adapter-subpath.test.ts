import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertBuilt } from '../../../test/support/build';

/**
 * `@otinst/core/adapter` (issue 15): the adapter internals on their own
 * subpath, resolved through package.json `exports` from CommonJS and ESM,
 * the same objects as the root's (one module instance, one context).
 */

const ROOT = resolve(__dirname, '..', '..', '..');
const NAMES = [
  'setupTracing',
  'resolveOptions',
  'ServerSpan',
  'startServerSpan',
  'finishWithResponse',
  'readNodeResponseHeader',
  'isIgnored',
  'NodeRequestWrapper',
  'debug',
  'errorFields',
  'runWithSpan',
  'runSuppressed',
];

function run(args: string[]): unknown {
  return JSON.parse(execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' }));
}

describe('@otinst/core/adapter', () => {
  assertBuilt(['core'], 'the @otinst/core/adapter test');

  it('resolves from require(): every adapter name, identical to the root export', () => {
    const script = `
      const adapter = require('@otinst/core/adapter');
      const root = require('@otinst/core');
      console.log(JSON.stringify(${JSON.stringify(NAMES)}.map((n) => [n, typeof adapter[n], adapter[n] === root[n]])));`;
    expect(run(['-e', script])).toEqual(NAMES.map((name) => [name, 'function', true]));
  });

  it('resolves from import', () => {
    const script = `
      const adapter = await import('@otinst/core/adapter');
      console.log(JSON.stringify(${JSON.stringify(NAMES)}.map((n) => [n, typeof adapter[n]])));`;
    expect(run(['--input-type=module', '-e', script])).toEqual(NAMES.map((name) => [name, 'function']));
  });
});

describe('@otinst/core/adapter in the test aliases (sources)', () => {
  it('is the same module graph as @otinst/core', async () => {
    const adapter = await import('@otinst/core/adapter');
    const root = await import('@otinst/core');
    expect(adapter.startServerSpan).toBe(root.startServerSpan);
    expect(adapter.runWithSpan).toBe(root.runWithSpan);
  });
});

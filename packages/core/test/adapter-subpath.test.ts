import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertBuilt } from '../../../test/support/build';

/**
 * `@otinst/core/adapter` (issue 15): the adapter internals on their own
 * subpath, resolved through package.json `exports` from CommonJS and ESM, and
 * not on the root (whose API is the user's); the names both export are the
 * same objects (one module instance, one context).
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
  'openServerSpan',
  'claim',
  'claimOf',
  'wrapMethod',
  'debug',
  'warnOnce',
  'errorFields',
];
/** Names both entry points export: the user needs them, and so do adapters. */
const SHARED = ['NodeRequestWrapper', 'runWithSpan', 'runSuppressed', 'getCurrentSpan', 'bindEmitter'];

function run(args: string[]): unknown {
  return JSON.parse(execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' }));
}

describe('@otinst/core/adapter', () => {
  assertBuilt(['core'], 'the @otinst/core/adapter test');

  it('resolves from require(): every adapter name, none of them on the root', () => {
    const script = `
      const adapter = require('@otinst/core/adapter');
      const root = require('@otinst/core');
      console.log(JSON.stringify(${JSON.stringify(NAMES)}.map((n) => [n, typeof adapter[n], n in root])));`;
    expect(run(['-e', script])).toEqual(NAMES.map((name) => [name, 'function', false]));
  });

  it('shares the root module instance: the names both export are the same objects', () => {
    const script = `
      const adapter = require('@otinst/core/adapter');
      const root = require('@otinst/core');
      console.log(JSON.stringify(${JSON.stringify(SHARED)}.map((n) => [n, typeof root[n], adapter[n] === root[n]])));`;
    expect(run(['-e', script])).toEqual(SHARED.map((name) => [name, 'function', true]));
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
    expect(adapter.NodeRequestWrapper).toBe(root.NodeRequestWrapper);
    expect(adapter.runWithSpan).toBe(root.runWithSpan);
  });
});

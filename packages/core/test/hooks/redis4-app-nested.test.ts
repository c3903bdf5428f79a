import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';

/**
 * An application with redis@4 whose `@redis/client` 1.x is nested under it
 * (not resolvable from the application's directory), that loads redis after
 * `installPatches(['redis'])`: the hook sees `require('@redis/client')` when
 * redis loads it.
 */

const up = await serviceAvailable('redis');
const repoModules = join(import.meta.dirname, '../../../../node_modules');

describe.skipIf(!up)('redis hook in an application that loads redis@4 after installation', () => {
  const app = mkdtempSync(join(tmpdir(), 'otinst-redis4-nested-'));
  const cwd = process.cwd();
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(join(repoModules, 'redis4'), join(app, 'node_modules/redis'));

  afterAll(() => {
    uninstallPatches();
    process.chdir(cwd);
    rmSync(app, { recursive: true, force: true });
  });

  it('patches the nested @redis/client when redis loads it', async () => {
    process.chdir(app);
    installPatches(['redis']);
    const redis = createRequire(join(app, 'index.js'))('redis');

    const recorder = recorderTracer();
    const client = redis.createClient({ url: 'redis://127.0.0.1:6379' });
    await client.connect();
    const parent = recorder.tracer.startSpan('request');
    const key = `otinst:${process.pid}:nested4`;
    const results = await runWithSpan(parent, () => client.multi().set(key, 'v').del(key).exec());
    parent.finish();
    await client.quit();
    expect(results).toEqual(['OK', 1]);
    const spans = recorder.spans();
    expect(spans.map((s) => [s.operationName, s.tags['db.redis.batch_size'], s.parentId])).toEqual([
      ['redis:MULTI', 2, spans[1]!.spanId],
      ['request', undefined, undefined],
    ]);
  });
});

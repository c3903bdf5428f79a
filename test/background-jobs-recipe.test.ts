/**
 * The troubleshooting page's background-jobs recipe recorded no span: its
 * `startChildSpan('job')` outside a request went to the global (no-op) tracer
 * although the app had given its tracer to otinst. The recipe, taken from the
 * Markdown and run as written with `tracer` defined as the prose defines it,
 * must record the job's span and hang the job's client calls under it.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as core from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, snippetsOf } from './support/snippets';

const recipe = snippetsOf(join(ROOT, 'docs/troubleshooting.md')).find((snippet) => snippet.code.includes('runJob'));

let server: Server | undefined;
afterEach(async () => {
  if (server) await new Promise((resolve) => server!.close(resolve));
  server = undefined;
  core.resetConfig();
  core.uninstallPatches();
});

describe('docs/troubleshooting.md: background jobs', () => {
  it('has the recipe', () => {
    expect(recipe?.code).toContain('configure({ tracer })');
  });

  it('the recipe records the job span on the configured tracer, its client calls as children', async () => {
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    core.installPatches(['fetch']);

    const tracer = new RecordingTracer({ serviceName: 'jobs' });
    // the recipe as written, with the job's body filled in and runJob handed back
    const code = recipe!.code.replace(
      '// ... your job ...',
      `await (await fetch('http://127.0.0.1:${port}/')).text();`,
    );
    const run = new Function('require', 'tracer', `${code.replace(/^runJob\(/m, 'return runJob(')}`) as (
      require: NodeJS.Require,
      tracer: RecordingTracer,
    ) => Promise<unknown>;
    // the recipe's @otinst/core is the one this test installed the fetch hook with (not a second copy from dist)
    const requireFromRoot = createRequire(join(ROOT, 'package.json'));
    const requireForRecipe = ((id: string) => (id === '@otinst/core' ? core : requireFromRoot(id))) as NodeJS.Require;
    await run(requireForRecipe, tracer);

    const [client, job] = tracer.spans();
    expect(tracer.spans().map((span) => span.operationName)).toEqual(['GET', 'nightly-report']);
    expect(job!.parentId).toBeUndefined();
    expect(client!.parentId).toBe(job!.spanId);
    expect(client!.traceId).toBe(job!.traceId);
    expect(client!.tags).toMatchObject({ 'span.kind': 'client', 'http.status_code': 200 });
  });
});

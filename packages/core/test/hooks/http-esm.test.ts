import { execFile } from 'node:child_process';
import { assertBuilt } from '../../../../test/support/build';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * ESM applications, run as real `node` child processes against the build
 * (`npm test` runs `tsc -b` first; this test builds nothing). Inside vitest
 * every import goes through vite's module runner, so only a child process
 * shows what a plain `node app.mjs` sees.
 */
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const run = promisify(execFile);

interface FixtureSpan {
  operationName: string;
  traceId: string;
  spanId: string;
  parentId?: string;
  tags: Record<string, unknown>;
}
interface FixtureResult {
  patched: boolean;
  restored: boolean;
  received: (string | null)[];
  spans: FixtureSpan[];
}

async function runFixture(name: string): Promise<FixtureResult> {
  assertBuilt(['core', 'recorder'], 'the ESM fixture');
  const { stdout } = await run(process.execPath, [`test/esm/${name}`], { cwd: root, timeout: 15_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as FixtureResult;
}

/** Each client span's parent is a `parent` span of its trace, and the server got the client span's traceparent. */
function expectLinkedClientSpans(result: FixtureResult, urls: string[]): void {
  const clients = result.spans.filter((s) => s.operationName === 'GET');
  expect(clients.map((s) => new URL(String(s.tags['http.url'])).pathname)).toEqual(urls);
  clients.forEach((client, i) => {
    const parent = result.spans.find((s) => s.spanId === client.parentId)!;
    expect(parent.operationName).toBe('parent');
    expect(parent.traceId).toBe(client.traceId);
    expect(client.tags).toMatchObject({ 'span.kind': 'client', component: 'http', 'http.status_code': 200 });
    expect(result.received[i]).toBe(`00-${client.traceId}-${client.spanId}-01`);
  });
}

describe('http hook from ESM (node child process, built code)', () => {
  it("`import { request, get } from 'node:http'` bound before installPatches is traced, and restored after", async () => {
    const result = await runFixture('http-named-import.mjs');
    expect(result.patched).toBe(true);
    expect(result.restored).toBe(true);
    expectLinkedClientSpans(result, ['/', '/']);
    // the third request ran after uninstallPatches: a parent, no client span, no header
    expect(result.spans.map((s) => s.operationName)).toEqual(['GET', 'parent', 'GET', 'parent', 'parent']);
    expect(result.received[2]).toBeNull();
  });

  it('node:http imported from ESM for the first time after installPatches is traced', async () => {
    const result = await runFixture('http-late-import.mjs');
    expect(result.patched).toBe(true);
    expect(result.restored).toBe(true);
    expectLinkedClientSpans(result, ['/late']);
  });
});

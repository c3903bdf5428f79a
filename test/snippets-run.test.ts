/**
 * Every CommonJS snippet of the READMEs and docs runs as pasted: each one is
 * written to `snippet.cjs` in a temporary folder whose `node_modules` is the
 * repository's (so `require('@otinst/express')` gets the built workspace
 * package) and run with `node` in a child process. It passes when it exits 0
 * by itself with nothing on stderr.
 *
 * The child first loads PRELUDE, which defines only the names that the prose
 * around the snippets defines ("your tracer" `tracer`/`myTracer`, "your
 * database client" `db`) and keeps servers from colliding (see there). A
 * snippet that cannot run on its own is marked on the line before its fence,
 * `<!-- snippet: no-run reason -->`; those are counted, and they must still be
 * valid CommonJS (a `require()` beside a top-level `await` is not).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFunction } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './support/build';
import { markdownFiles, ROOT, snippetsOf, type DocSnippet } from './support/snippets';

const PRELUDE = `'use strict';
// The names the docs' prose defines, and nothing else.
const { RecordingTracer } = require('@otinst/recorder');
// "your tracer" (README: myTracer)
globalThis.tracer = globalThis.myTracer = new RecordingTracer({ serviceName: 'snippet' });
// "your database client": only called inside route handlers, which no snippet request reaches
globalThis.db = { query: async () => [], load: async (id) => ({ id }) };

// The docs listen on port 3000 and leave the server running, as an app does. Here many
// snippets run at once and each must exit when its set-up is done: a server asked for a
// fixed port listens on port 0 instead and does not keep the process alive (unref). A server
// asked for port 0 is the snippet's own business.
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnFreePort(...args) {
  const [first] = args;
  const fixed = (port) => port !== undefined && port !== null && Number(port) !== 0;
  let rewritten = false;
  if ((typeof first === 'number' || typeof first === 'string') && fixed(first)) {
    args[0] = 0;
    rewritten = true;
  } else if (first !== null && typeof first === 'object' && fixed(first.port)) {
    args[0] = { ...first, port: 0 };
    rewritten = true;
  }
  const result = listen.apply(this, args);
  if (rewritten) this.unref();
  return result;
};
`;

/** Runs that take longer are reported as "did not exit" (a server, client or timer left open). */
const EXIT_WITHIN_MS = 30_000;
const PARALLEL = 3;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const snippets = markdownFiles()
  .flatMap(snippetsOf)
  .filter((snippet) => /^(js|javascript|cjs)$/.test(snippet.lang));
const runnable = snippets.filter((snippet) => snippet.noRun === undefined);
const notRun = snippets.filter((snippet) => snippet.noRun !== undefined);
const where = (snippet: DocSnippet) => `${snippet.source}:${snippet.line}`;

/**
 * How many snippets are marked no-run. Change it on purpose only: a new mark
 * means a snippet users cannot paste as it stands.
 */
const NO_RUN_COUNT = 13;

let work = '';
const outcomes = new Map<DocSnippet, Outcome>();

function run(snippet: DocSnippet, index: number): Promise<Outcome> {
  const file = join(work, `snippet-${index}.cjs`);
  writeFileSync(file, snippet.code);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', join(work, 'prelude.cjs'), file],
      { cwd: work, timeout: EXIT_WITHIN_MS, env: { ...process.env, OTINST_DEBUG: '' } },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number; killed?: boolean }) | null;
        resolve({ code: failure ? (failure.code ?? 1) : 0, stdout, stderr, timedOut: failure?.killed === true });
      },
    );
  });
}

describe('documentation snippets run as pasted', () => {
  beforeAll(async () => {
    assertBuilt(['core', 'recorder', 'express', 'koa', 'fastify', 'hapi'], 'the snippet runner');
    work = mkdtempSync(join(tmpdir(), 'otinst-snippets-'));
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    writeFileSync(join(work, 'prelude.cjs'), PRELUDE);
    let next = 0;
    const worker = async () => {
      while (next < runnable.length) {
        const index = next++;
        outcomes.set(runnable[index]!, await run(runnable[index]!, index));
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  }, 300_000);
  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('finds the CommonJS snippets', () => {
    expect(runnable.length).toBeGreaterThan(20);
  });

  it(`marks exactly ${NO_RUN_COUNT} snippets no-run, each with a reason`, () => {
    expect(notRun.filter((snippet) => snippet.noRun === '').map(where)).toEqual([]);
    expect(
      notRun.map((snippet) => `${where(snippet)} (${snippet.noRun})`),
      'NO_RUN_COUNT changed',
    ).toHaveLength(NO_RUN_COUNT);
  });

  it('every js/cjs snippet is a CommonJS script (ES modules are fenced as mjs or ts)', () => {
    const invalid: string[] = [];
    for (const snippet of snippets) {
      try {
        // how Node wraps a CommonJS module: a top-level await or an import statement does not compile
        compileFunction(snippet.code, ['exports', 'require', 'module', '__filename', '__dirname']);
      } catch (error) {
        invalid.push(`${where(snippet)}: ${(error as Error).message}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  for (const snippet of runnable) {
    it(`${where(snippet)} exits 0 with nothing on stderr`, () => {
      const outcome = outcomes.get(snippet);
      expect(outcome, 'not run').toBeDefined();
      const { code, stderr, timedOut } = outcome!;
      expect(timedOut, `did not exit within ${EXIT_WITHIN_MS / 1000}s:\n${snippet.code}`).toBe(false);
      expect({ code, stderr }, snippet.code).toEqual({ code: 0, stderr: '' });
    });
  }
});

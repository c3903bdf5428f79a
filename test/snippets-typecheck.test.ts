/**
 * Every JavaScript/TypeScript snippet in the READMEs and docs is typechecked
 * against the packages' published declarations (the build that `npm test`
 * makes first). A snippet may use names it does not define (`tracer`, `app`,
 * `db`: the surrounding prose defines them); those become `any` and nothing
 * else is forgiven: a wrong export name, a wrong argument, a wrong option
 * fails the test.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { markdownFiles, ROOT, snippetsOf, type DocSnippet } from './support/snippets';

const requireFromRoot = createRequire(join(ROOT, 'package.json'));

function installed(name: string): boolean {
  try {
    requireFromRoot.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
}
const WORK = join(ROOT, 'test', '.snippets');

interface Snippet {
  source: string;
  index: number;
  file: string;
  code: string;
}

function toFile(snippet: DocSnippet): Snippet {
  const { commonJs, lang, code, source, index } = snippet;
  const ext = commonJs ? '.cjs' : lang.startsWith('t') ? '.mts' : '.mjs';
  const name = `${source.replace(/[^a-z0-9]+/gi, '_')}_${index}${ext}`;
  return { source, index, file: join(WORK, name), code: `export {};\n${code}` };
}

const OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noImplicitAny: false,
  allowJs: true,
  checkJs: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
};

/** Names used but not defined ("Cannot find name", a shorthand property): declared as `any` in a prelude. */
const UNDEFINED_NAME = new Set([2304, 2552, 2580, 2591, 18004]);

/**
 * Forgiven: a module the docs show but this repository does not install
 * (dd-trace), and third-party typing quirks that a JavaScript user never sees,
 * in JavaScript snippets only: untyped fastify/hapi handlers get `unknown`
 * params (TS18046), and @koa/router's declarations give
 * `require('@koa/router')` no construct signature although the runtime export
 * is the class (TS2351).
 */
function forgiven(diagnostic: ts.Diagnostic, text: string): boolean {
  // a tracer the docs show but this repository does not install (dd-trace)
  const missing = /Cannot find module '([^']+)'/.exec(text)?.[1];
  if (diagnostic.code === 2307 && missing !== undefined && !missing.startsWith('@otinst/') && !installed(missing))
    return true;
  const javascript = /\.(c|m)?js$/.test(diagnostic.file?.fileName ?? '');
  if (!javascript) return false;
  return diagnostic.code === 18046 || (diagnostic.code === 2351 && text.includes('@koa/router'));
}

function check(snippets: Snippet[]): Map<Snippet, string[]> {
  const preludes = new Map<string, Set<string>>();
  const diagnose = () => {
    for (const snippet of snippets) {
      const names = [...(preludes.get(snippet.file) ?? [])];
      const typescript = snippet.file.endsWith('.mts');
      const prelude = names
        .map((name) =>
          typescript ? `declare const ${name}: any;` : `const ${name} = /** @type {any} */ (globalThis)['${name}'];`,
        )
        .join(' ');
      // CommonJS: `export {}` would make it an ES module; keep the file a script with its own scope
      const code = snippet.file.endsWith('.cjs')
        ? `${prelude}\n{\n${snippet.code.replace('export {};\n', '')}\n}\n`
        : `${prelude}\n${snippet.code}`;
      writeFileSync(snippet.file, code);
    }
    const program = ts.createProgram(
      snippets.map((snippet) => snippet.file),
      OPTIONS,
    );
    return ts.getPreEmitDiagnostics(program);
  };
  for (let pass = 0; pass < 4; pass++) {
    let added = false;
    for (const diagnostic of diagnose()) {
      if (!UNDEFINED_NAME.has(diagnostic.code) || diagnostic.file === undefined) continue;
      const name = /(?:name|property) '([^']+)'/.exec(
        ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '),
      )?.[1];
      if (name === undefined) continue;
      const set = preludes.get(diagnostic.file.fileName) ?? new Set<string>();
      if (!set.has(name)) added = true;
      set.add(name);
      preludes.set(diagnostic.file.fileName, set);
    }
    if (!added) break;
  }
  const errors = new Map<Snippet, string[]>();
  for (const diagnostic of diagnose()) {
    const snippet = snippets.find((candidate) => candidate.file === diagnostic.file?.fileName);
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (forgiven(diagnostic, text)) continue;
    if (snippet === undefined) {
      errors.set({ source: 'global', index: 0, file: '', code: '' }, [text]);
      continue;
    }
    const list = errors.get(snippet) ?? [];
    list.push(`TS${diagnostic.code}: ${text}`);
    errors.set(snippet, list);
  }
  return errors;
}

describe('documentation snippets typecheck against the published declarations', () => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  afterAll(() => rmSync(WORK, { recursive: true, force: true }));

  const snippets = markdownFiles().flatMap(snippetsOf).map(toFile);

  it('finds the snippets', () => {
    expect(snippets.length).toBeGreaterThan(30);
  });

  it('every snippet typechecks', () => {
    expect(existsSync(join(ROOT, 'packages/core/dist/index.d.ts')), 'run npx tsc -b (npm test does) first').toBe(true);
    const errors = check(snippets);
    const report = [...errors].map(
      ([snippet, list]) => `${snippet.source} snippet #${snippet.index}:\n  ${list.join('\n  ')}`,
    );
    expect(report).toEqual([]);
  }, 120_000);
});

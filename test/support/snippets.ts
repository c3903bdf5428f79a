/**
 * The code snippets of the READMEs and docs, for the tests that typecheck and
 * run them. A snippet that cannot run on its own (a fragment of a larger app,
 * or one that needs a cloud account) says so in the Markdown, on the line
 * before its fence:
 *
 *     <!-- snippet: no-run a route of the app above -->
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');

/** The Markdown files whose snippets users copy: the README, docs/, examples/ and the package READMEs. */
export function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md')];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      // docs/api is typedoc output (npm run docs:api), not committed
      if (entry === 'node_modules' || entry === 'dist' || (entry === 'api' && dir === join(ROOT, 'docs'))) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith('.md')) files.push(path);
    }
  };
  walk(join(ROOT, 'docs'));
  walk(join(ROOT, 'examples'));
  for (const name of ['core', 'recorder', 'express', 'koa', 'fastify', 'hapi'])
    files.push(join(ROOT, 'packages', name, 'README.md'));
  return files.filter((file) => existsSync(file));
}

export interface DocSnippet {
  /** The Markdown file, relative to the repository root. */
  source: string;
  /** The snippet's position among the file's snippets, from 0. */
  index: number;
  /** The line of the opening fence, from 1. */
  line: number;
  /** The fence's language: js, javascript, cjs, mjs, ts or typescript. */
  lang: string;
  code: string;
  /** `require()` and no `import` statement. */
  commonJs: boolean;
  /** The reason given by a `<!-- snippet: no-run reason -->` marker, if any. */
  noRun: string | undefined;
}

// a fence may be indented (inside a list item): its lines lose that indentation
const FENCE = /^( *)```(js|javascript|ts|typescript|mjs|cjs)\n([\s\S]*?)^ *```/gm;
const MARKER = /<!--\s*snippet:\s*no-run\b\s*(.*?)\s*-->\s*$/;

/** The JavaScript and TypeScript snippets of one Markdown file. */
export function snippetsOf(file: string): DocSnippet[] {
  const markdown = readFileSync(file, 'utf8');
  return [...markdown.matchAll(FENCE)].map((match, index) => {
    const before = markdown.slice(0, match.index).split('\n');
    const previous = before[before.length - 2] ?? '';
    const indent = match[1]!.length;
    const code = match[3]!
      .split('\n')
      .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
      .join('\n');
    return {
      source: relative(ROOT, file),
      index,
      line: before.length,
      lang: match[2]!,
      code,
      commonJs: /\brequire\(/.test(code) && !/^\s*import\s/m.test(code),
      noRun: MARKER.exec(previous)?.[1],
    };
  });
}

/**
 * The documentation cannot rot silently: every relative link resolves, every
 * option of `TracingOptions` is in the configuration reference with the
 * default its doc comment states, and every JavaScript/TypeScript snippet in
 * the READMEs and docs parses and imports only names the packages export.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');

function isGeneratedApiFolder(dir: string, entry: string): boolean {
  return entry === 'api' && dir === join(ROOT, 'docs');
}

function markdownFiles(): string[] {
  const files = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md'].map((file) => join(ROOT, file));
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      // dist and docs/api are build output (npm run build, npm run docs:api), not committed
      if (entry === 'node_modules' || entry === 'dist' || isGeneratedApiFolder(dir, entry)) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith('.md')) files.push(path);
    }
  };
  walk(join(ROOT, 'docs'));
  walk(join(ROOT, 'examples'));
  walk(join(ROOT, 'packages'));
  walk(join(ROOT, 'bench'));
  return files.filter((file) => existsSync(file));
}

function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const line of markdown.split('\n')) {
    const match = /^#{1,6}\s+(.*)$/.exec(line);
    if (match) found.add(slug(match[1]!.replace(/`/g, '')));
  }
  return found;
}

function withoutCode(markdown: string): string {
  return markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
}

const files = markdownFiles();

describe('links', () => {
  it('finds the documentation', () => {
    expect(files.map((file) => relative(ROOT, file))).toEqual(
      expect.arrayContaining(['README.md', 'docs/configuration.md', 'docs/context.md']),
    );
  });

  for (const file of files) {
    it(`every relative link in ${relative(ROOT, file)} resolves`, () => {
      const markdown = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const match of withoutCode(markdown).matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = match[1]!;
        // the package READMEs link to the repository absolutely (they are read on the registry and in node_modules)
        const inRepository = /^https:\/\/github\.com\/otinst\/otinst\/(?:blob|tree)\/main\/(.*)$/.exec(target);
        if (!inRepository && /^[a-z]+:/i.test(target)) continue; // external: no network here
        const [path, anchor] = (inRepository ? inRepository[1]! : target).split('#') as [string, string | undefined];
        const resolved = inRepository ? join(ROOT, path) : path === '' ? file : resolve(dirname(file), path);
        if (!existsSync(resolved)) {
          broken.push(target);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(target);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});

describe('configuration reference', () => {
  const types = readFileSync(join(ROOT, 'packages/core/src/types.ts'), 'utf8');
  const body = types.slice(types.indexOf('export interface TracingOptions'));
  const options = [...body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n\s*(\w+)\?:/g)].map((match) => ({
    name: match[2]!,
    default: /@default (.*?)(?:\s*\*\/|\n|$)/.exec(match[1]!)?.[1]?.trim(),
  }));
  const reference = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');

  it('reads the options from the types', () => {
    expect(options.map((option) => option.name)).toContain('captureResponseHeaders');
    expect(options.length).toBeGreaterThanOrEqual(9);
  });

  for (const option of options) {
    it(`documents ${option.name} with its default`, () => {
      expect(option.default, `${option.name} has no @default in types.ts`).toBeDefined();
      const row = reference.split('\n').find((line) => line.startsWith(`| \`${option.name}\` |`));
      expect(row, `${option.name} is missing from docs/configuration.md`).toBeDefined();
      const plain = (text: string) => text.replace(/`/g, '').replace(/\s+/g, ' ').replace(/ ,/g, ',').trim();
      const defaultCell = row!.split(' | ')[2]!;
      expect(plain(defaultCell)).toContain(plain(option.default!));
    });
  }
});

const PACKAGES: Record<string, string> = {
  '@otinst/core': 'core',
  '@otinst/recorder': 'recorder',
  '@otinst/express': 'express',
  '@otinst/koa': 'koa',
  '@otinst/fastify': 'fastify',
  '@otinst/hapi': 'hapi',
};

describe('code snippets', async () => {
  const exportsOf = new Map<string, Set<string>>();
  for (const [name, folder] of Object.entries(PACKAGES)) {
    const module = (await import(`../packages/${folder}/src/index.ts`)) as Record<string, unknown>;
    exportsOf.set(name, new Set(Object.keys(module)));
  }

  for (const file of files) {
    const markdown = readFileSync(file, 'utf8');
    const snippets = [...markdown.matchAll(/```(js|javascript|ts|typescript|mjs|cjs)\n([\s\S]*?)```/g)];
    if (snippets.length === 0) continue;
    it(`snippets in ${relative(ROOT, file)} parse and import what the packages export`, () => {
      for (const [, lang, code] of snippets) {
        const source = ts.createSourceFile(
          'snippet.' + (lang!.startsWith('t') ? 'ts' : 'js'),
          code!,
          ts.ScriptTarget.Latest,
          true,
        );
        const diagnostics = (source as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics;
        expect(
          diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
          `a snippet in ${relative(ROOT, file)} does not parse:\n${code}`,
        ).toEqual([]);
        const imports = [
          ...code!.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'(@otinst\/[a-z]+)'/g),
          ...code!.matchAll(/(?:const|let|var)\s*\{([^}]*)\}\s*=\s*require\('(@otinst\/[a-z]+)'\)/g),
        ];
        for (const [, names, pkg] of imports) {
          const exported = exportsOf.get(pkg!);
          expect(exported, `unknown package ${pkg}`).toBeDefined();
          for (const raw of names!.split(',')) {
            const name = raw
              .trim()
              .replace(/^type\s+/, '')
              .split(/\s*(?::|\bas\b)\s*/)[0]!;
            if (
              name === '' ||
              (/^[A-Z]\w*(Options|Info|Wrapper|Request|Span|Hook|Config|Logger|Interceptor|Name|Settings)$/.test(
                name,
              ) &&
                !exported!.has(name))
            )
              continue;
            expect(exported!.has(name), `${pkg} does not export ${name} (used in ${relative(ROOT, file)})`).toBe(true);
          }
        }
      }
    });
  }
});

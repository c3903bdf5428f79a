/**
 * The packages as users get them: `npm pack` each one, install the tarballs
 * into a fresh project outside the repository, and run a small app per
 * framework from CommonJS and from ESM, then typecheck a TypeScript consumer
 * (`strict`, `moduleResolution: nodenext`). publint and arethetypeswrong check
 * the packages' shape. Needs the build (`npm test` runs `tsc -b` first).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const PACKAGES = ['core', 'recorder', 'express', 'koa', 'fastify', 'hapi'];
const BIN = join(ROOT, 'node_modules/.bin');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let work: string;
let project: string;
const tarballs: string[] = [];

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'otinst-consumer-'));
  const packs = join(work, 'packs');
  mkdirSync(packs);
  run(
    npm,
    ['pack', ...PACKAGES.flatMap((name) => ['-w', `@otinst/${name}`]), '--pack-destination', packs, '--silent'],
    ROOT,
  );
  for (const file of readdirSync(packs)) tarballs.push(join(packs, file));
  project = join(work, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'otinst-consumer', private: true }, null, 2));
  const versionOf = (name: string) =>
    (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  const thirdParty = [
    'express',
    'koa',
    '@koa/router',
    'fastify',
    '@hapi/hapi',
    'opentracing',
    'typescript',
    '@types/node',
    '@types/express',
    '@types/koa',
    '@types/koa__router',
  ];
  run(
    npm,
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...tarballs,
      ...thirdParty.map((name) => `${name}@${versionOf(name)}`),
    ],
    project,
  );
  for (const file of ['app.cjs', 'app.mjs', 'app.ts']) cpSync(join(__dirname, file), join(project, file));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const EXPECTED_SPANS = [
  { name: 'GET /users/:id', component: 'express' },
  { name: 'GET /users/:id', component: 'koa' },
  { name: 'GET /users/:id', component: 'fastify' },
  { name: 'GET /users/{id}', component: 'hapi' },
];

describe('installed from the packed tarballs', () => {
  it.each(['app.cjs', 'app.mjs'])('%s traces one request per framework', (file) => {
    const output = JSON.parse(run(process.execPath, [file], project)) as { bodies: unknown[]; spans: unknown[] };
    expect(output.bodies).toEqual([{ traced: true }, { traced: true }, { traced: true }, { traced: true }]);
    expect(output.spans).toEqual(EXPECTED_SPANS);
  });

  it('typechecks a strict TypeScript consumer with moduleResolution nodenext', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          // @hapi/hapi's and @types/koa's own declarations do not check on their own (missing joi, a content-disposition mismatch)
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it.each(PACKAGES)('@otinst/%s passes publint and arethetypeswrong', (name) => {
    const tarball = tarballs.find((file) => file.includes(`otinst-${name}-`))!;
    expect(tarball).toBeDefined();
    const publint = run(join(BIN, 'publint'), ['run', tarball, '--strict', '--level', 'warning'], ROOT);
    expect(publint).not.toMatch(/Errors:|Warnings:/);
    expect(() => run(join(BIN, 'attw'), [tarball, '--profile', 'node16', '--format', 'ascii'], ROOT)).not.toThrow();
  });
});

/**
 * The packages as users get them. In a copy of the repository as a fresh clone
 * has it (the files git tracks or would track: no `dist`, no build info),
 * `scripts/install-from-clone.js` packs every package, which must build
 * through `prepack`, and installs the tarballs alone into a fresh project
 * outside the repository. Each tarball's file list and package.json are
 * checked, a small app per
 * framework runs from CommonJS and from ESM, and a TypeScript consumer
 * (`strict`, `moduleResolution: nodenext`) typechecks. publint and
 * arethetypeswrong check the packages' shape. Run on every supported Node
 * line (`.ci/run`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const PACKAGES = ['core', 'recorder', 'express', 'koa', 'fastify', 'hapi'];
const ADAPTERS = ['express', 'koa', 'fastify', 'hapi'];
const BIN = join(ROOT, 'node_modules/.bin');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const REPOSITORY = 'https://github.com/otinst/otinst';
/** The `@types/*` packages each package's declarations import, so its optional peer dependencies. */
const TYPES_PEERS: Record<string, string[]> = {
  core: ['@types/node'],
  express: ['@types/express'],
  koa: ['@types/koa'],
};

interface Packed {
  name: string;
  /** the tarball's file list, without its `package/` prefix */
  files: string[];
}
interface Manifest {
  name: string;
  version: string;
  license?: string;
  author?: unknown;
  homepage?: string;
  repository?: { type?: string; url?: string; directory?: string };
  bugs?: { url?: string };
  engines?: { node?: string };
  publishConfig?: { access?: string };
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

let work: string;
let clone: string;
let project: string;
const tarballs: string[] = [];
const packed = new Map<string, Packed>();
const builtBeforePack: string[] = [];
let installLog = '';

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/**
 * The repository as a fresh clone has it: the files git tracks plus the new
 * ones it would track (so uncommitted work is tested too), at the root and
 * under packages/. node_modules links to the repository's installed
 * dependencies, except the workspace links, which point into the copy.
 */
function copyAsFreshClone(to: string): void {
  const listed = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT)
    .split('\0')
    .filter((file) => file !== '' && (!file.includes('/') || /^(packages|scripts)\//.test(file)));
  for (const file of listed) {
    if (!existsSync(join(ROOT, file))) continue; // deleted, not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(ROOT, file), join(to, file));
  }
  const modules = join(to, 'node_modules');
  mkdirSync(join(modules, '@otinst'), { recursive: true });
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry !== '@otinst') symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
  for (const name of PACKAGES) symlinkSync(join(to, 'packages', name), join(modules, '@otinst', name));
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'otinst-consumer-'));
  clone = join(work, 'clone');
  copyAsFreshClone(clone);
  for (const name of PACKAGES) if (existsSync(join(clone, 'packages', name, 'dist'))) builtBeforePack.push(name);
  project = join(work, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'otinst-consumer', private: true }, null, 2));
  const versionOf = (name: string) =>
    readJson<{ version: string }>(join(ROOT, 'node_modules', name, 'package.json')).version;
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
  const offline = { ...process.env, npm_config_prefer_offline: 'true', npm_config_loglevel: 'error' };
  execFileSync(npm, ['install', '--no-audit', '--no-fund', ...thirdParty.map((name) => `${name}@${versionOf(name)}`)], {
    cwd: project,
    env: offline,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 240_000,
  });
  // the one command README and getting started give until the first publish
  installLog = execFileSync(process.execPath, [join(clone, 'scripts/install-from-clone.js'), project], {
    cwd: work,
    env: offline,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
  });
  const vendor = join(project, 'vendor/otinst');
  for (const file of readdirSync(vendor)) {
    const tarball = join(vendor, file);
    tarballs.push(tarball);
    const name = `@otinst/${/^otinst-(.+)-\d+\.\d+\.\d+.*\.tgz$/.exec(file)![1]!}`;
    const files = run('tar', ['-tzf', tarball], work)
      .split('\n')
      .filter((line) => line !== '' && !line.endsWith('/'))
      .map((line) => line.replace(/^package\//, ''));
    packed.set(name, { name, files });
  }
  for (const file of ['app.cjs', 'app.mjs', 'app.ts']) cpSync(join(__dirname, file), join(project, file));
}, 420_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const EXPECTED_SPANS = [
  { name: 'GET /users/:id', component: 'express' },
  { name: 'GET /users/:id', component: 'koa' },
  { name: 'GET /users/:id', component: 'fastify' },
  { name: 'GET /users/{id}', component: 'hapi' },
];

const installed = (name: string) => join(project, 'node_modules', '@otinst', name);

describe('npm pack from a fresh clone', () => {
  it('starts without any build, so the build in the tarballs comes from prepack', () => {
    expect(builtBeforePack).toEqual([]);
    expect([...packed.keys()].sort()).toEqual(PACKAGES.map((name) => `@otinst/${name}`).sort());
  });

  it('scripts/install-from-clone.js installs every package from its tarball, saved as file: dependencies', () => {
    expect(installLog).toMatch(/^Installed @otinst\/core@\S+, .*@otinst\/hapi@\S+ into /m);
    const { dependencies } = readJson<{ dependencies: Record<string, string> }>(join(project, 'package.json'));
    for (const name of PACKAGES) {
      const version = readJson<Manifest>(join(ROOT, 'packages', name, 'package.json')).version;
      expect(dependencies[`@otinst/${name}`]).toBe(`file:vendor/otinst/otinst-${name}-${version}.tgz`);
      expect(readJson<Manifest>(join(installed(name), 'package.json')).version).toBe(version);
    }
  });

  it.each(PACKAGES)('@otinst/%s ships dist, types, sources, LICENSE, README and package.json, no tests', (name) => {
    const files = packed.get(`@otinst/${name}`)!.files;
    const expected = ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts'];
    if (ADAPTERS.includes(name)) expected.push('dist/index.mjs', 'dist/index.d.mts', 'src/index.mts');
    expect(files).toEqual(expect.arrayContaining(expected));
    expect(files.filter((file) => /\.test\.|tsbuildinfo|^test\/|node_modules/.test(file))).toEqual([]);
    // every compiled source has its output, so dist is complete rather than a partial build
    const sources = files.filter((file) => /^src\/.*\.m?ts$/.test(file));
    for (const source of sources) {
      const output = source
        .replace(/^src\//, 'dist/')
        .replace(/\.ts$/, '.js')
        .replace(/\.mts$/, '.mjs');
      expect(files).toContain(output);
    }
  });

  it.each(PACKAGES)('@otinst/%s source maps and declaration maps resolve inside the package', (name) => {
    const dir = installed(name);
    const maps = readdirSync(join(dir, 'dist'), { recursive: true, encoding: 'utf8' }).filter((file) =>
      file.endsWith('.map'),
    );
    expect(maps.length).toBeGreaterThan(0);
    const unresolved: string[] = [];
    for (const map of maps) {
      const mapFile = join(dir, 'dist', map);
      const { sources } = readJson<{ sources: string[] }>(mapFile);
      for (const source of sources) {
        const target = resolve(dirname(mapFile), source);
        if (!target.startsWith(dir + '/') || !existsSync(target)) unresolved.push(`${map}: ${source}`);
      }
    }
    expect(unresolved).toEqual([]);
  });

  it.each(PACKAGES)('@otinst/%s carries the Apache-2.0 LICENSE text and a README with absolute links', (name) => {
    const license = readFileSync(join(installed(name), 'LICENSE'), 'utf8');
    expect(license).toBe(readFileSync(join(ROOT, 'LICENSE'), 'utf8'));
    expect(license).toContain('Apache License\n                           Version 2.0, January 2004');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    const readme = readFileSync(join(installed(name), 'README.md'), 'utf8');
    // a relative link works in the repository only: broken on the registry's page and in node_modules
    const relative = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((match) => match[1]!)
      .filter((target) => !/^(https?:\/\/|#)/.test(target));
    expect(relative).toEqual([]);
  });

  it.each(PACKAGES)('@otinst/%s package.json: public, licensed, linked to its repository folder, Node >=22', (name) => {
    const manifest = readJson<Manifest>(join(installed(name), 'package.json'));
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.publishConfig?.access).toBe('public');
    expect(manifest.repository).toEqual({
      type: 'git',
      url: `git+${REPOSITORY}.git`,
      directory: `packages/${name}`,
    });
    expect(manifest.homepage).toBe(`${REPOSITORY}/tree/main/packages/${name}#readme`);
    expect(manifest.bugs?.url).toBe(`${REPOSITORY}/issues`);
    expect(manifest.author).toEqual(expect.any(String));
    expect(manifest.engines).toEqual({ node: '>=22' });
    expect(manifest.scripts?.prepack).toBe('tsc -b');
    expect(JSON.stringify(manifest)).not.toMatch(/\/(work|home|tmp|Users)\/|file:/);
    // internal dependencies pinned to the exact release (lerna `exact`)
    for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
      if (dependency.startsWith('@otinst/')) expect(range).toBe(manifest.version);
    }
    const typesPeers = TYPES_PEERS[name] ?? [];
    for (const peer of typesPeers) {
      expect(manifest.peerDependencies?.[peer]).toEqual(expect.any(String));
      expect(manifest.peerDependenciesMeta?.[peer]).toEqual({ optional: true });
    }
    expect(Object.keys(manifest.peerDependencies ?? {}).filter((peer) => peer.startsWith('@types/'))).toEqual(
      typesPeers,
    );
  });

  it('every package.json in the repository states the same engines, and lerna pins exact versions', () => {
    const engines = ['package.json', ...PACKAGES.map((name) => `packages/${name}/package.json`)].map(
      (file) => readJson<Manifest>(join(ROOT, file)).engines,
    );
    expect(new Set(engines.map((value) => JSON.stringify(value)))).toEqual(new Set([JSON.stringify({ node: '>=22' })]));
    const lerna = readJson<{ command?: { version?: { exact?: boolean } } }>(join(ROOT, 'lerna.json'));
    expect(lerna.command?.version?.exact).toBe(true);
  });

  it('the @types/* packages each package declares are exactly those its declarations import', () => {
    for (const name of PACKAGES) {
      const dir = installed(name);
      const imported = new Set<string>();
      for (const file of readdirSync(join(dir, 'dist'), { recursive: true, encoding: 'utf8' })) {
        if (!/\.d\.m?ts$/.test(file)) continue;
        const text = readFileSync(join(dir, 'dist', file), 'utf8');
        for (const match of text.matchAll(/^(?:import|export)[^;]*?from '([^'.][^']*)'/gm)) {
          const specifier = match[1]!;
          if (specifier.startsWith('node:')) imported.add('@types/node');
          else if (specifier === 'express' || specifier === 'koa') imported.add(`@types/${specifier}`);
        }
      }
      expect([...imported].sort(), name).toEqual(TYPES_PEERS[name] ?? []);
    }
  });
});

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

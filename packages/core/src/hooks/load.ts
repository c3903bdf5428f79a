import Module, { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debug } from '../safe';

/**
 * Finding the copies of a library that the application loads, without ever
 * loading one on its behalf (API.md, "Hooks load nothing"):
 *
 * - already loaded through `require()` or through an ESM `import` of a
 *   CommonJS package (Node serves both from one instance): `require.cache`;
 * - loaded later through `require()` or an `import` of a CommonJS package:
 *   a `Module._load` listener (Node's ESM loader goes through it too, with
 *   the file name as the request);
 * - an ES module imported later: `module.registerHooks` (Node ≥ 22.15), which
 *   appends one line to the package's entry module that hands its namespace
 *   over once it has run.
 *
 * Nothing is resolved from the working directory or anywhere the application
 * did not load from.
 */
export type LibraryListener = (exports: unknown, version: string | undefined, baseDir: string) => void;

interface Watch {
  moduleName: string;
  /** `/node_modules/<package>/`: every file of the package has it in its path. */
  marker: string;
  listener: LibraryListener;
  seen: WeakSet<object>;
}

const watches: Watch[] = [];
let loadPatched = false;
type LoadFn = (request: string, parent: unknown, isMain: boolean) => unknown;
let originalLoad: LoadFn | undefined;
let patchedLoad: LoadFn | undefined;

type ModuleCache = Record<string, { exports: unknown; loaded?: boolean } | undefined>;
const moduleInternals = Module as unknown as {
  _load: LoadFn;
  _resolveFilename: (request: string, parent: unknown) => string;
  _cache: ModuleCache;
};

/** The package of a specifier: `@smithy/core/client` -> `@smithy/core`, `pg` -> `pg`. */
function packageOf(moduleName: string): string {
  const parts = moduleName.split('/');
  return parts.slice(0, moduleName.startsWith('@') ? 2 : 1).join('/');
}

function markerOf(moduleName: string): string {
  return `${sep}node_modules${sep}${packageOf(moduleName).split('/').join(sep)}${sep}`;
}

/** `<…>/node_modules/<package>` for a file inside the package of `moduleName`, or undefined. */
function packageRoot(file: string, moduleName: string): string | undefined {
  const marker = markerOf(moduleName);
  const at = file.lastIndexOf(marker);
  if (at === -1) return undefined;
  return file.slice(0, at + marker.length - 1);
}

function readVersion(baseDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(baseDir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Main files by package root and specifier: resolving reads package.json files, it executes nothing. */
const mains = new Map<string, string | null>();

/**
 * The file that `require(moduleName)` gives for the copy installed at `root`,
 * resolved from the `node_modules` folder that holds that copy (so never from
 * anywhere the application did not load it from).
 */
function mainFileOf(root: string, moduleName: string): string | undefined {
  const key = `${root}\0${moduleName}`;
  let main = mains.get(key);
  if (main === undefined) {
    const nodeModules = root.slice(0, root.length - packageOf(moduleName).length - 1);
    try {
      main = createRequire(join(nodeModules, 'noop.js')).resolve(moduleName);
      if (packageRoot(main, moduleName) !== root) main = null;
    } catch {
      main = null;
    }
    mains.set(key, main);
  }
  return main ?? undefined;
}

function notify(watch: Watch, exports: unknown, file: string): void {
  if ((typeof exports !== 'object' && typeof exports !== 'function') || exports === null) return;
  if (watch.seen.has(exports)) return;
  watch.seen.add(exports);
  const baseDir = packageRoot(file, watch.moduleName) ?? dirname(file);
  try {
    watch.listener(exports, readVersion(baseDir), baseDir);
  } catch (error) {
    debug(`patching ${watch.moduleName} failed`, error);
  }
}

/** Whether `file` is the main file of the copy of `moduleName` it belongs to. */
function isMainFile(file: string, moduleName: string): boolean {
  const root = packageRoot(file, moduleName);
  return root !== undefined && mainFileOf(root, moduleName) === file;
}

function onLoaded(request: string, parent: unknown, exports: unknown): void {
  // `import` of a CommonJS package arrives here with the file name as the request
  const byFile = isAbsolute(request);
  const relative = !byFile && request.startsWith('.');
  for (const watch of watches) {
    if (byFile) {
      if (request.includes(watch.marker) && isMainFile(request, watch.moduleName)) notify(watch, exports, request);
    } else if (relative) {
      // a file of the package requiring its own main (`mysql2/promise` requires `./index.js`)
      const from = (parent as { filename?: unknown } | undefined)?.filename;
      if (typeof from !== 'string' || !from.includes(watch.marker)) continue;
      try {
        const file = moduleInternals._resolveFilename(request, parent);
        if (isMainFile(file, watch.moduleName)) notify(watch, exports, file);
      } catch (error) {
        debug(`resolving ${request} failed`, error);
      }
    } else if (request === watch.moduleName) {
      try {
        notify(watch, exports, moduleInternals._resolveFilename(request, parent));
      } catch (error) {
        debug(`resolving ${request} failed`, error);
      }
    }
  }
}

function patchLoad(): void {
  if (loadPatched) return;
  loadPatched = true;
  originalLoad = moduleInternals._load;
  const load = originalLoad;
  patchedLoad = function otinstLoad(this: unknown, request: string, parent: unknown, isMain: boolean) {
    const exports = load.call(this, request, parent, isMain);
    if (watches.length > 0 && typeof request === 'string') onLoaded(request, parent, exports);
    return exports;
  };
  moduleInternals._load = patchedLoad;
}

/**
 * Puts `Module._load` back once nothing watches any more (`uninstallPatches`
 * restores every original), unless someone wrapped it after us: their wrapper
 * stays, and ours stays a pass-through under it (it checks `watches`).
 */
function unpatchLoad(): void {
  if (!loadPatched || watches.length > 0 || moduleInternals._load !== patchedLoad) return;
  moduleInternals._load = originalLoad!;
  loadPatched = false;
  patchedLoad = undefined;
}

/** The copies of `moduleName` that are in `require.cache` now (loaded, from any `node_modules`). */
function loadedCopies(moduleName: string): [file: string, exports: unknown][] {
  const cache = moduleInternals._cache;
  const needle = markerOf(moduleName);
  const roots = new Set<string>();
  for (const file of Object.keys(cache)) {
    if (!file.includes(needle)) continue;
    const root = packageRoot(file, moduleName);
    if (root !== undefined) roots.add(root);
  }
  const copies: [string, unknown][] = [];
  for (const root of roots) {
    const main = mainFileOf(root, moduleName);
    const entry = main === undefined ? undefined : cache[main];
    // a copy still running its top level is found by the `Module._load` listener when it is required again
    if (entry !== undefined && entry.loaded !== false) copies.push([main!, entry.exports]);
  }
  return copies;
}

// ---------------------------------------------------------------------------
// ES modules: `module.registerHooks` (synchronous, in-thread, Node ≥ 22.15)

const kEsmLoaded = Symbol.for('otinst.esmLoaded');
type EsmCallback = (moduleName: string, namespace: unknown, url: string) => void;
type RegisterHooks = (hooks: {
  resolve?: (specifier: string, context: unknown, next: (s: string, c?: unknown) => ResolveResult) => ResolveResult;
  load?: (url: string, context: unknown, next: (u: string, c?: unknown) => LoadResult) => LoadResult;
}) => { deregister(): void };
interface ResolveResult {
  url: string;
  format?: string | null;
}
interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | ArrayBufferView | null;
}

/** ESM entry URLs of watched packages -> package name, filled by the resolve hook. */
const esmEntries = new Map<string, string>();
let esmHooks: { deregister(): void } | undefined;

function onEsmLoaded(moduleName: string, namespace: unknown, url: string): void {
  let file: string;
  try {
    file = fileURLToPath(url);
  } catch {
    return;
  }
  // the classes may be named exports or members of the default export: hooks patch what they find
  const defaultExport = (namespace as { default?: unknown } | null)?.default;
  for (const watch of watches) {
    if (watch.moduleName !== moduleName) continue;
    notify(watch, namespace, file);
    if (defaultExport !== undefined) notify(watch, defaultExport, file);
  }
}

function sourceText(source: LoadResult['source']): string | undefined {
  if (typeof source === 'string') return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source))
    return Buffer.from(source as Uint8Array).toString('utf8');
  return undefined;
}

/**
 * Watches ES module imports of the watched packages: the resolve hook notes
 * which URL a bare `import 'name'` gives, and the load hook appends to that
 * module (and only that one) a line that imports its own namespace and hands
 * it to `onEsmLoaded` once the module has run. CommonJS files are left alone
 * (the `Module._load` listener sees them). No-op where Node lacks
 * `registerHooks`: there, an ESM-only copy is found only through the
 * `--import` flag (docs/esm.md).
 */
function watchEsm(): void {
  if (esmHooks !== undefined) return;
  const registerHooks = (Module as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  if (typeof registerHooks !== 'function') return;
  (globalThis as Record<symbol, unknown>)[kEsmLoaded] = onEsmLoaded satisfies EsmCallback;
  try {
    esmHooks = registerHooks({
      resolve(specifier, context, next) {
        const result = next(specifier, context);
        if (watches.some((watch) => watch.moduleName === specifier) && result.format !== 'commonjs') {
          esmEntries.set(result.url, specifier);
        }
        return result;
      },
      load(url, context, next) {
        const result = next(url, context);
        const moduleName = esmEntries.get(url);
        if (moduleName === undefined || result.format !== 'module') return result;
        const source = sourceText(result.source);
        if (source === undefined) return result;
        const notifier =
          `\n;import * as __otinstNamespace from ${JSON.stringify(url)};` +
          `globalThis[Symbol.for('otinst.esmLoaded')]?.(${JSON.stringify(moduleName)}, __otinstNamespace, ${JSON.stringify(url)});\n`;
        return { ...result, source: source + notifier };
      },
    });
  } catch (error) {
    debug('module.registerHooks failed: ES modules imported later are not patched', error);
  }
}

function unwatchEsm(): void {
  if (esmHooks === undefined || watches.length > 0) return;
  try {
    esmHooks.deregister();
  } catch (error) {
    debug('deregistering the module hooks failed', error);
  }
  esmHooks = undefined;
  esmEntries.clear();
  delete (globalThis as Record<symbol, unknown>)[kEsmLoaded];
}

/**
 * Calls `listener` with every copy of `moduleName` that the application has
 * loaded already or loads later (`require()` or `import`). Loads nothing.
 * Returns a function that stops watching.
 */
export function onLibrary(moduleName: string, listener: LibraryListener): () => void {
  const watch: Watch = { moduleName, marker: markerOf(moduleName), listener, seen: new WeakSet() };
  watches.push(watch);
  patchLoad();
  watchEsm();
  for (const [file, exports] of loadedCopies(moduleName)) notify(watch, exports, file);
  return () => {
    const at = watches.indexOf(watch);
    if (at !== -1) watches.splice(at, 1);
    unpatchLoad();
    unwatchEsm();
  };
}

/**
 * The exports of `request`, resolved beside the module whose exports are
 * `exports`, if the application has loaded it already; never loads it. For
 * a library's private classes, in the very copy the application uses.
 */
export function loadedBeside(exports: unknown, request: string): unknown {
  const cache = moduleInternals._cache;
  for (const file of Object.keys(cache)) {
    if (cache[file]?.exports !== exports) continue;
    try {
      return cache[createRequire(file).resolve(request)]?.exports;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Whether `version` lies in `[min, below)`; an unknown version is accepted. */
export function versionInRange(version: string | undefined, min: string, below: string): boolean {
  if (version === undefined) return true;
  const parse = (value: string) =>
    value
      .split(/[.+-]/)
      .slice(0, 3)
      .map((part) => Number.parseInt(part, 10) || 0);
  const compare = (a: number[], b: number[]) => {
    for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! - b[i]!;
    return 0;
  };
  const v = parse(version);
  return compare(v, parse(min)) >= 0 && compare(v, parse(below)) < 0;
}

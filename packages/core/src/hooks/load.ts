import Module, { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { debug } from '../safe';

/**
 * Finding a library whether it was loaded before or after installation, from
 * CommonJS or ESM.
 *
 * - Loaded already, or present in the application's `node_modules`: it is
 *   required now (from the application's directory), so that the hook patches
 *   the one CommonJS instance that both `require()` and `import` share (Node
 *   serves ESM imports of a CommonJS package from the same module cache).
 * - Any other copy required later (a nested `node_modules`): a `Module._load`
 *   listener patches it when it loads.
 */
export type LibraryListener = (exports: unknown, version: string | undefined, baseDir: string) => void;

interface Watch {
  moduleName: string;
  listener: LibraryListener;
  seen: WeakSet<object>;
}

const watches: Watch[] = [];
let loadPatched = false;
type LoadFn = (request: string, parent: unknown, isMain: boolean) => unknown;
let originalLoad: LoadFn | undefined;
let patchedLoad: LoadFn | undefined;

function packageRoot(resolved: string, moduleName: string): string | undefined {
  const marker = `${sep}node_modules${sep}${moduleName.split('/').join(sep)}${sep}`;
  const at = resolved.lastIndexOf(marker);
  if (at === -1) return undefined;
  return resolved.slice(0, at + marker.length - 1);
}

function readVersion(baseDir: string | undefined): string | undefined {
  if (baseDir === undefined) return undefined;
  try {
    return (JSON.parse(readFileSync(join(baseDir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function notify(watch: Watch, exports: unknown, resolved: string): void {
  if ((typeof exports !== 'object' && typeof exports !== 'function') || exports === null) return;
  if (watch.seen.has(exports)) return;
  watch.seen.add(exports);
  const baseDir = packageRoot(resolved, watch.moduleName) ?? dirname(resolved);
  try {
    watch.listener(exports, readVersion(baseDir), baseDir);
  } catch (error) {
    debug(`patching ${watch.moduleName} failed`, error);
  }
}

function patchLoad(): void {
  if (loadPatched) return;
  loadPatched = true;
  const moduleWithLoad = Module as unknown as { _load: LoadFn; _resolveFilename: (r: string, p: unknown) => string };
  originalLoad = moduleWithLoad._load;
  const load = originalLoad;
  patchedLoad = function otinstLoad(this: unknown, request: string, parent: unknown, isMain: boolean) {
    const exports = load.call(this, request, parent, isMain);
    if (watches.length === 0) return exports;
    for (const watch of watches) {
      if (request !== watch.moduleName) continue;
      try {
        notify(watch, exports, moduleWithLoad._resolveFilename(request, parent));
      } catch (error) {
        debug(`resolving ${request} failed`, error);
      }
    }
    return exports;
  };
  moduleWithLoad._load = patchedLoad;
}

/**
 * Puts `Module._load` back once nothing watches any more (`uninstallPatches`
 * restores every original), unless someone wrapped it after us: their wrapper
 * stays, and ours stays a pass-through under it.
 */
function unpatchLoad(): void {
  const moduleWithLoad = Module as unknown as { _load: LoadFn };
  if (!loadPatched || watches.length > 0 || moduleWithLoad._load !== patchedLoad) return;
  moduleWithLoad._load = originalLoad!;
  loadPatched = false;
  patchedLoad = undefined;
}

/** Requires from the application's point of view: its working directory and its entry script. */
function applicationRequires(): NodeJS.Require[] {
  const requires = [createRequire(join(process.cwd(), 'noop.js'))];
  const main = process.argv[1];
  if (main !== undefined && main !== '') {
    try {
      requires.push(createRequire(main));
    } catch {
      // not a file path (node -e, a REPL)
    }
  }
  return requires;
}

/**
 * Calls `listener` with every copy of `moduleName` that is present now or
 * loaded later through `require()`. Returns a function that stops watching.
 */
export function onLibrary(moduleName: string, listener: LibraryListener): () => void {
  const watch: Watch = { moduleName, listener, seen: new WeakSet() };
  watches.push(watch);
  patchLoad();
  const tried = new Set<string>();
  for (const req of applicationRequires()) {
    let resolved: string;
    try {
      resolved = req.resolve(moduleName);
    } catch {
      continue;
    }
    if (tried.has(resolved)) continue;
    tried.add(resolved);
    try {
      notify(watch, req(moduleName), resolved);
    } catch (error) {
      debug(`loading ${moduleName} failed`, error);
    }
  }
  return () => {
    const at = watches.indexOf(watch);
    if (at !== -1) watches.splice(at, 1);
    unpatchLoad();
  };
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

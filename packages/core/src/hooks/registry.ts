import { debug } from '../safe';
import { shared } from '../shared';
import type { HookName } from '../types';
import type { ClientHook } from './hook';
import { onLibrary, versionInRange } from './load';
import { restore, withGate, type Gate } from './wrap';
import { hook as amqplib } from './amqplib';
import { hook as awsSdk } from './aws-sdk';
import { hook as bullmq } from './bullmq';
import { hook as fetch } from './fetch';
import { hook as http } from './http';
import { hook as ioredis } from './ioredis';
import { hook as knex } from './knex';
import { hook as mysql2 } from './mysql2';
import { hook as pg } from './pg';
import { hook as redis } from './redis';

/**
 * The client hooks by name. Hook files import only the types of their
 * libraries: core loads no client library, ever; a hook patches the copies
 * that the application itself loads (hooks/load.ts).
 */
const HOOKS: Readonly<Record<HookName, ClientHook>> = {
  http,
  fetch,
  pg,
  mysql2,
  redis,
  ioredis,
  amqplib,
  'aws-sdk': awsSdk,
  bullmq,
  knex,
};

export const HOOK_NAMES = Object.freeze(Object.keys(HOOKS) as HookName[]);

export function isHookName(name: unknown): name is HookName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(HOOKS, name);
}

/**
 * The registry every copy of `@otinst/core` in the process uses: the first
 * copy's (on the shared global, shared.ts), so that hooks are installed once
 * and a second copy's adapter switches the first copy's hooks on and off.
 * Names are plain strings: a copy may know a hook the serving one does not.
 */
interface HookRegistry {
  /** Installs the named hooks; `lift` also removes them from the exclusions. */
  install(names: readonly string[], lift: boolean): void;
  uninstall(names: readonly string[] | undefined): void;
  exclude(names: readonly string[]): void;
  installed(): string[];
  excluded(): string[];
}

interface Installed {
  stopWatching: (() => void)[];
}

function createRegistry(): HookRegistry {
  const installed = new Map<HookName, Installed>();
  const excluded = new Set<HookName>();
  /** One installed flag per hook, kept across uninstall and install: layers left under a foreign wrapper check it. */
  const gates = new Map<HookName, Gate>();

  function gateOf(name: HookName): Gate {
    let gate = gates.get(name);
    if (gate === undefined) gates.set(name, (gate = { on: false }));
    return gate;
  }

  function installOne(name: HookName): void {
    if (installed.has(name) || excluded.has(name)) return;
    const hook = HOOKS[name];
    const gate = gateOf(name);
    gate.on = true;
    const entry: Installed = { stopWatching: [] };
    installed.set(name, entry);
    try {
      if (hook.install !== undefined) withGate(gate, () => hook.install!());
    } catch (error) {
      debug(`installing the ${name} hook failed`, error);
      return;
    }
    const [min, below] = hook.versions ?? ['0.0.0', '999999.0.0'];
    for (const moduleName of hook.modules ?? []) {
      const stop = onLibrary(moduleName, (exports, version) => {
        if (!versionInRange(version, min, below)) {
          debug(
            `${moduleName}@${version} is outside the ${name} hook's supported range >=${min} <${below}: not patched`,
          );
          return;
        }
        withGate(gate, () => hook.patch?.(exports, version, moduleName));
      });
      entry.stopWatching.push(stop);
    }
  }

  function uninstall(names: readonly string[] | undefined): void {
    const removing = [...installed.keys()].filter((name) => names === undefined || names.includes(name));
    const removedGates = new Set<Gate>();
    for (const name of removing) {
      for (const stop of installed.get(name)!.stopWatching) stop();
      const gate = gateOf(name);
      gate.on = false;
      removedGates.add(gate);
    }
    // originals first, then each hook's own clean-up (the http hook re-syncs ESM exports after the restore)
    restore(names === undefined ? undefined : removedGates);
    for (const name of removing) {
      try {
        HOOKS[name].unpatch?.();
      } catch (error) {
        debug(`uninstalling the ${name} hook failed`, error);
      }
      installed.delete(name);
    }
  }

  return {
    install(names, lift) {
      for (const name of names) {
        if (!isHookName(name)) {
          debug(`the ${name} hook is not known to the @otinst/core copy that serves this process`);
          continue;
        }
        if (lift) excluded.delete(name);
        installOne(name);
      }
    },
    uninstall,
    exclude(names) {
      const known = names.filter(isHookName);
      for (const name of known) excluded.add(name);
      uninstall(known);
    },
    installed: () => [...installed.keys()],
    excluded: () => [...excluded],
  };
}

const registry: HookRegistry = (shared.registry ??= createRegistry()) as HookRegistry;

function checkNames(what: string, names: unknown): readonly HookName[] {
  if (!Array.isArray(names)) {
    throw new TypeError(`@otinst/core: ${what} expects an array of hook names (${HOOK_NAMES.join(', ')})`);
  }
  for (const name of names as unknown[]) {
    if (!isHookName(name)) {
      throw new TypeError(
        `@otinst/core: unknown client hook "${String(name)}"; valid names are ${HOOK_NAMES.join(', ')}`,
      );
    }
  }
  return names as HookName[];
}

/**
 * Installs every client hook that is not excluded (`clientHooks: { exclude }`).
 * A hook loads nothing: it patches each supported library when, and only
 * when, the application loads it (before or after this call).
 *
 * @example
 * ```ts
 * import { installAllPatches } from '@otinst/core';
 * installAllPatches();
 * ```
 */
export function installAllPatches(): void {
  registry.install(HOOK_NAMES, false);
}

/**
 * Installs the named client hooks, also ones an adapter's
 * `clientHooks: { exclude }` turned off (an explicit call wins). An unknown
 * name throws a `TypeError` that lists the valid names. Installing twice
 * never wraps twice.
 *
 * @example
 * ```ts
 * import { installPatches } from '@otinst/core';
 * installPatches(['http', 'pg', 'redis']);
 * ```
 */
export function installPatches(names: readonly HookName[]): void {
  registry.install(checkNames('installPatches', names), true);
}

/**
 * Removes the named client hooks, or every one when called without names:
 * each patched function is put back (the same function object as before
 * installation) and every channel subscription ends. Where another tool
 * wrapped a function after otinst, otinst's layer stays under it as a
 * pass-through (a later install switches that layer back on, never a second
 * one). A later adapter created with `clientHooks: true` installs them again:
 * to keep a hook off, use `clientHooks: { exclude: [...] }`.
 *
 * @example
 * ```ts
 * import { uninstallPatches } from '@otinst/core';
 * uninstallPatches(['pg']); // only pg
 * uninstallPatches(); // all
 * ```
 */
export function uninstallPatches(names?: readonly HookName[]): void {
  registry.uninstall(names === undefined ? undefined : checkNames('uninstallPatches', names));
}

/** The hooks installed now. */
export function installedPatches(): HookName[] {
  return registry.installed().filter(isHookName);
}

/** What an adapter's `clientHooks` option asks for, once validated (options.ts). */
export type ClientHooksSetting = boolean | readonly HookName[] | { readonly exclude: readonly HookName[] };

/**
 * Applies an adapter's `clientHooks`: `true` installs every hook not
 * excluded, a list installs those of its names not excluded, `{ exclude }`
 * turns the named hooks off for the whole process (now and for every adapter
 * created later) and installs the others. `false` changes nothing.
 */
export function applyClientHooks(setting: ClientHooksSetting): void {
  if (setting === false) return;
  if (setting === true) {
    registry.install(HOOK_NAMES, false);
  } else if (Array.isArray(setting)) {
    registry.install(setting as readonly HookName[], false);
  } else {
    const { exclude } = setting as { readonly exclude: readonly HookName[] };
    registry.exclude(exclude);
    registry.install(HOOK_NAMES, false);
  }
}

/** The hooks turned off for the process by an adapter's `clientHooks: { exclude }`. */
export function excludedPatches(): HookName[] {
  return registry.excluded().filter(isHookName);
}

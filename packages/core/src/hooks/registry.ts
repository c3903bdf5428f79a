import { debug } from '../safe';
import type { HookName } from '../types';
import type { ClientHook } from './hook';
import { onLibrary, versionInRange } from './load';
import { restoreAll } from './wrap';
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
 * libraries: core loads no client library at import time; a library is loaded
 * (from the application's directory) when its hook is installed.
 * `undefined`: the name is reserved, and the hook not built yet.
 */
const HOOKS: Record<HookName, ClientHook | undefined> = {
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

interface Installed {
  hook: ClientHook;
  stopWatching: (() => void) | undefined;
}

const installed = new Map<HookName, Installed>();

function install(name: HookName): void {
  if (installed.has(name)) return;
  const hook = HOOKS[name];
  if (hook === undefined) {
    debug(`the ${name} hook is not available in this version`);
    return;
  }
  if (hook.module === undefined) {
    try {
      hook.patch(undefined, undefined);
    } catch (error) {
      debug(`installing the ${name} hook failed`, error);
      return;
    }
    installed.set(name, { hook, stopWatching: undefined });
    return;
  }
  const [min, below] = hook.versions ?? ['0.0.0', '999999.0.0'];
  const stopWatching = onLibrary(hook.module, (exports, version) => {
    if (!versionInRange(version, min, below)) {
      debug(`${hook.module}@${version} is outside the ${name} hook's supported range >=${min} <${below}: not patched`);
      return;
    }
    hook.patch(exports, version);
  });
  installed.set(name, { hook, stopWatching });
}

/**
 * Installs every client hook. A hook whose library is not installed costs
 * nothing (it patches the library if it is loaded later).
 *
 * @example
 * ```ts
 * import { installAllPatches } from '@otinst/core';
 * installAllPatches();
 * ```
 */
export function installAllPatches(): void {
  for (const name of HOOK_NAMES) install(name);
}

/**
 * Installs the named client hooks. An unknown name throws a `TypeError` that
 * lists the valid names. Installing twice never wraps twice.
 *
 * @example
 * ```ts
 * import { installPatches } from '@otinst/core';
 * installPatches(['http', 'pg', 'redis']);
 * ```
 */
export function installPatches(names: readonly HookName[]): void {
  if (!Array.isArray(names)) {
    throw new TypeError(`@otinst/core: installPatches expects an array of hook names (${HOOK_NAMES.join(', ')})`);
  }
  for (const name of names) {
    if (!isHookName(name)) {
      throw new TypeError(
        `@otinst/core: unknown client hook "${String(name)}"; valid names are ${HOOK_NAMES.join(', ')}`,
      );
    }
  }
  for (const name of names) install(name);
}

/**
 * Removes every client hook: each patched function is put back (the same
 * function object as before installation) and every channel subscription ends.
 *
 * @example
 * ```ts
 * import { uninstallPatches } from '@otinst/core';
 * uninstallPatches();
 * ```
 */
export function uninstallPatches(): void {
  for (const { stopWatching } of installed.values()) stopWatching?.();
  // originals first, then each hook's own clean-up (the http hook re-syncs ESM exports after the restore)
  restoreAll();
  for (const [name, { hook }] of installed) {
    try {
      hook.unpatch?.();
    } catch (error) {
      debug(`uninstalling the ${name} hook failed`, error);
    }
  }
  installed.clear();
}

/** The hooks installed now. */
export function installedPatches(): HookName[] {
  return [...installed.keys()];
}

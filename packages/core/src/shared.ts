import { AsyncLocalStorage } from 'node:async_hooks';
import { warnOnce } from './safe';

/**
 * What every copy of `@otinst/core` in one process shares, on a global
 * symbol: the request context and the client-hook registry. Two install paths
 * (an adapter depending on another core version, a bundled copy) then see the
 * same active span and one set of hooks: the first copy's registry serves the
 * others, so a call is traced once, whichever copy's adapter started the
 * request. `version` changes only when the shape below changes incompatibly.
 */
export const SHARED_VERSION = 1;

const kShared = Symbol.for('otinst.shared');

export interface SharedState {
  readonly version: number;
  /** The store is the active span, or the suppression marker (context.ts). */
  readonly storage: AsyncLocalStorage<unknown>;
  /** The registry of the first copy that installed hooks (registry.ts fills it). */
  registry: unknown;
}

function create(): SharedState {
  return { version: SHARED_VERSION, storage: new AsyncLocalStorage(), registry: undefined };
}

function lookUp(): SharedState {
  const holder = globalThis as unknown as Record<symbol, SharedState | undefined>;
  const found = holder[kShared];
  if (found === undefined) {
    const state = create();
    Object.defineProperty(holder, kShared, { value: state, enumerable: false, configurable: true });
    return state;
  }
  if (found.version === SHARED_VERSION) return found;
  // once per process, not once per copy
  const kWarned = Symbol.for('otinst.sharedMismatchWarned');
  if ((holder as Record<symbol, unknown>)[kWarned] === true) return create();
  (holder as Record<symbol, unknown>)[kWarned] = true;
  warnOnce(
    'OTINST_CORE_COPIES',
    `@otinst/core: another copy of @otinst/core with an incompatible shared state (version ${String(found.version)}, ` +
      `this copy ${SHARED_VERSION}) is loaded in this process: the two cannot share the request context or the client ` +
      'hooks, so requests traced by one copy get no client spans from the other. Install one version of ' +
      '@otinst/core (npm ls @otinst/core; npm dedupe).',
  );
  return create();
}

/** This process's shared state (this copy's own one when another copy's is incompatible). */
export const shared: SharedState = lookUp();

import type { ClientHook } from './hook';

/** The `redis` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'redis',
  module: 'redis',
  patch() {},
};

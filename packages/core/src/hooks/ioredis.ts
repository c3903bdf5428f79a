import type { ClientHook } from './hook';

/** The `ioredis` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'ioredis',
  module: 'ioredis',
  patch() {},
};

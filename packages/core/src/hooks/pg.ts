import type { ClientHook } from './hook';

/** The `pg` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'pg',
  module: 'pg',
  patch() {},
};

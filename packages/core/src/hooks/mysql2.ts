import type { ClientHook } from './hook';

/** The `mysql2` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'mysql2',
  module: 'mysql2',
  patch() {},
};

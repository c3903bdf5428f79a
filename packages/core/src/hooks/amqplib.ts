import type { ClientHook } from './hook';

/** The `amqplib` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'amqplib',
  module: 'amqplib',
  patch() {},
};

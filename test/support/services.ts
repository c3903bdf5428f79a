import { connect } from 'node:net';

/** The local services the client-hook tests talk to (their standard ports). */
export const SERVICES = {
  postgres: { name: 'PostgreSQL', port: 5432 },
  mysql: { name: 'MariaDB/MySQL', port: 3306 },
  redis: { name: 'Redis', port: 6379 },
  rabbitmq: { name: 'RabbitMQ', port: 5672 },
} as const;

export type ServiceName = keyof typeof SERVICES;

function answers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether `service` answers on 127.0.0.1. When it does not: with
 * `OTINST_REQUIRE_SERVICES=1` (CI) this throws, so the test file fails;
 * otherwise it prints why the tests are skipped and returns false.
 *
 * @example
 * ```ts
 * const up = await serviceAvailable('postgres');
 * describe.skipIf(!up)('pg hook', () => { ... });
 * ```
 */
export async function serviceAvailable(service: ServiceName): Promise<boolean> {
  const { name, port } = SERVICES[service];
  if (await answers(port)) return true;
  const message = `${name} does not answer on 127.0.0.1:${port}`;
  if (process.env['OTINST_REQUIRE_SERVICES'] === '1') {
    throw new Error(`${message}, and OTINST_REQUIRE_SERVICES=1 requires it`);
  }
  console.warn(`SKIPPED: ${message}; these tests are skipped (set OTINST_REQUIRE_SERVICES=1 to fail instead)`);
  return false;
}

import type { Span } from 'opentracing';
import { startClientSpan } from '../client/span';
import * as tags from '../tags';

/**
 * The Redis rules the `redis` and `ioredis` hooks share: the `db.statement`
 * rule and the one span builder that both the channel path and the patched
 * path feed.
 */

/** Tag for the number of commands in a MULTI or a pipeline. */
export const BATCH_SIZE = 'db.redis.batch_size';

/** Longest key shown in `db.statement`: keys can be binary blobs. */
const KEY_LIMIT = 256;

/**
 * Commands whose first argument is a key, a channel, a sub-command or a
 * script hash, never a stored value or a secret. Everything else (AUTH, ECHO,
 * PING, EVAL's script body, MIGRATE, unknown and module commands not listed)
 * shows `?` there too: deny by default, like the sanitizers that node-redis
 * and ioredis apply to their own channel payloads.
 */
const FIRST_ARG_SHOWN =
  /^(?:APPEND|B(?:IT|[LRZ])|CL(?:IENT|USTER)|CO(?:MMAND|NFIG|PY)|DBSIZE|DEC|DEL|DUMP|EVALSHA|EX|FCALL|FUNCTION|GE[OT]|H(?!ELLO)|INCR|KEYS|L|MEMORY|M(?:GET|SET|OVE)|OBJECT|P(?:ERSIST|EXPIRE|F|SETEX|SUBSCRIBE|TTL|UBLISH|UBSUB|UNSUBSCRIBE)|R(?:ENAME|ESTORE|POP|PUSH)|S|T(?:OUCH|TL|YPE)|UNLINK|UNSUBSCRIBE|WATCH|X|Z|(?:JSON|FT|TS|BF|CF)\.)/;

/**
 * `db.statement` for a Redis command: the command, its first argument when it
 * is a key (see `FIRST_ARG_SHOWN`), then one `?` per further argument, so that
 * stored values never reach the tracer: `GET user:1`, `SET user:1 ?`,
 * `AUTH ? ?`.
 */
export function redisStatement(command: string, first: unknown, rest: number): string {
  if (first === undefined) return command;
  let statement = command;
  if (FIRST_ARG_SHOWN.test(command)) {
    const key = typeof first === 'string' ? first : String(first);
    statement += ` ${key.length > KEY_LIMIT ? key.slice(0, KEY_LIMIT) : key}`;
  } else {
    statement += ' ?';
  }
  for (let i = 0; i < rest; i++) statement += ' ?';
  return statement;
}

/** Where a Redis command goes: read from the client (patched copies) or from a channel payload. */
export interface RedisPeer {
  database: unknown;
  /** A host name, an IP address or a Unix socket path. */
  address: string | undefined;
  port: unknown;
}

/** The peer of a `TracingChannel` payload (node-redis and ioredis publish the same field names). */
export function peerFromChannel(context: Record<string, unknown>): RedisPeer {
  const address = context['serverAddress'];
  return {
    database: context['database'],
    address: typeof address === 'string' ? address : undefined,
    port: context['serverPort'],
  };
}

/** The tags every Redis span carries. */
function redisTags(component: string, peer: RedisPeer): Record<string, unknown> {
  const spanTags: Record<string, unknown> = {
    [tags.SPAN_KIND]: tags.KIND_CLIENT,
    [tags.COMPONENT]: component,
    [tags.DB_TYPE]: 'redis',
    [tags.DB_INSTANCE]: String(peer.database ?? 0),
  };
  const { address, port } = peer;
  if (typeof address === 'string' && address !== '') {
    // a Unix socket has no host: OpenTracing's peer.address takes any address form
    spanTags[address.startsWith('/') ? 'peer.address' : tags.peerHostTag(address)] = address;
    if (typeof port === 'number' || typeof port === 'string') spanTags[tags.PEER_PORT] = Number(port);
  }
  return spanTags;
}

/**
 * The one span builder for a Redis command, whichever way the hook saw it:
 * `<component>:<COMMAND>`, `db.statement` by `redisStatement`.
 */
export function startRedisCommandSpan(
  component: string,
  peer: RedisPeer,
  command: string,
  first: unknown,
  rest: number,
): Span | null {
  const spanTags = redisTags(component, peer);
  spanTags[tags.DB_STATEMENT] = redisStatement(command, first, rest);
  return startClientSpan(`${component}:${command}`, spanTags);
}

/** The one span builder for a MULTI or a pipeline: `<component>:MULTI` / `<component>:PIPELINE`. */
export function startRedisBatchSpan(component: string, peer: RedisPeer, multi: boolean, size: unknown): Span | null {
  const spanTags = redisTags(component, peer);
  spanTags[BATCH_SIZE] = size;
  return startClientSpan(`${component}:${multi ? 'MULTI' : 'PIPELINE'}`, spanTags);
}

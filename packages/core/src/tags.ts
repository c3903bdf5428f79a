import { isIPv4, isIPv6 } from 'node:net';
import { rememberLast } from './memo';

/** Tag and log-field names, in one place (OpenTracing semantic conventions). */
export const SPAN_KIND = 'span.kind';
export const COMPONENT = 'component';
export const ERROR = 'error';
export const HTTP_METHOD = 'http.method';
export const HTTP_URL = 'http.url';
export const HTTP_STATUS_CODE = 'http.status_code';
export const HTTP_ROUTE = 'http.route';
export const HTTP_ABORTED = 'http.aborted';
export const PEER_SERVICE = 'peer.service';
export const PEER_HOSTNAME = 'peer.hostname';
export const PEER_IPV4 = 'peer.ipv4';
export const PEER_IPV6 = 'peer.ipv6';
export const PEER_PORT = 'peer.port';
export const DB_TYPE = 'db.type';
export const DB_INSTANCE = 'db.instance';
export const DB_STATEMENT = 'db.statement';
export const DB_USER = 'db.user';
export const MESSAGE_BUS_DESTINATION = 'message_bus.destination';

export const KIND_SERVER = 'server';
export const KIND_CLIENT = 'client';
export const KIND_PRODUCER = 'producer';
export const KIND_CONSUMER = 'consumer';

export const REQUEST_HEADER_PREFIX = 'http.request.header.';
export const RESPONSE_HEADER_PREFIX = 'http.response.header.';

/** The tag for a peer's `host`: `peer.ipv4`, `peer.ipv6` or `peer.hostname`, by what it is. */
// a client talks to the same few hosts call after call: the last answer is kept
export const peerHostTag: (host: string) => string = rememberLast((host) =>
  isIPv4(host) ? PEER_IPV4 : isIPv6(host) ? PEER_IPV6 : PEER_HOSTNAME,
);

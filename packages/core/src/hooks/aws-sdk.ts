/**
 * The `aws-sdk` client hook: a span per command of any AWS SDK for JavaScript
 * v3 client, `aws:<service>:<operation>` (`aws:S3:PutObject`,
 * `aws:DynamoDB:GetItem`), and `aws:S3:Upload` around a multipart
 * `Upload` of `@aws-sdk/lib-storage`, with its part uploads as children.
 *
 * How: through each client's own middleware stack, the SDK's public extension
 * point. The hook wraps `Client.prototype.send` of smithy's client base class
 * (`@smithy/core/client` in current SDK releases, `@smithy/smithy-client` in
 * earlier ones) only so that, on a client's first `send`, it adds one
 * middleware to that client: `{ step: 'initialize', priority: 'high', name:
 * 'otinstMiddleware' }`. Being first in the first step, the middleware sees the
 * whole command: serialisation, retries, signing, the HTTP exchange and
 * deserialisation, and the final result or error with its `$metadata`.
 *
 * The HTTP requests the SDK makes run inside the aws span's context, so with
 * the `http` hook also on, the SDK's HTTP span is a child of the aws span (one
 * per attempt: retries show). The aws span names the AWS operation; the HTTP
 * span carries the wire details (peer, status of each attempt).
 *
 * Nothing from the command's input or output is recorded (no credentials, no
 * keys, no presigned-URL signatures): only the service, operation, region,
 * request id and status code.
 *
 * Uninstalling restores `send` and `Upload.prototype.done`; a client that
 * already sent keeps the middleware, which then passes straight through.
 */
import type { Span } from 'opentracing';
import { runWithSpan } from '../context';
import { startClientSpan, wouldTrace } from '../client/span';
import { safeExecute } from '../safe';
import * as tags from '../tags';
import { recordErrorOnSpan, safeSetTag, wasFinished } from '../tracer';
import type { ClientHook } from './hook';
import { traceCall } from './lifecycle';
import type { CallEnd } from './lifecycle';
import { wrapMethod } from './wrap';

const AWS_SERVICE = 'aws.service';
const AWS_OPERATION = 'aws.operation';
const AWS_REGION = 'aws.region';
const AWS_REQUEST_ID = 'aws.request_id';

/** Where smithy's `Client` class lives, newest first. */
const CLIENT_MODULES = ['@smithy/core/client', '@smithy/smithy-client'] as const;
const LIB_STORAGE = '@aws-sdk/lib-storage';
const MIDDLEWARE_NAME = 'otinstMiddleware';

/** Marks a client whose stack has the middleware already (set once per client instance). */
const kMiddlewareAdded = Symbol('otinst.awsMiddlewareAdded');

/** The parts of the SDK this hook reads. */
interface ClientConfig {
  readonly serviceId?: unknown;
  readonly region?: unknown;
}

interface MiddlewareStack {
  add(middleware: Middleware, options: { step: string; name: string; priority: string; override?: boolean }): void;
}

interface SmithyClient {
  readonly config?: ClientConfig;
  readonly middlewareStack?: MiddlewareStack;
  handlers?: unknown;
  [kMiddlewareAdded]?: true;
}

interface ResponseMetadata {
  readonly httpStatusCode?: unknown;
  readonly requestId?: unknown;
}

interface HandlerContext {
  readonly clientName?: unknown;
  readonly commandName?: unknown;
  readonly __smithy_context?: { readonly operation?: unknown };
}

type Handler = (args: unknown) => Promise<{ output?: { $metadata?: ResponseMetadata } }>;
type Middleware = (next: Handler, context: HandlerContext) => Handler;
type SendFn = (this: SmithyClient, command: unknown, optionsOrCallback?: unknown, callback?: unknown) => unknown;

interface ClientModule {
  Client?: { prototype?: { send?: SendFn } };
}

interface UploadLike {
  readonly client?: SmithyClient;
}

type DoneFn = (this: UploadLike) => Promise<unknown>;

interface LibStorageModule {
  Upload?: { prototype?: { done?: DoneFn } };
}

/** False after uninstall: middlewares left on clients pass straight through. */
let active = false;

function stripSuffix(value: unknown, suffix: string): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.endsWith(suffix) && value.length > suffix.length ? value.slice(0, -suffix.length) : value;
}

function serviceOf(client: SmithyClient, context: HandlerContext): string {
  const id = client.config?.serviceId;
  if (typeof id === 'string' && id !== '') return id;
  return stripSuffix(context.clientName, 'Client') ?? 'unknown';
}

function operationOf(context: HandlerContext): string {
  const operation = stripSuffix(context.commandName, 'Command') ?? context.__smithy_context?.operation;
  return typeof operation === 'string' && operation !== '' ? operation : 'unknown';
}

/** Tags the region when the client's region provider answers (it is a function of the resolved config). */
function tagRegion(span: Span, config: ClientConfig | undefined): void {
  const region = config?.region;
  if (typeof region === 'string') {
    safeSetTag(span, AWS_REGION, region);
    return;
  }
  if (typeof region !== 'function') return;
  const pending = safeExecute('aws-sdk config.region()', () => (region as () => unknown).call(config));
  if (typeof (pending as PromiseLike<unknown> | undefined)?.then !== 'function') {
    if (typeof pending === 'string') safeSetTag(span, AWS_REGION, pending);
    return;
  }
  (pending as PromiseLike<unknown>).then(
    (value) => {
      // the SDK waits for the same provider before it sends, so this lands before the span finishes
      if (typeof value === 'string' && !wasFinished(span)) safeSetTag(span, AWS_REGION, value);
    },
    () => {
      // the command itself fails on this, and the span records that
    },
  );
}

function tagMetadata(span: Span, metadata: ResponseMetadata | undefined): void {
  if (metadata === undefined || metadata === null) return;
  if (typeof metadata.httpStatusCode === 'number') safeSetTag(span, tags.HTTP_STATUS_CODE, metadata.httpStatusCode);
  if (typeof metadata.requestId === 'string' && metadata.requestId !== '') {
    safeSetTag(span, AWS_REQUEST_ID, metadata.requestId);
  }
}

const COMMAND_END: CallEnd = {
  result(span, result) {
    tagMetadata(span, (result as Awaited<ReturnType<Handler>> | undefined)?.output?.$metadata);
  },
  error(span, error) {
    // service errors carry `$metadata` too: status and request id of the failed call
    tagMetadata(span, (error as { $metadata?: ResponseMetadata } | null)?.$metadata);
    recordErrorOnSpan(span, error);
  },
};

function traceCommand(span: Span, next: Handler, args: unknown): ReturnType<Handler> {
  return traceCall(span, () => runWithSpan(span, () => next(args)), COMMAND_END);
}

/** The middleware for one client: created once per client instance, on its first `send`. */
function middlewareFor(client: SmithyClient): Middleware {
  return function otinstMiddleware(next: Handler, context: HandlerContext): Handler {
    return function tracedCommand(args: unknown) {
      if (!active || !wouldTrace()) return next(args);
      const service = serviceOf(client, context);
      const operation = operationOf(context);
      const span = startClientSpan(`aws:${service}:${operation}`, {
        [tags.SPAN_KIND]: tags.KIND_CLIENT,
        [tags.COMPONENT]: 'aws-sdk',
        [AWS_SERVICE]: service,
        [AWS_OPERATION]: operation,
      });
      if (span === null) return next(args);
      tagRegion(span, client.config);
      return traceCommand(span, next, args);
    };
  };
}

function addMiddleware(client: SmithyClient): void {
  if (typeof client !== 'object' || client === null || client[kMiddlewareAdded] === true) return;
  const stack = client.middlewareStack;
  if (typeof stack?.add !== 'function') return;
  safeExecute('adding the aws-sdk middleware', () => {
    Object.defineProperty(client, kMiddlewareAdded, { value: true, enumerable: false });
    stack.add(middlewareFor(client), { step: 'initialize', priority: 'high', name: MIDDLEWARE_NAME, override: true });
    // a client with `cacheMiddleware: true` may hold handlers resolved before the middleware was there
    delete client.handlers;
  });
}

function wrapSend(original: SendFn): SendFn {
  return function send(this: SmithyClient, command: unknown, optionsOrCallback?: unknown, callback?: unknown) {
    if (this[kMiddlewareAdded] !== true) addMiddleware(this);
    return original.call(this, command, optionsOrCallback, callback);
  };
}

function wrapDone(original: DoneFn): DoneFn {
  return function done(this: UploadLike) {
    if (!wouldTrace()) return original.call(this);
    const span = startClientSpan('aws:S3:Upload', {
      [tags.SPAN_KIND]: tags.KIND_CLIENT,
      [tags.COMPONENT]: 'aws-sdk',
      [AWS_SERVICE]: 'S3',
      [AWS_OPERATION]: 'Upload',
    });
    if (span === null) return original.call(this);
    tagRegion(span, this.client?.config);
    return traceUpload(span, original, this);
  };
}

function traceUpload(span: Span, original: DoneFn, upload: UploadLike): Promise<unknown> {
  // the part uploads are commands sent from inside done(): they become children of this span
  return traceCall(span, () => runWithSpan(span, () => original.call(upload)));
}

function patchClientModule(exports: unknown): void {
  const prototype = (exports as ClientModule).Client?.prototype;
  if (prototype !== undefined) wrapMethod(prototype, 'send', (original) => wrapSend(original) as typeof original);
}

function patchLibStorage(exports: unknown): void {
  const prototype = (exports as LibStorageModule).Upload?.prototype;
  if (prototype !== undefined) wrapMethod(prototype, 'done', (original) => wrapDone(original) as typeof original);
}

/**
 * The `aws-sdk` hook: smithy's `Client` lives in one of two packages
 * depending on the SDK release, and `Upload` in a third.
 */
export const hook: ClientHook = {
  modules: [...CLIENT_MODULES, LIB_STORAGE],
  patch(exports, _version, moduleName) {
    active = true;
    if (moduleName === LIB_STORAGE) patchLibStorage(exports);
    else patchClientModule(exports);
  },
  unpatch() {
    active = false;
  },
};

/**
 * The `bullmq` client hook: a producer span per job added, and a consumer span
 * per processing attempt that continues the producer's trace, in whatever
 * process the worker runs.
 *
 * Spans:
 * - `bullmq:add <queue>` (`Queue.prototype.add`), `bullmq:addBulk <queue>`
 *   (`Queue.prototype.addBulk`: one span for the batch), and
 *   `bullmq:upsertJobScheduler <queue>` (`Queue.prototype.upsertJobScheduler`,
 *   repeatable jobs): `span.kind=producer`; children of the current span, and
 *   only when there is one (unless `configure({ requireParentSpan: false })`).
 * - `bullmq:process <queue>` (`Worker.prototype.callProcessJob`, where the
 *   worker calls the processor): `span.kind=consumer`, a child of the context
 *   carried in the job, active while the processor runs. A job that carries no
 *   context (added while nothing was traced, or by an uninstrumented producer)
 *   starts a new trace: the worker is an entry point, like a server receiving
 *   a request without trace headers. The worker's own ambient context never
 *   becomes the parent (a worker created inside a traced request would
 *   otherwise adopt every job it ever processes).
 *
 * The carrier is BullMQ's own slot for trace context, the job option
 * `opts.telemetry.metadata` (stored with the job as `tm`), holding the span
 * context injected with `FORMAT_TEXT_MAP`, serialised as JSON (the format of
 * BullMQ's OpenTelemetry integration, bullmq-otel). The job's data stays as
 * the application wrote it. BullMQ keeps the options through retries, delays
 * and each repetition of a job scheduler, so those attempts stay in the
 * producer's trace. A job whose options already carry metadata keeps it (a
 * queue with BullMQ's own `telemetry` option writes its own), and
 * `opts.telemetry.omitContext: true` is respected: nothing is injected.
 *
 * A processor that throws marks its span `error=true` (each failed attempt of
 * a retried job has its own failed span); the control-flow errors a processor
 * throws to move its job (`DelayedError`, `WaitingError`,
 * `WaitingChildrenError`, `RateLimitError`) are not failures.
 */
import { FORMAT_TEXT_MAP } from 'opentracing';
import type { Span, SpanContext } from 'opentracing';
import { runWithSpan } from '../context';
import { startClientSpan, wouldTrace } from '../client/span';
import { debug, safeExecute } from '../safe';
import * as tags from '../tags';
import {
  childOptions,
  recordErrorOnSpan,
  defaultTracer,
  safeExtract,
  safeInject,
  safeSetTag,
  safeSetTags,
  safeStartSpan,
  tracerOf,
} from '../tracer';
import type { ClientHook } from './hook';
import { traceCall } from './lifecycle';
import type { CallEnd } from './lifecycle';
import { wrapMethod } from './wrap';

const BULLMQ_JOB_ID = 'bullmq.job.id';
const BULLMQ_JOB_NAME = 'bullmq.job.name';
const BULLMQ_ATTEMPT = 'bullmq.attempt';
const BULLMQ_JOB_COUNT = 'bullmq.job.count';
const BULLMQ_SCHEDULER_ID = 'bullmq.job_scheduler.id';

/** The parts of BullMQ's classes this hook reads. */
interface JobOptions {
  telemetry?: { metadata?: string; omitContext?: boolean } | undefined;
  [option: string]: unknown;
}

interface QueueLike {
  readonly name: string;
}

interface JobLike {
  readonly id?: string | undefined;
  readonly name?: string;
  readonly attemptsMade?: number;
  readonly opts?: JobOptions;
}

interface BulkJob {
  name: string;
  data: unknown;
  opts?: JobOptions | undefined;
}

type AddFn = (this: QueueLike, name: string, data: unknown, opts?: JobOptions) => Promise<JobLike>;
type AddBulkFn = (this: QueueLike, jobs: BulkJob[]) => Promise<JobLike[]>;
type UpsertJobSchedulerFn = (
  this: QueueLike,
  schedulerId: string,
  repeatOptions: unknown,
  template?: { name?: string; data?: unknown; opts?: JobOptions },
) => Promise<unknown>;
type CallProcessJobFn = (this: QueueLike, job: JobLike, token: unknown, signal: unknown) => unknown;

interface BullMQModule {
  Queue?: { prototype?: { add?: AddFn; addBulk?: AddBulkFn; upsertJobScheduler?: UpsertJobSchedulerFn } };
  Worker?: { prototype?: { callProcessJob?: CallProcessJobFn } };
}

/** Errors a processor throws on purpose to move its job elsewhere (BullMQ's `handleFailed`). */
const MOVING_ERRORS = new Set(['DelayedError', 'WaitingError', 'WaitingChildrenError', 'RateLimitError']);
const RATE_LIMIT_MESSAGE = 'bullmq:rateLimitExceeded';

function isMovingError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return MOVING_ERRORS.has(error.name) || error.message === RATE_LIMIT_MESSAGE;
}

function producerSpan(operation: string, queue: QueueLike, extra: Record<string, unknown>): Span | null {
  if (!wouldTrace()) return null;
  return startClientSpan(`bullmq:${operation} ${queue.name}`, {
    [tags.SPAN_KIND]: tags.KIND_PRODUCER,
    [tags.COMPONENT]: 'bullmq',
    [tags.MESSAGE_BUS_DESTINATION]: queue.name,
    ...extra,
  });
}

/** The span's context as the JSON of a text map, or undefined when the tracer injects nothing. */
function serialiseContext(span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  if (!safeInject(tracerOf(span), span, FORMAT_TEXT_MAP, carrier)) return undefined;
  return Object.keys(carrier).length === 0 ? undefined : JSON.stringify(carrier);
}

/** `opts` with the metadata added; never the caller's object, which may be reused for other jobs. */
function withMetadata(opts: JobOptions | undefined, metadata: string | undefined): JobOptions | undefined {
  if (metadata === undefined) return opts;
  const telemetry = opts?.telemetry;
  if (telemetry?.metadata !== undefined || telemetry?.omitContext === true) return opts;
  return { ...opts, telemetry: { ...telemetry, metadata } };
}

/** Runs a producer call inside its span; the caller gets a promise that settles like the library's (lifecycle.ts). */
function runProducer<R>(span: Span, run: () => Promise<R>, tagResult?: (span: Span, value: unknown) => void) {
  return traceCall(span, () => runWithSpan(span, run), tagResult === undefined ? undefined : { result: tagResult });
}

function tagJobId(span: Span, job: unknown): void {
  const id = (job as JobLike | undefined)?.id;
  if (id !== undefined) safeSetTag(span, BULLMQ_JOB_ID, id);
}

function wrapAdd(original: AddFn): AddFn {
  return function add(this: QueueLike, name: string, data: unknown, opts?: JobOptions) {
    const span = producerSpan('add', this, { [BULLMQ_JOB_NAME]: name });
    if (span === null) return original.call(this, name, data, opts);
    const carried = withMetadata(opts, serialiseContext(span));
    return runProducer(span, () => original.call(this, name, data, carried), tagJobId);
  };
}

function wrapAddBulk(original: AddBulkFn): AddBulkFn {
  return function addBulk(this: QueueLike, jobs: BulkJob[]) {
    const span = Array.isArray(jobs) ? producerSpan('addBulk', this, { [BULLMQ_JOB_COUNT]: jobs.length }) : null;
    if (span === null) return original.call(this, jobs);
    const metadata = serialiseContext(span);
    const carried = metadata === undefined ? jobs : jobs.map((job) => carryInBulkJob(job, metadata));
    return runProducer(span, () => original.call(this, carried));
  };
}

function carryInBulkJob(job: BulkJob, metadata: string): BulkJob {
  if (typeof job !== 'object' || job === null) return job;
  const opts = withMetadata(job.opts, metadata);
  return opts === job.opts ? job : { ...job, opts };
}

function wrapUpsertJobScheduler(original: UpsertJobSchedulerFn): UpsertJobSchedulerFn {
  return function upsertJobScheduler(this: QueueLike, schedulerId, repeatOptions, template) {
    const span = producerSpan('upsertJobScheduler', this, {
      [BULLMQ_SCHEDULER_ID]: schedulerId,
      [BULLMQ_JOB_NAME]: template?.name ?? schedulerId,
    });
    if (span === null) return original.call(this, schedulerId, repeatOptions, template);
    // the template's options are copied into every repetition: each keeps this trace
    const opts = withMetadata(template?.opts, serialiseContext(span));
    const carried = opts === template?.opts ? template : { ...template, opts };
    return runProducer(span, () => original.call(this, schedulerId, repeatOptions, carried), tagJobId);
  };
}

function carriedContext(job: JobLike): SpanContext | null {
  const metadata = job.opts?.telemetry?.metadata;
  if (typeof metadata !== 'string' || metadata === '') return null;
  const carrier = safeExecute('parsing bullmq telemetry metadata', () => JSON.parse(metadata) as unknown);
  if (typeof carrier !== 'object' || carrier === null) {
    debug('bullmq job telemetry metadata is not a JSON text map: processing without a parent');
    return null;
  }
  return safeExtract(defaultTracer(), FORMAT_TEXT_MAP, carrier);
}

function consumerSpan(worker: QueueLike, job: JobLike): Span | null {
  if (typeof job !== 'object' || job === null) return null;
  const parent = carriedContext(job);
  const tracer = defaultTracer();
  const span = safeStartSpan(tracer, `bullmq:process ${worker.name}`, childOptions(parent, tracer));
  if (span === null) return null;
  safeSetTags(span, {
    [tags.SPAN_KIND]: tags.KIND_CONSUMER,
    [tags.COMPONENT]: 'bullmq',
    [tags.MESSAGE_BUS_DESTINATION]: worker.name,
    [BULLMQ_JOB_ID]: job.id,
    [BULLMQ_JOB_NAME]: job.name,
    // attemptsMade counts the attempts that finished: this one is the next
    [BULLMQ_ATTEMPT]: (job.attemptsMade ?? 0) + 1,
  });
  return span;
}

/** A job moved to delayed or waiting-children ends its attempt without failing (`isMovingError`). */
const CONSUMER_END: CallEnd = {
  error(span, error) {
    if (!isMovingError(error)) recordErrorOnSpan(span, error);
  },
};

function wrapCallProcessJob(original: CallProcessJobFn): CallProcessJobFn {
  return function callProcessJob(this: QueueLike, job: JobLike, token: unknown, signal: unknown) {
    const span = consumerSpan(this, job);
    if (span === null) return original.call(this, job, token, signal);
    return traceCall(span, () => runWithSpan(span, () => original.call(this, job, token, signal)), CONSUMER_END);
  };
}

/** The `bullmq` hook: `Queue.prototype.add/addBulk/upsertJobScheduler` and `Worker.prototype.callProcessJob`. */
export const hook: ClientHook = {
  modules: ['bullmq'],
  versions: ['5.34.0', '7.0.0'],
  patch(exports) {
    const { Queue, Worker } = exports as BullMQModule;
    const queue = Queue?.prototype;
    if (queue !== undefined) {
      wrapMethod(queue, 'add', (original) => wrapAdd(original) as typeof original);
      wrapMethod(queue, 'addBulk', (original) => wrapAddBulk(original) as typeof original);
      wrapMethod(queue, 'upsertJobScheduler', (original) => wrapUpsertJobScheduler(original) as typeof original);
    }
    const worker = Worker?.prototype;
    if (worker !== undefined) {
      wrapMethod(worker, 'callProcessJob', (original) => wrapCallProcessJob(original) as typeof original);
    }
  },
};

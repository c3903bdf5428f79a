import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// loaded before the hook is installed: the hook must patch the copy already in use
import { Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { getCurrentSpan, configure, installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { MockTracer } from 'opentracing';
import { isWrapped, originalOf } from '../../src/hooks/wrap';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer } from '../../../../test/support/tracers';
import { runFixture, type PrintedSpan } from '../fixtures/run-fixture';

const redisUp = await serviceAvailable('redis');
const connection = { host: '127.0.0.1', port: 6379 };
const originalAdd = Queue.prototype.add;
const originalCallProcessJob = (Worker.prototype as unknown as { callProcessJob: unknown }).callProcessJob;

let queueCounter = 0;
function uniqueQueueName(label: string): string {
  return `otinst-${label}-${process.pid}-${Date.now()}-${++queueCounter}`;
}

interface WorkerOutput {
  spans: PrintedSpan[];
  active: { jobId: string; attempt: number; spanId: string | null }[];
}

describe.skipIf(!redisUp)('bullmq hook: producer here, worker in another process', () => {
  const tracer = new RecordingTracer({ serviceName: 'producer' });
  const queueName = uniqueQueueName('cross');
  let queue: Queue;
  const jobs: Record<string, Job> = {};
  let output: WorkerOutput;

  beforeAll(async () => {
    installPatches(['bullmq']);
    queue = new Queue(queueName, { connection });
    const root = tracer.startSpan('request');
    await runWithSpan(root, async () => {
      jobs['ok'] = await queue.add('ok', { n: 1 });
      jobs['flaky'] = await queue.add('flaky', { n: 2 }, { attempts: 2 });
      jobs['fail'] = await queue.add('fail', { n: 3 }, { attempts: 1 });
      jobs['delayed'] = await queue.add('delayed', { n: 4 }, { delay: 300 });
    });
    root.finish();
    // added outside any trace: no producer span, nothing carried
    jobs['untraced'] = await queue.add('ok', { n: 5 });
    // ok 1 + flaky 2 + fail 1 + delayed 1 + untraced 1
    output = await runFixture<WorkerOutput>('bullmq-worker.cjs', [queueName, '6']);
  }, 40_000);

  afterAll(async () => {
    uninstallPatches();
    await queue?.obliterate({ force: true });
    await queue?.close();
  });

  function producerOf(name: string) {
    const id = jobs[name]!.id;
    const span = tracer
      .spans()
      .find((s) => s.operationName === `bullmq:add ${queueName}` && s.tags['bullmq.job.id'] === id);
    expect(span).toBeDefined();
    return span!;
  }

  function attemptsOf(name: string) {
    return output.spans.filter((span) => span.tags['bullmq.job.id'] === jobs[name]!.id);
  }

  it('makes a producer span per traced add, a child of the current span', () => {
    const root = tracer.spans().find((span) => span.operationName === 'request')!;
    const producers = tracer.spans().filter((span) => span.operationName.startsWith('bullmq:'));
    expect(producers.map((span) => span.operationName)).toEqual(Array(4).fill(`bullmq:add ${queueName}`));
    for (const name of ['ok', 'flaky', 'fail', 'delayed']) {
      const span = producerOf(name);
      expect(span.parentId).toBe(root.spanId);
      expect(span.tags).toEqual({
        'span.kind': 'producer',
        component: 'bullmq',
        'message_bus.destination': queueName,
        'bullmq.job.name': name,
        'bullmq.job.id': jobs[name]!.id,
      });
      expect(span.finishCount).toBe(1);
    }
  });

  it("continues the producer's trace in the worker process", () => {
    const producer = producerOf('ok');
    const [worker, ...more] = attemptsOf('ok');
    expect(more).toEqual([]);
    expect(worker!.operationName).toBe(`bullmq:process ${queueName}`);
    expect(worker!.traceId).toBe(producer.traceId);
    expect(worker!.parentId).toBe(producer.spanId);
    expect(worker!.tags).toEqual({
      'span.kind': 'consumer',
      component: 'bullmq',
      'message_bus.destination': queueName,
      'bullmq.job.id': jobs['ok']!.id,
      'bullmq.job.name': 'ok',
      'bullmq.attempt': 1,
    });
    expect(worker!.finishCount).toBe(1);
  });

  it('makes a span per attempt of a retried job, the failed one an error, both children of the producer', () => {
    const producer = producerOf('flaky');
    const attempts = attemptsOf('flaky');
    expect(attempts.map((span) => span.tags['bullmq.attempt'])).toEqual([1, 2]);
    expect(attempts.map((span) => span.tags['error'])).toEqual([true, undefined]);
    expect(attempts[0]!.logs).toEqual([{ event: 'error', message: 'first attempt fails' }]);
    expect(attempts[1]!.logs).toEqual([]);
    for (const span of attempts) {
      expect(span.parentId).toBe(producer.spanId);
      expect(span.traceId).toBe(producer.traceId);
    }
  });

  it('marks a failing job as an error', () => {
    const [span, ...more] = attemptsOf('fail');
    expect(more).toEqual([]);
    expect(span!.tags['error']).toBe(true);
    expect(span!.logs).toEqual([{ event: 'error', message: 'always fails' }]);
    expect(span!.parentId).toBe(producerOf('fail').spanId);
  });

  it("keeps a delayed job in its producer's trace", () => {
    const [span] = attemptsOf('delayed');
    expect(span!.parentId).toBe(producerOf('delayed').spanId);
    expect(span!.traceId).toBe(producerOf('delayed').traceId);
  });

  it('starts a new trace for a job that carries no context', () => {
    const [span] = attemptsOf('untraced');
    expect(span!.parentId).toBeUndefined();
    const producerTraces = new Set(tracer.spans().map((s) => s.traceId));
    expect(producerTraces.has(span!.traceId)).toBe(false);
  });

  it('has the worker span active while the processor runs', () => {
    expect(output.active).toHaveLength(6);
    for (const { jobId, attempt, spanId } of output.active) {
      const span = output.spans.find((s) => s.tags['bullmq.job.id'] === jobId && s.tags['bullmq.attempt'] === attempt);
      expect(spanId).toBe(span!.spanId);
    }
  });

  it("carries the context in BullMQ's telemetry metadata, leaving the job's data alone", async () => {
    const stored = await queue.getJob(jobs['ok']!.id!);
    expect(stored!.data).toEqual({ n: 1 });
    const carrier = JSON.parse(stored!.opts.telemetry!.metadata!) as Record<string, string>;
    const producer = producerOf('ok');
    expect(carrier).toEqual({ traceparent: `00-${producer.traceId}-${producer.spanId}-01` });
    const untraced = await queue.getJob(jobs['untraced']!.id!);
    expect(untraced!.opts.telemetry).toBeUndefined();
  });
});

describe.skipIf(!redisUp)('bullmq hook in one process', () => {
  const tracer = new RecordingTracer({ serviceName: 'bullmq' });
  const queues: Queue[] = [];
  const workers: Worker[] = [];

  beforeEach(() => {
    installPatches(['bullmq']);
    tracer.reset();
  });

  afterEach(async () => {
    uninstallPatches();
    configure({ tracer: null });
    configure({ requireParentSpan: true });
    for (const worker of workers.splice(0)) await worker.close();
    for (const queue of queues.splice(0)) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  function newQueue(label: string): Queue {
    const queue = new Queue(uniqueQueueName(label), { connection });
    queues.push(queue);
    return queue;
  }

  /** A worker that resolves `done` once `attempts` attempts finished. */
  function startWorker(queue: Queue, attempts: number, processor: (job: Job) => Promise<unknown> = async () => 'ok') {
    let finished = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const worker = new Worker(queue.name, processor, { connection });
    workers.push(worker);
    const onFinished = () => {
      if (++finished === attempts) resolveDone();
    };
    worker.on('completed', onFinished);
    worker.on('failed', onFinished);
    return done;
  }

  for (const make of [jaegerTracer, otelTracer]) {
    it(`links the worker span to the producer span under ${make.name}`, async () => {
      const t = make();
      configure({ tracer: t.tracer });
      const queue = newQueue(make.name);
      const done = startWorker(queue, 1);
      const root = t.tracer.startSpan('request');
      await runWithSpan(root, () => queue.add('job', { x: 1 }));
      root.finish();
      await done;
      const spans = t.spans();
      const request = spans.find((span) => span.operationName === 'request')!;
      const producer = spans.find((span) => span.operationName === `bullmq:add ${queue.name}`)!;
      const worker = spans.find((span) => span.operationName === `bullmq:process ${queue.name}`)!;
      expect(producer.parentId).toBe(request.spanId);
      expect(worker.parentId).toBe(producer.spanId);
      expect(worker.traceId).toBe(request.traceId);
      expect(worker.tags).toMatchObject({ 'span.kind': 'consumer', component: 'bullmq', 'bullmq.attempt': 1 });
      expect(producer.tags).toMatchObject({ 'span.kind': 'producer', 'bullmq.job.name': 'job' });
    });
  }

  it('makes one addBulk span whose context every job of the batch carries', async () => {
    configure({ tracer });
    const queue = newQueue('bulk');
    const done = startWorker(queue, 3);
    const root = tracer.startSpan('request');
    const added = await runWithSpan(root, () =>
      queue.addBulk([
        { name: 'a', data: {} },
        { name: 'b', data: {}, opts: { priority: 1 } },
        { name: 'c', data: {} },
      ]),
    );
    root.finish();
    await done;
    const bulk = tracer.spans().find((span) => span.operationName === `bullmq:addBulk ${queue.name}`)!;
    expect(bulk.tags).toEqual({
      'span.kind': 'producer',
      component: 'bullmq',
      'message_bus.destination': queue.name,
      'bullmq.job.count': 3,
    });
    const workerSpans = tracer.spans().filter((span) => span.operationName === `bullmq:process ${queue.name}`);
    expect(workerSpans.map((span) => span.tags['bullmq.job.name']).sort()).toEqual(['a', 'b', 'c']);
    for (const span of workerSpans) expect(span.parentId).toBe(bulk.spanId);
    expect(added.map((job) => job.opts.priority)).toEqual([undefined, 1, undefined]);
  });

  it("keeps every repetition of a job scheduler in the scheduler's trace", async () => {
    configure({ tracer });
    const queue = newQueue('repeat');
    const done = startWorker(queue, 2);
    const root = tracer.startSpan('request');
    await runWithSpan(root, () =>
      queue.upsertJobScheduler('every-50ms', { every: 50, limit: 2 }, { name: 'tick', data: { n: 1 } }),
    );
    root.finish();
    await done;
    const scheduler = tracer.spans().find((span) => span.operationName === `bullmq:upsertJobScheduler ${queue.name}`)!;
    expect(scheduler.tags).toMatchObject({
      'span.kind': 'producer',
      'bullmq.job_scheduler.id': 'every-50ms',
      'bullmq.job.name': 'tick',
    });
    const ticks = tracer.spans().filter((span) => span.operationName === `bullmq:process ${queue.name}`);
    expect(ticks).toHaveLength(2);
    expect(new Set(ticks.map((span) => span.tags['bullmq.job.id'])).size).toBe(2);
    for (const span of ticks) {
      expect(span.parentId).toBe(scheduler.spanId);
      expect(span.traceId).toBe(scheduler.traceId);
    }
  });

  it('makes the worker span current in the processor, and never adopts the context the worker was created in', async () => {
    configure({ tracer });
    const queue = newQueue('ambient');
    const seen: (string | null)[] = [];
    const ambient = tracer.startSpan('ambient');
    // a worker created inside a traced request: its jobs must not hang under that request
    const done = runWithSpan(ambient, () =>
      startWorker(queue, 1, async () => {
        seen.push(getCurrentSpan()?.context().toSpanId() ?? null);
      }),
    );
    await queue.add('plain', {});
    await done;
    ambient.finish();
    const [worker] = tracer.spans().filter((span) => span.operationName === `bullmq:process ${queue.name}`);
    expect(worker!.parentId).toBeUndefined();
    expect(seen).toEqual([worker!.spanId]);
  });

  it('respects omitContext and metadata the caller set, and does not touch the caller options', async () => {
    configure({ tracer });
    const queue = newQueue('omit');
    const root = tracer.startSpan('request');
    const omitOptions = { telemetry: { omitContext: true } };
    const ownOptions = {
      telemetry: { metadata: JSON.stringify({ traceparent: '00-' + '1'.repeat(32) + '-' + '2'.repeat(16) + '-01' }) },
    };
    const plainOptions = { attempts: 3 };
    const [omitted, own, plain] = await runWithSpan(root, () =>
      Promise.all([queue.add('a', {}, omitOptions), queue.add('b', {}, ownOptions), queue.add('c', {}, plainOptions)]),
    );
    root.finish();
    expect(omitted.opts.telemetry?.metadata).toBeUndefined();
    expect(own.opts.telemetry?.metadata).toBe(ownOptions.telemetry.metadata);
    expect(JSON.parse(plain.opts.telemetry!.metadata!)).toHaveProperty('traceparent');
    expect(plainOptions).toEqual({ attempts: 3 });
    expect(omitOptions).toEqual({ telemetry: { omitContext: true } });
  });

  it('makes no producer span without a current span, and one when requireParentSpan is false', async () => {
    configure({ tracer });
    const queue = newQueue('orphan');
    const job = await queue.add('a', {});
    expect(job.opts.telemetry).toBeUndefined();
    expect(tracer.spans()).toEqual([]);
    configure({ requireParentSpan: false });
    await queue.add('b', {});
    const [span] = tracer.spans();
    expect(span!.operationName).toBe(`bullmq:add ${queue.name}`);
    expect(span!.parentId).toBeUndefined();
  });

  it("keeps jobs flowing when the tracer cannot inject or the job's metadata is garbage", async () => {
    // opentracing's MockTracer throws on inject and extract
    const mock = new MockTracer();
    configure({ tracer: mock as never });
    const queue = newQueue('broken');
    const seen: string[] = [];
    const done = startWorker(queue, 2, async (job) => {
      seen.push(job.name);
      return job.name;
    });
    const parent = mock.startSpan('request');
    const job = await runWithSpan(parent, () => queue.add('no-carrier', { n: 1 }));
    parent.finish();
    expect(job.opts.telemetry).toBeUndefined();
    await queue.add('garbage', { n: 2 }, { telemetry: { metadata: '{not json' } });
    await done;
    expect(seen.sort()).toEqual(['garbage', 'no-carrier']);
    const names = mock.report().spans.map((span) => span.operationName());
    expect(names.filter((name) => name === `bullmq:process ${queue.name}`)).toHaveLength(2);
  });

  it('installs once and uninstalls to the exact originals', async () => {
    installPatches(['bullmq']);
    expect(isWrapped(Queue.prototype.add)).toBe(true);
    expect(originalOf(Queue.prototype.add)).toBe(originalAdd);
    uninstallPatches();
    expect(Queue.prototype.add).toBe(originalAdd);
    expect((Worker.prototype as unknown as { callProcessJob: unknown }).callProcessJob).toBe(originalCallProcessJob);
    const { Queue: RequiredQueue } = (await import('node:module')).createRequire(import.meta.url)('bullmq') as {
      Queue: typeof Queue;
    };
    expect(RequiredQueue).toBe(Queue);
  });

  it('traces an ES-module application that imports bullmq after installing the hook', async () => {
    const spans = await runFixture<PrintedSpan[]>('esm-app.mjs', ['bullmq']);
    const root = spans.find((span) => span.operationName === 'root')!;
    const producer = spans.find((span) => span.operationName.startsWith('bullmq:add '))!;
    const worker = spans.find((span) => span.operationName.startsWith('bullmq:process '))!;
    expect(producer.parentId).toBe(root.spanId);
    expect(worker.parentId).toBe(producer.spanId);
    expect(worker.traceId).toBe(root.traceId);
  });
});

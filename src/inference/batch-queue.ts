/**
 * A small queue that runs a batched function over waiting items: whenever a runner is free it
 * takes up to `maxBatch` queued items and runs them as one batch; at most `concurrency` batches
 * run at once; at most `maxQueued` items wait (further submissions fail with 'busy').
 */
import { InferenceInputError } from './errors.ts';

export interface BatchQueueOptions {
  maxBatch: number;
  concurrency: number;
  maxQueued: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export interface BatchQueueStats {
  queued: number;
  running: number;
  batches: number;
  items: number;
  largestBatch: number;
}

export class BatchQueue<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private running = 0;
  private scheduled = false;
  private closed = false;
  private batches = 0;
  private items = 0;
  private largestBatch = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: BatchQueueOptions,
  ) {
    if (!(opts.maxBatch >= 1 && opts.concurrency >= 1 && opts.maxQueued >= 1)) throw new Error('BatchQueue: maxBatch, concurrency and maxQueued must be >= 1');
  }

  submit(item: I): Promise<O> {
    if (this.closed) return Promise.reject(new InferenceInputError('closed', 'inference engine is closed'));
    if (this.queue.length >= this.opts.maxQueued) {
      return Promise.reject(new InferenceInputError('busy', `inference queue full (${this.opts.maxQueued} waiting)`));
    }
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  stats(): BatchQueueStats {
    return { queued: this.queue.length, running: this.running, batches: this.batches, items: this.items, largestBatch: this.largestBatch };
  }

  close(): void {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new InferenceInputError('closed', 'inference engine is closed'));
  }

  /** Defers the pump to the next macrotask so that items submitted together form one batch. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.running++;
      this.batches++;
      this.items += batch.length;
      if (batch.length > this.largestBatch) this.largestBatch = batch.length;
      void this.runBatch(batch);
    }
  }

  private async runBatch(batch: Pending<I, O>[]): Promise<void> {
    try {
      const out = await this.run(batch.map((p) => p.item));
      if (out.length !== batch.length) throw new Error(`batch function returned ${out.length} results for ${batch.length} items`);
      batch.forEach((p, i) => p.resolve(out[i]!));
    } catch (e) {
      for (const p of batch) p.reject(e);
    } finally {
      this.running--;
      if (this.queue.length > 0) this.schedule();
    }
  }
}

/** At most `limit` holders at once; at most `maxWaiting` waiting (then 'busy'). */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) throw new InferenceInputError('busy', `inference busy: ${this.active} running, ${this.waiting.length} waiting`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next(); // the slot passes to the next waiter
      else this.active--;
    };
  }

  stats(): { active: number; waiting: number; limit: number } {
    return { active: this.active, waiting: this.waiting.length, limit: this.limit };
  }
}

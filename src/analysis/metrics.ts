/** Prometheus metrics of auto-analysis and delivery (one registry per node: tests run several in one process). */
import client from 'prom-client';
import type { Db } from '../db/index.ts';

export interface AnalysisMetrics {
  registry: client.Registry;
  stage: client.Histogram<'stage'>;
  jobsFinished: client.Counter<'outcome'>;
  deliveries: client.Counter<'outcome'>;
}

export function createMetrics(db: Db): AnalysisMetrics {
  const registry = new client.Registry();
  const stage = new client.Histogram({
    name: 'carpus_analysis_stage_seconds',
    help: 'Duration of each auto-analysis stage: inference, report (SR/SC writing), store (into carpus), job (whole job), delivery (one STOW upstream), turnaround (received to stored)',
    labelNames: ['stage'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const jobsFinished = new client.Counter({
    name: 'carpus_analysis_jobs_finished_total',
    help: 'Analysis job runs by outcome (done, rejected, retry, failed, skipped)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const deliveries = new client.Counter({
    name: 'carpus_deliveries_total',
    help: 'STOW attempts to the upstream archive by outcome (delivered, retry, failed)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  new client.Gauge({
    name: 'carpus_analysis_jobs',
    help: 'Analysed source instances by state (queued, running, done, rejected, failed)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of ['queued', 'running', 'done', 'rejected', 'failed']) this.set({ state: s }, 0);
      const rows = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM analysis_job GROUP BY status');
      for (const r of rows) this.set({ state: r.status }, r.n);
    },
  });
  new client.Gauge({
    name: 'carpus_delivery_outbox',
    help: 'Objects in the delivery outbox by status (pending, delivered, failed)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of ['pending', 'delivered', 'failed']) this.set({ status: s }, 0);
      const rows = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM delivery_outbox GROUP BY status');
      for (const r of rows) this.set({ status: r.status }, r.n);
    },
  });
  return { registry, stage, jobsFinished, deliveries };
}

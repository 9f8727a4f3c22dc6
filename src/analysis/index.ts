/** Auto-analysis of routed hand radiographs: see README "Auto-analysis and audit". */
import type { FastifyInstance } from 'fastify';
import type { NodeContext } from '../context.ts';
import { registerAnalysisApi } from '../api/analysis.ts';
import { loadAnalysisConfig } from './config.ts';
import { AutoAnalysis } from './service.ts';

export { AutoAnalysis, ANALYSIS_QUEUE, DEAD_LETTER_QUEUE } from './service.ts';
export { Analyzer, engineBackend, loadBackend, resultUids, type InferenceBackend, type InferenceOutcome, type AnalysisOutcome } from './analyzer.ts';
export { loadAnalysisConfig, upstreamAuthorization, type AnalysisConfig } from './config.ts';

/** Starts routing, the job queue and delivery, and registers the results, audit and metrics routes (before listen). */
export async function startAutoAnalysis(ctx: NodeContext, app: FastifyInstance, env: NodeJS.ProcessEnv): Promise<AutoAnalysis> {
  const analysis = new AutoAnalysis(ctx, loadAnalysisConfig(env));
  registerAnalysisApi(app, ctx, analysis);
  await analysis.start();
  return analysis;
}

/**
 * Hand-made `qwen35-bench/1` results for the writer and compare tests: small round numbers, so
 * that the expected table cells and ratios can be written down by hand.
 */
import { resolveWeightFormats } from '../runtime/gpu-weight-plan.js';
import { SOFTWARE_WARNING } from './environment.js';
import { BENCH_SCHEMA, type BenchResult, type DecodePoint, type Environment, type ModelResult } from './schema.js';
import { summarize } from './stats.js';

export function fakeEnvironment(software: boolean): Environment {
  return {
    adapter: {
      name: software ? 'google / swiftshader / SwiftShader' : 'nvidia / hopper / NVIDIA H100',
      vendor: software ? 'google' : 'nvidia',
      architecture: software ? 'swiftshader' : 'hopper',
      description: software ? 'SwiftShader [software, node]' : 'NVIDIA H100 [hardware, node]',
      isSoftware: software,
      runtime: 'node',
      kind: software ? 'software' : 'hardware',
      features: { f16: !software, subgroups: true, timestamps: true, subgroupMinSize: 32, subgroupMaxSize: 32 },
      limits: { maxBufferSize: 2 ** 30 },
    },
    runtime: { kind: 'node', version: 'Node v20 (linux-x64)' },
    ...(software ? { warning: SOFTWARE_WARNING } : {}),
  };
}

/** A decode point of `tps` tokens/s samples moving `bytes` per token (all weights), against a probe of `probe` GB/s. */
export function fakeDecode(context: number, tps: number[], bytes: number, probe: number): DecodePoint {
  const s = summarize(tps);
  const effectiveGBps = (bytes * s.median) / 1e9;
  return {
    context,
    tokens: 16,
    tokensPerSecond: s,
    msPerToken: summarize(tps.map((t) => 1000 / t)),
    bytesPerToken: { weights: bytes, weightsByGroup: { mlp: bytes }, kv: 0, state: 0, total: bytes },
    effectiveGBps,
    percentOfProbe: (100 * effectiveGBps) / probe,
  };
}

export function fakeModel(name: string, decode: DecodePoint[], prefillTps: number[] = [100, 200, 300]): ModelResult {
  return {
    model: { name, source: `models/${name}`, modelType: 'qwen3_5', hiddenSize: 128, numLayers: 8, attentionLayers: 2, deltaNetLayers: 6, vocabSize: 512, weightBytes: 2 ** 20 },
    parameters: { weightFormats: resolveWeightFormats('q4'), formatLabel: 'q4', kvFormat: 'f16', maxContext: 4096, prefillChunk: 128, sampling: { temperature: 0 } },
    prefill: [{ promptTokens: 128, tokensPerSecond: summarize(prefillTps), timeToFirstTokenMs: summarize(prefillTps.map((t) => (128 * 1000) / t)) }],
    decode,
    gdnPrefill: { promptTokens: 512, chunkedMs: summarize([10, 20]), sequentialMs: summarize([40, 60]), speedup: summarize([4, 3]) },
    skipped: [{ scenario: 'decode', what: 'context 4096', reason: 'needs a context of 4226 tokens' }],
  };
}

/** One model ("tiny") with decode points at contexts 0 and 1024; probe 100 GB/s. */
export function fakeResult(opts: { software?: boolean; decodeTps?: number[]; probe?: number } = {}): BenchResult {
  const probe = opts.probe ?? 100;
  const tps = opts.decodeTps ?? [40, 50, 60];
  const bytes = 1e9; // 1 GB per token: effective GB/s = tokens/s
  return {
    schema: BENCH_SCHEMA,
    createdAt: '2026-01-01T00:00:00.000Z',
    environment: fakeEnvironment(opts.software ?? false),
    parameters: {
      scenarios: ['prefill', 'decode', 'gdn', 'bandwidth'],
      prefillLengths: [128],
      decodeContexts: [0, 1024],
      decodeTokens: 16,
      gdnTokens: 512,
      profileSteps: 2,
      warmup: 1,
      repetitions: 3,
      probeBytes: 2 ** 20,
      kernelIterations: 3,
      seed: 1,
    },
    adapter: { bandwidth: { bytes: 2 ** 20, ms: 2 ** 20 / probe / 1e6, gbps: probe, adapter: 'fake', runs: summarize([probe, probe]) } },
    models: [fakeModel('tiny', [fakeDecode(0, tps, bytes, probe), fakeDecode(1024, tps.map((t) => t / 2), bytes, probe)])],
  };
}

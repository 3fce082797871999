/**
 * Before loading: the predicted GPU memory (src/model/memory.ts, the same plans the session
 * allocates from) and whether the model fits this adapter. What is checked, and only that:
 *  1. the context length is one the model supports;
 *  2. every weight matrix can be split into buffers within the binding limit (the planner splits
 *     by rows; a row too large for one binding cannot be split);
 *  3. every planned buffer (weight parts, KV cache of each layer, state, activations, scratch) is
 *     within maxBufferSize and maxStorageBufferBindingSize.
 *  2 and 3 are the runtime's own pre-allocation check (src/runtime/fit-check.ts, run by
 *  Session.create), so the page and the loader agree;
 *  4. the total against device memory — which WebGPU does not report. A software adapter
 *     (SwiftShader) uses system RAM, for which the browser gives a rounded hint
 *     (navigator.deviceMemory); for a hardware adapter it stays unknown.
 */
import { Qwen35Error, predictMemory, type MemoryPrediction, type Qwen35Config } from '../src/index.js';
import { formatBytes } from '../src/io/progress.js';
import { dataBytes } from '../src/io/formats.js';
import type { BufferSpec } from '../src/runtime/buffer-plan.js';
import { checkPlanFits, planWeightsForDevice } from '../src/runtime/fit-check.js';
import type { WeightPlan } from '../src/runtime/gpu-weight-plan.js';
import { planSessionBuffers, resolveSessionOptions } from '../src/runtime/session.js';
import type { ModelSettings } from './protocol.js';

export interface FitCheck {
  label: string;
  /** undefined: cannot be known in this browser. */
  ok: boolean | undefined;
  detail: string;
}

export interface FitReport {
  /** False if any check failed (unknown checks do not count). */
  fits: boolean;
  checks: FitCheck[];
}

/** The limits the check reads (a GPUSupportedLimits satisfies it). */
export type BufferLimits = Pick<GPUSupportedLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>;

export interface DeviceMemoryHint {
  /** True for SwiftShader and other CPU adapters: their buffers live in system RAM. */
  isSoftware: boolean;
  /** navigator.deviceMemory in GiB, where the browser reports it. */
  systemRamGiB: number | undefined;
}

type Settings = Pick<ModelSettings, 'weightFormat' | 'maxContext' | 'kvFormat'>;

/** The planners take GPUSupportedLimits but read only the two buffer limits. */
const asLimits = (limits: BufferLimits): GPUSupportedLimits => limits as GPUSupportedLimits;

const failure = (label: string, e: unknown): FitCheck => {
  if (e instanceof Qwen35Error) return { label, ok: false, detail: e.message };
  throw e;
};

/** Checks 2 and 3, as Session.create makes them before allocating anything. */
function bufferChecks(config: Qwen35Config, settings: Settings, limits: BufferLimits): FitCheck[] {
  const weightsLabel = 'Weights split into buffers within the binding limit';
  const buffersLabel = 'Every buffer within maxBufferSize and maxStorageBufferBindingSize';
  const resolved = resolveSessionOptions(config, settings, asLimits(limits));
  const { state, activations, scratch } = planSessionBuffers(config, resolved);
  const buffers = [...state, ...activations, ...scratch];
  let plan: WeightPlan;
  try {
    plan = planWeightsForDevice(config, resolved.formats, resolved.maxBindingBytes, buffers);
  } catch (e) {
    return [failure(weightsLabel, e)];
  }
  const parts = plan.matrices.flatMap((m) => m.parts.map((p) => dataBytes(m.format, p.rows, m.cols)));
  const weights: FitCheck = {
    label: weightsLabel,
    ok: true,
    detail: `${parts.length} matrix parts, the largest ${formatBytes(Math.max(...parts))} ≤ ${formatBytes(resolved.maxBindingBytes)}`,
  };
  try {
    checkPlanFits(plan, buffers, asLimits(limits));
  } catch (e) {
    return [weights, failure(buffersLabel, e)];
  }
  const largest = buffers.reduce((a: BufferSpec, b) => (b.bytes > a.bytes ? b : a));
  return [weights, { label: buffersLabel, ok: true, detail: `largest besides weights: ${largest.key} ${formatBytes(largest.bytes)}` }];
}

function deviceMemoryCheck(total: number, hint: DeviceMemoryHint): FitCheck {
  const label = 'Total against device memory';
  if (!hint.isSoftware) {
    return { label, ok: undefined, detail: `${formatBytes(total)} needed; WebGPU does not report a GPU's memory, so this is not checked` };
  }
  if (hint.systemRamGiB === undefined) {
    return { label, ok: undefined, detail: `${formatBytes(total)} needed in system RAM (software adapter); the browser does not report RAM` };
  }
  const ok = total <= hint.systemRamGiB * 2 ** 30;
  return { label, ok, detail: `${formatBytes(total)} needed in system RAM; the browser reports ≈${hint.systemRamGiB} GiB (a rounded hint)` };
}

/** Predicted memory per category and the checks above, for a config read from config.json. */
export function checkFit(
  config: Qwen35Config,
  settings: Settings,
  limits: BufferLimits,
  hint: DeviceMemoryHint,
): { prediction: MemoryPrediction | undefined; fit: FitReport } {
  const contextLabel = 'Context length supported by the model';
  const contextOk = settings.maxContext >= 1 && settings.maxContext <= config.maxPositionEmbeddings && Number.isInteger(settings.maxContext);
  const checks: FitCheck[] = [
    { label: contextLabel, ok: contextOk, detail: `${settings.maxContext} of at most ${config.maxPositionEmbeddings} tokens` },
  ];
  let prediction: MemoryPrediction | undefined;
  if (contextOk) {
    checks.push(...bufferChecks(config, settings, limits));
    try {
      prediction = predictMemory(config, settings, asLimits(limits));
      checks.push(deviceMemoryCheck(prediction.total, hint));
    } catch (e) {
      checks.push(failure('Memory prediction', e));
    }
  }
  return { prediction, fit: { fits: checks.every((c) => c.ok !== false), checks } };
}

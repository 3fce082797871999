/**
 * Before loading: the predicted GPU memory (src/model/memory.ts, the same plans the session
 * allocates from) and whether the model fits this adapter. What is checked, and only that:
 *  1. the context length is one the model supports;
 *  2. every weight matrix can be split into buffers within maxStorageBufferBindingSize /
 *     maxBufferSize (the planner splits by rows; one row that is too large cannot be split);
 *  3. the largest other buffer (KV cache of one layer, activations, scratch) is within both limits;
 *  4. the total against device memory — which WebGPU does not report. A software adapter
 *     (SwiftShader) uses system RAM, for which the browser gives a rounded hint
 *     (navigator.deviceMemory); for a hardware adapter it stays unknown.
 */
import { Qwen35Error, predictMemory, type MemoryPrediction, type Qwen35Config } from '../src/index.js';
import { formatBytes } from '../src/io/progress.js';
import { dataBytes, scaleBytes } from '../src/io/formats.js';
import { planGpuWeights } from '../src/runtime/gpu-weight-plan.js';
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

function largestWeightBuffer(config: Qwen35Config, settings: Settings, limits: BufferLimits): FitCheck {
  const label = 'Weights split into buffers within the binding limit';
  try {
    const resolved = resolveSessionOptions(config, { weightFormat: settings.weightFormat }, asLimits(limits));
    const plan = planGpuWeights(config, resolved.formats, resolved.maxBindingBytes);
    let largest = 0;
    let buffers = 0;
    for (const m of plan.matrices) {
      for (const p of m.parts) {
        largest = Math.max(largest, dataBytes(m.format, p.rows, m.cols), scaleBytes(m.format, p.rows, m.cols));
        buffers += scaleBytes(m.format, p.rows, m.cols) > 0 ? 2 : 1;
      }
    }
    return { label, ok: true, detail: `${buffers} matrix buffers, the largest ${formatBytes(largest)} ≤ ${formatBytes(resolved.maxBindingBytes)}` };
  } catch (e) {
    return failure(label, e);
  }
}

function largestOtherBuffer(config: Qwen35Config, settings: Settings, limits: BufferLimits): FitCheck {
  const label = 'KV cache, state and activation buffers within the limits';
  try {
    const resolved = resolveSessionOptions(config, settings, asLimits(limits));
    const { state, activations, scratch } = planSessionBuffers(config, resolved);
    const largest = [...state, ...activations, ...scratch].reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const ok = largest.bytes <= limit;
    return { label, ok, detail: `largest: ${largest.key} ${formatBytes(largest.bytes)} ${ok ? '≤' : '>'} ${formatBytes(limit)}` };
  } catch (e) {
    return failure(label, e);
  }
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
    checks.push(largestWeightBuffer(config, settings, limits), largestOtherBuffer(config, settings, limits));
    try {
      prediction = predictMemory(config, settings, asLimits(limits));
      checks.push(deviceMemoryCheck(prediction.total, hint));
    } catch (e) {
      checks.push(failure('Memory prediction', e));
    }
  }
  return { prediction, fit: { fits: checks.every((c) => c.ok !== false), checks } };
}

/**
 * Any thrown value → a message the page can show and the way out it offers: try again (network,
 * no adapter yet), pick another model or smaller settings (bad files, does not fit), load the
 * model again (device lost, GPU error), or nothing (the user cancelled).
 */
import {
  AbortedError,
  ConfigError,
  ContextOverflowError,
  DeviceLostError,
  DownloadError,
  GpuUnavailableError,
  GpuValidationError,
  InvalidArgumentError,
  ModelFormatError,
  OutOfGpuMemoryError,
  ShaderError,
} from '../src/index.js';
import type { ErrorView, Recovery } from './protocol.js';

const RECOVERY: [new (...args: never[]) => Error, Recovery][] = [
  [AbortedError, 'none'],
  [GpuUnavailableError, 'retry'],
  [DownloadError, 'retry'],
  [ContextOverflowError, 'reset-chat'],
  [OutOfGpuMemoryError, 'pick-model'],
  [ConfigError, 'pick-model'],
  [ModelFormatError, 'pick-model'],
  [InvalidArgumentError, 'pick-model'],
  [DeviceLostError, 'reload-model'],
  [GpuValidationError, 'reload-model'],
  [ShaderError, 'reload-model'],
];

export function errorView(e: unknown): ErrorView {
  if (e instanceof Error) {
    // A DOMException AbortError comes from fetch/streams cancelled by the same signal.
    if (e.name === 'AbortError') return { name: 'AbortedError', message: 'cancelled', recovery: 'none' };
    const recovery = RECOVERY.find(([cls]) => e instanceof cls)?.[1] ?? 'retry';
    return { name: e.name, message: e.message || String(e), recovery };
  }
  return { name: 'Error', message: String(e), recovery: 'retry' };
}

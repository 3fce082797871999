/** Number formatting shared by the panels (bytes and durations come from src/io/progress.ts). */
export { formatBytes, formatDuration } from '../../src/io/progress.js';

export const formatRate = (tokensPerSecond: number): string =>
  Number.isFinite(tokensPerSecond) ? `${tokensPerSecond >= 100 ? tokensPerSecond.toFixed(0) : tokensPerSecond.toFixed(1)} tok/s` : '–';

export const formatMs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

export const formatPercent = (p: number): string => (Number.isFinite(p) ? `${p >= 0 ? '+' : ''}${p.toFixed(1)}%` : '—');

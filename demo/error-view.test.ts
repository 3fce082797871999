/** Thrown errors → the banner's message and way out. */
import { describe, expect, it } from 'vitest';
import { AbortedError, ContextOverflowError, DeviceLostError, DownloadError, GpuUnavailableError, ModelFormatError, OutOfGpuMemoryError } from '../src/errors.js';
import { errorView } from './error-view.js';

describe('errorView', () => {
  it('offers the way out each kind of failure allows', () => {
    const cases: [Error, string][] = [
      [new GpuUnavailableError('no adapter'), 'retry'],
      [new DownloadError('HTTP 503'), 'retry'],
      [new ModelFormatError('bad header'), 'pick-model'],
      [new OutOfGpuMemoryError('too big'), 'pick-model'],
      [new DeviceLostError('lost'), 'reload-model'],
      [new ContextOverflowError('full'), 'reset-chat'],
      [new AbortedError('cancelled'), 'none'],
      [new TypeError('boom'), 'retry'],
    ];
    for (const [error, recovery] of cases) expect(errorView(error)).toEqual({ name: error.name, message: error.message, recovery });
  });

  it('treats a DOM AbortError as a cancellation and keeps non-errors readable', () => {
    expect(errorView(new DOMException('x', 'AbortError'))).toEqual({ name: 'AbortedError', message: 'cancelled', recovery: 'none' });
    expect(errorView('plain string')).toEqual({ name: 'Error', message: 'plain string', recovery: 'retry' });
  });
});

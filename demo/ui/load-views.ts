/** The model panel's outputs: the fit report (before loading) and the load progress bar. */
import type { Inspection, ProgressView } from '../protocol.js';
import { byId, el } from './dom.js';
import { formatBytes, formatDuration } from './format.js';

/** Predicted total, what was checked against the adapter's limits, and the verdict. */
export function showFit(inspection: Inspection | undefined): void {
  const box = byId('fit');
  box.hidden = !inspection;
  if (!inspection) return box.replaceChildren();
  const { model, prediction, fit } = inspection;
  const what = `${model.modelType}, ${model.layers} layers, hidden ${model.hiddenSize}, vocab ${model.vocabSize}` + (model.experts ? `, ${model.experts} experts` : '');
  const verdict = fit.fits
    ? el('span', { className: 'verdict ok', textContent: 'Fits the adapter’s limits' })
    : el('span', { className: 'verdict bad', textContent: 'Does not fit' });
  const items = fit.checks.map((c) =>
    el('li', { className: c.ok === undefined ? 'unknown' : c.ok ? 'ok' : 'bad' }, el('strong', { textContent: c.label }), el('br'), c.detail),
  );
  // The checks stay folded when everything passed.
  const details = el('details', { open: !fit.fits }, el('summary', { textContent: `What was checked (${fit.checks.length})` }), el('ul', {}, ...items));
  box.replaceChildren(
    el('div', { textContent: what }),
    el('div', {}, prediction ? `Predicted GPU memory: ${formatBytes(prediction.total)} — ` : '', verdict),
    details,
  );
}

/** Phase, bytes, files, speed and ETA; `undefined` hides the bar. */
export function showProgress(p: ProgressView | undefined): void {
  byId('progress').hidden = !p;
  if (!p) return;
  const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 0;
  byId('progress-fill').style.width = `${(fraction * 100).toFixed(1)}%`;
  const parts = [
    `${p.phase} ${(fraction * 100).toFixed(0)}%`,
    `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}`,
    p.filesTotal > 0 ? `files ${p.filesDone}/${p.filesTotal}` : undefined,
    p.bytesPerSecond !== undefined ? `${formatBytes(p.bytesPerSecond)}/s` : undefined,
    p.etaSeconds !== undefined ? `ETA ${formatDuration(p.etaSeconds)}` : undefined,
    p.currentFile,
  ];
  byId('progress-text').textContent = parts.filter((s) => s !== undefined).join(' · ');
}

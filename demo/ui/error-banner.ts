/** The error banner: a readable message and the ways out the error allows (plus Dismiss). */
import type { ErrorView } from '../protocol.js';
import { byId, el } from './dom.js';

export interface BannerAction {
  label: string;
  run(): void;
}

export function showError(error: ErrorView, actions: BannerAction[] = []): void {
  const banner = byId('error-banner');
  byId('error-text').textContent = `${error.name}: ${error.message}`;
  const buttons = [...actions, { label: 'Dismiss', run: () => undefined }].map((a) => {
    const button = el('button', { type: 'button', textContent: a.label });
    button.addEventListener('click', () => {
      hideError();
      a.run();
    });
    return button;
  });
  byId('error-actions').replaceChildren(...buttons);
  banner.hidden = false;
}

export function hideError(): void {
  byId('error-banner').hidden = true;
}

/**
 * The model picker: where the checkpoint comes from (built-in folder served at /models/, hub repo
 * + revision, base URL, or a local folder via the directory picker / folder input) and the load
 * settings (weight format, context length, KV cache format, download cache).
 */
import type { WeightFormat } from '../../src/index.js';
import type { ModelSettings, SourceInput } from '../protocol.js';
import { byId, el, numberValue } from './dom.js';

type SourceKind = 'builtin' | 'hub' | 'url' | 'folder';

interface DirectoryPickerWindow {
  showDirectoryPicker?(options?: { mode?: 'read' }): Promise<FileSystemDirectoryHandle>;
}

/** A short name for status lines. */
export function describeSource(input: SourceInput): string {
  switch (input.kind) {
    case 'builtin':
      return `built-in ${input.name}`;
    case 'hub':
      return `${input.repo}@${input.revision || 'main'}`;
    case 'url':
      return input.url;
    case 'files':
      return `${input.files.length} picked files`;
    case 'directory':
      return `folder ${input.handle.name}`;
  }
}

/** Thrown by read() when the form does not name a model yet. */
export class IncompleteChoiceError extends Error {
  override name = 'IncompleteChoiceError';
}

export class ModelPanel {
  private picked: { kind: 'files'; files: File[] } | { kind: 'directory'; handle: FileSystemDirectoryHandle } | undefined;
  private readonly builtin = byId<HTMLSelectElement>('builtin-name');
  private readonly filesInput = byId<HTMLInputElement>('pick-files');

  /** `onChange`: the choice or a setting changed (a shown prediction is stale). */
  constructor(private readonly onChange: () => void) {
    for (const radio of document.querySelectorAll<HTMLInputElement>('input[name=source]')) {
      radio.addEventListener('change', () => this.showFields());
    }
    byId('model-panel').addEventListener('change', () => this.onChange());
    byId('pick-directory').addEventListener('click', () => void this.pickDirectory());
    this.filesInput.addEventListener('change', () => {
      const files = Array.from(this.filesInput.files ?? []);
      this.setPicked(files.length ? { kind: 'files', files } : undefined, `${files.length} files`);
    });
    this.showFields();
  }

  /** Fills the built-in list from the dev server's /models/index.json (empty on a static host). */
  async listBuiltin(): Promise<void> {
    const names = await fetch(new URL('/models/index.json', location.href))
      .then((r) => (r.ok ? (r.json() as Promise<string[]>) : []))
      .catch(() => [] as string[]);
    this.builtin.replaceChildren(...names.map((n) => el('option', { value: n, textContent: n })));
    if (names.length === 0) {
      this.builtin.append(el('option', { value: '', textContent: 'none served here', disabled: true }));
      this.selectKind('hub');
    }
  }

  private kind(): SourceKind {
    return (document.querySelector<HTMLInputElement>('input[name=source]:checked')?.value ?? 'builtin') as SourceKind;
  }

  private selectKind(kind: SourceKind): void {
    const radio = document.querySelector<HTMLInputElement>(`input[name=source][value=${kind}]`);
    if (radio) radio.checked = true;
    this.showFields();
  }

  private showFields(): void {
    const kind = this.kind();
    for (const fields of document.querySelectorAll<HTMLElement>('.source-fields')) fields.hidden = fields.dataset.source !== kind;
    byId<HTMLInputElement>('use-cache').disabled = kind === 'builtin' || kind === 'folder';
  }

  private async pickDirectory(): Promise<void> {
    const picker = (window as DirectoryPickerWindow).showDirectoryPicker;
    if (!picker) return this.filesInput.click(); // Firefox, Safari: <input webkitdirectory>
    try {
      const handle = await picker.call(window, { mode: 'read' });
      this.setPicked({ kind: 'directory', handle }, `folder “${handle.name}”`);
    } catch (e) {
      if ((e as Error).name !== 'AbortError') throw e; // the user closed the picker
    }
  }

  private setPicked(picked: ModelPanel['picked'], label: string): void {
    this.picked = picked;
    byId('picked').textContent = picked ? `Chosen: ${label}` : 'No folder chosen.';
    this.onChange();
  }

  /** The current choice; throws IncompleteChoiceError naming what is missing. */
  read(): { source: SourceInput; settings: ModelSettings } {
    const settings: ModelSettings = {
      weightFormat: byId<HTMLSelectElement>('weight-format').value as WeightFormat,
      maxContext: Math.round(numberValue(byId<HTMLInputElement>('max-context'), 2048)),
      kvFormat: byId<HTMLSelectElement>('kv-format').value as 'f16' | 'f32',
      cache: byId<HTMLInputElement>('use-cache').checked,
    };
    return { source: this.source(), settings };
  }

  private source(): SourceInput {
    switch (this.kind()) {
      case 'builtin':
        if (!this.builtin.value) throw new IncompleteChoiceError('no built-in model is served here: choose a hub repo, a URL or a folder');
        return { kind: 'builtin', name: this.builtin.value };
      case 'hub': {
        const token = byId<HTMLInputElement>('hub-token').value.trim();
        const repo = byId<HTMLInputElement>('hub-repo').value;
        const revision = byId<HTMLInputElement>('hub-revision').value;
        const endpoint = byId<HTMLInputElement>('hub-endpoint').value;
        return token ? { kind: 'hub', repo, revision, endpoint, token } : { kind: 'hub', repo, revision, endpoint };
      }
      case 'url':
        return { kind: 'url', url: byId<HTMLInputElement>('base-url').value };
      case 'folder':
        if (!this.picked) throw new IncompleteChoiceError('no folder chosen: click “Choose folder…” and pick the checkpoint folder');
        return this.picked;
    }
  }

  /** Caps the context field at the model's maximum once config.json is known. */
  setContextLimit(maxPositionEmbeddings: number): void {
    const input = byId<HTMLInputElement>('max-context');
    input.max = String(maxPositionEmbeddings);
  }
}

/**
 * The demo page's controller: wires the panels to the inference worker. States (also on
 * <body data-state>, which the browser tests wait on): starting → no-model → inspecting/loading →
 * ready ⇄ generating; any failure shows the error banner with the ways out the error allows.
 */
import type { ChatMessage, MemoryComparison } from '../src/index.js';
import type { ErrorView, Inspection, ModelSettings, SourceInput } from './protocol.js';
import { byId } from './ui/dom.js';
import { showAdapter } from './ui/adapter-view.js';
import { readBenchSettings, setBenchState, showBenchProgress, showBenchResult } from './ui/bench-view.js';
import { ChatView } from './ui/chat-view.js';
import { hideError, showError, type BannerAction } from './ui/error-banner.js';
import { formatMs } from './ui/format.js';
import { showFit, showProgress } from './ui/load-views.js';
import { enablePlotDialog, showMemory, showMemoryPlot, withReading } from './ui/memory-view.js';
import { describeSource, IncompleteChoiceError, ModelPanel } from './ui/model-panel.js';
import { WorkerCallError, WorkerClient, type Call } from './worker-client.js';

type PageState = 'starting' | 'no-model' | 'inspecting' | 'loading' | 'ready' | 'generating' | 'benchmarking';

const toView = (e: unknown): ErrorView =>
  e instanceof WorkerCallError ? e.view : { name: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e), recovery: 'retry' };

class Demo {
  private readonly client = new WorkerClient((error) => this.deviceLost(error));
  private readonly panel = new ModelPanel(() => showFit(undefined));
  private readonly chat = new ChatView({ send: (t) => void this.send(t), stop: () => this.reply?.cancel(), reset: () => void this.resetChat() });
  private messages: ChatMessage[] = [];
  private loadCall: Call<unknown> | undefined;
  private reply: Call<unknown> | undefined;
  private benchCall: Call<unknown> | undefined;
  private modelLoaded = false;
  /** The last measured-vs-predicted comparison (live readings during a reply update its measured side). */
  private memory: MemoryComparison | undefined;

  constructor() {
    byId('inspect').addEventListener('click', () => void this.inspect());
    byId('load').addEventListener('click', () => void this.load());
    byId('cancel-load').addEventListener('click', () => this.loadCall?.cancel());
    byId('bench').addEventListener('click', () => void this.bench());
    byId('cancel-bench').addEventListener('click', () => this.benchCall?.cancel());
    enablePlotDialog();
  }

  private setState(state: PageState): void {
    document.body.dataset.state = state;
    const busy = state === 'inspecting' || state === 'loading' || state === 'starting';
    byId<HTMLButtonElement>('load').disabled = busy || state === 'generating' || state === 'benchmarking';
    byId<HTMLButtonElement>('inspect').disabled = busy;
    byId('cancel-load').hidden = state !== 'loading';
    this.chat.setState(state === 'generating' ? 'generating' : this.modelLoaded && state === 'ready' ? 'ready' : 'no-model');
    setBenchState(state === 'benchmarking' ? 'running' : this.modelLoaded && state === 'ready' ? 'ready' : 'idle');
  }

  private status(text: string): void {
    byId('model-status').textContent = text;
  }

  private fail(e: unknown, retry: () => void): void {
    const view = toView(e);
    const actions: Record<ErrorView['recovery'], BannerAction[]> = {
      retry: [{ label: 'Try again', run: retry }],
      'pick-model': [{ label: 'Choose another model', run: () => byId('model-panel').scrollIntoView() }],
      'reload-model': [{ label: 'Load again', run: () => void this.load() }],
      'reset-chat': [{ label: 'New chat', run: () => void this.resetChat() }],
      none: [],
    };
    showError(view, actions[view.recovery]);
  }

  async start(): Promise<void> {
    this.setState('starting');
    hideError();
    void this.panel.listBuiltin();
    try {
      showAdapter(await this.client.call({ type: 'probe' }).result);
    } catch (e) {
      showAdapter(undefined, toView(e).message);
      this.fail(e, () => {
        this.client.restart();
        void this.start();
      });
    }
    this.setState(this.modelLoaded ? 'ready' : 'no-model');
  }

  /** Reads config.json and shows the predicted memory and the fit checks. */
  private async inspect(choice = this.readChoice()): Promise<Inspection | undefined> {
    if (!choice) return undefined;
    this.setState('inspecting');
    this.status('Reading config.json…');
    try {
      const inspection = await this.client.call({ type: 'inspect', ...choice }).result;
      showFit(inspection);
      this.panel.setContextLimit(inspection.model.maxPositionEmbeddings);
      if (inspection.prediction && !this.modelLoaded) showMemory(inspection.prediction.byCategory);
      if (!this.modelLoaded) showMemoryPlot(inspection.plot);
      this.status('');
      return inspection;
    } catch (e) {
      this.status('');
      this.fail(e, () => void this.inspect());
      return undefined;
    } finally {
      this.setState(this.modelLoaded ? 'ready' : 'no-model');
    }
  }

  private readChoice(): { source: SourceInput; settings: ModelSettings } | undefined {
    try {
      return this.panel.read();
    } catch (e) {
      if (!(e instanceof IncompleteChoiceError)) throw e;
      showError({ name: 'Choose a model', message: e.message, recovery: 'none' });
      return undefined;
    }
  }

  /** Inspects first (the prediction and checks are shown before anything is allocated), then loads. */
  private async load(): Promise<void> {
    const choice = this.readChoice();
    const inspection = choice && (await this.inspect(choice));
    if (!choice || !inspection) return;
    if (!inspection.fit.fits) {
      this.status('Not loaded: the model does not fit with these settings (see the checks above).');
      return;
    }
    hideError();
    this.modelLoaded = false;
    this.setState('loading');
    this.status(`Loading ${describeSource(choice.source)}…`);
    showProgress({ phase: 'starting', bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0, currentFile: undefined, bytesPerSecond: undefined, etaSeconds: undefined });
    const call = this.client.call({ type: 'load', ...choice }, (ev) => ev.type === 'progress' && showProgress(ev.progress));
    this.loadCall = call;
    try {
      const loaded = await call.result;
      this.modelLoaded = true;
      this.messages = [];
      this.chat.clear(`${loaded.model.source} is ready. Ask something.`);
      this.status(`Loaded ${loaded.model.source} (${choice.settings.weightFormat}, context ${choice.settings.maxContext}) in ${formatMs(loaded.loadMs)}.`);
      this.showMeasured(loaded.memory);
      showMemoryPlot(loaded.plot);
    } catch (e) {
      showProgress(undefined);
      if (toView(e).name === 'AbortedError') this.status('Loading cancelled.');
      else {
        this.status('Loading failed.');
        this.fail(e, () => void this.load());
      }
    } finally {
      this.loadCall = undefined;
      this.setState(this.modelLoaded ? 'ready' : 'no-model');
    }
  }

  private async send(text: string): Promise<void> {
    hideError();
    const sampling = this.chat.readSampling();
    this.messages.push({ role: 'user', content: text });
    this.chat.addUser(text);
    const bubble = this.chat.addReply(sampling.enableThinking);
    this.setState('generating');
    const call = this.client.call({ type: 'chat', messages: [...this.messages], sampling }, (ev) => {
      if (ev.type === 'memory' && this.memory) showMemory(this.memory.predicted.byCategory, withReading(this.memory, ev.reading), { tokens: ev.tokens });
      if (ev.type !== 'text') return;
      bubble.append(ev.text, ev.tokens);
      this.chat.scroll();
    });
    this.reply = call;
    try {
      const reply = await call.result;
      bubble.finish(reply.stats);
      this.messages.push({ role: 'assistant', content: reply.text });
      this.showMeasured(reply.memory);
    } catch (e) {
      const view = toView(e);
      if (view.name === 'AbortedError') {
        bubble.stopped();
        this.messages.push({ role: 'assistant', content: bubble.text }); // the conversation keeps what was said
      } else {
        bubble.failed(view.message);
        this.messages.pop(); // the failed turn is not part of the conversation
        this.fail(e, () => void this.send(text));
      }
    } finally {
      this.reply = undefined;
      this.setState(this.modelLoaded ? 'ready' : 'no-model');
    }
  }

  /** runBenchmark in the worker on the loaded model; the chat starts over (the benchmark used the cache). */
  private async bench(): Promise<void> {
    hideError();
    showBenchResult(undefined);
    this.setState('benchmarking');
    const started = performance.now();
    showBenchProgress('Starting the benchmark…');
    const call = this.client.call({ type: 'bench', settings: readBenchSettings() }, (ev) => {
      if (ev.type === 'bench-progress') showBenchProgress(`${formatMs(performance.now() - started)} · ${ev.scenario}: ${ev.message}`);
    });
    this.benchCall = call;
    try {
      const view = await call.result;
      showBenchResult(view);
      showBenchProgress(`Done in ${formatMs(performance.now() - started)}.`);
    } catch (e) {
      if (toView(e).name === 'AbortedError') showBenchProgress('Benchmark cancelled.');
      else {
        showBenchProgress('Benchmark failed.');
        this.fail(e, () => void this.bench());
      }
    } finally {
      this.benchCall = undefined;
      this.messages = [];
      this.chat.clear('The benchmark used the model’s cache: the chat starts over.');
      this.setState(this.modelLoaded ? 'ready' : 'no-model');
    }
  }

  private async resetChat(): Promise<void> {
    this.messages = [];
    this.chat.clear();
    try {
      this.showMeasured(await this.client.call({ type: 'reset' }).result);
    } catch (e) {
      this.fail(e, () => void this.resetChat());
    }
  }

  private showMeasured(memory: MemoryComparison): void {
    this.memory = memory;
    showMemory(memory.predicted.byCategory, memory);
  }

  private deviceLost(error: ErrorView): void {
    this.modelLoaded = false;
    this.status('The GPU device was lost; the model is gone.');
    this.setState('no-model');
    this.fail(new WorkerCallError(error), () => void this.load());
  }
}

void new Demo().start();

/**
 * Renders a chat template from a checkpoint — untrusted input — with bounded resources.
 * @huggingface/jinja is an interpreter over its own value types: a template sees only the
 * variables it is given (no `process`, `globalThis`, constructors or prototypes; nothing is
 * eval'd). What the interpreter does not bound is work and memory: `range(10**9)` allocates a
 * billion-element array (a fatal, uncatchable V8 error in Node, a crashed tab in a browser), and
 * nested loops can run for ever. Here every evaluation step and loop iteration is counted, every string and list a
 * step produces is size-checked, and `range` refuses to build a list longer than the limit, so
 * any template ends quickly, in a catchable error at worst.
 */
import { Environment, Interpreter, type Template } from '@huggingface/jinja';

export const TEMPLATE_LIMITS = {
  /** Interpreter steps (node evaluations, loop iterations) per render: ~1 s of work; 1,000 chat messages take < 10^5. */
  steps: 500_000,
  /** Longest list a step may produce (also range()). */
  items: 100_000,
  /** Longest string a step may produce (characters); far beyond any context window. */
  chars: 64 * 2 ** 20,
};

/** A template exceeded a limit (the caller wraps it into its typed error). */
export class TemplateLimitError extends Error {}

type Evaluate = Interpreter['evaluate'];

/** The interpreter's block runner (private in its typings): a loop body, even an empty one, runs through it. */
interface BlockRunner {
  evaluateBlock(statements: unknown, env: Environment): unknown;
}

class BoundedInterpreter extends Interpreter {
  private steps = 0;

  constructor(env: Environment) {
    super(env);
    const self = this as unknown as BlockRunner;
    const runBlock = self.evaluateBlock.bind(this);
    self.evaluateBlock = (statements, scope) => {
      this.step();
      return runBlock(statements, scope);
    };
  }

  private step(): void {
    if (++this.steps > TEMPLATE_LIMITS.steps) {
      throw new TemplateLimitError(`the template ran more than ${TEMPLATE_LIMITS.steps} steps (an endless or enormous loop?)`);
    }
  }

  override evaluate(...args: Parameters<Evaluate>): ReturnType<Evaluate> {
    this.step();
    const value = super.evaluate(...args);
    if (value.type === 'StringValue' && (value.value as string).length > TEMPLATE_LIMITS.chars) {
      throw new TemplateLimitError(`the template built a string longer than ${TEMPLATE_LIMITS.chars} characters`);
    }
    if (value.type === 'ArrayValue' && (value.value as unknown[]).length > TEMPLATE_LIMITS.items) {
      throw new TemplateLimitError(`the template built a list longer than ${TEMPLATE_LIMITS.items} items`);
    }
    return value;
  }
}

/** Python's range(), refusing to build more than TEMPLATE_LIMITS.items numbers. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (![from, to, step].every(Number.isFinite)) throw new TemplateLimitError('range() takes finite numbers');
  if (step === 0) throw new TemplateLimitError('range() step must not be zero');
  const count = Math.max(0, Math.ceil((to - from) / step));
  if (count > TEMPLATE_LIMITS.items) throw new TemplateLimitError(`range() of ${count} numbers: more than ${TEMPLATE_LIMITS.items}`);
  return Array.from({ length: count }, (_, i) => from + i * step);
}

/** strftime_now(format) with the directives chat templates use (%Y %m %d %H %M %b %B %%). */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad = (n: number): string => String(n).padStart(2, '0');
  const month = (style: 'short' | 'long'): string => new Intl.DateTimeFormat(undefined, { month: style }).format(d);
  const values: Record<string, () => string> = {
    '%Y': () => String(d.getFullYear()),
    '%m': () => pad(d.getMonth() + 1),
    '%d': () => pad(d.getDate()),
    '%H': () => pad(d.getHours()),
    '%M': () => pad(d.getMinutes()),
    '%b': () => month('short'),
    '%B': () => month('long'),
    '%%': () => '%',
  };
  return String(format).replace(/%[YmdHMbB%]/g, (t) => values[t]!());
}

/** The globals @huggingface/jinja's Template.render() defines, with range() bounded. */
function globals(): Record<string, unknown> {
  return {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: boundedRange,
    strftime_now: strftimeNow,
  };
}

/** Template.render(context) with bounded steps, list and string sizes (throws TemplateLimitError beyond them). */
export function renderBounded(template: Template, context: Record<string, unknown>): string {
  const env = new Environment();
  for (const [key, value] of Object.entries({ ...globals(), ...context })) env.set(key, value);
  const result = new BoundedInterpreter(env).run(template.parsed);
  return String(result.value);
}

/**
 * What the browser tests do on the demo page: wait for a <body data-state>, read text, set a field.
 * `page` is a getter: test files create the page in beforeAll, after these are bound.
 */
import type { Page } from 'puppeteer-core';

export function pageActions(page: () => Page) {
  return {
    /** Waits until the page's state (main.ts) is `want`. */
    state: (want: string, timeout = 110_000) => page().waitForFunction((s) => document.body.dataset.state === s, { timeout }, want),
    text: (selector: string) => page().$eval(selector, (e) => e.textContent ?? ''),
    /** Sets a form field the way typing would, firing `change`. */
    setValue: (selector: string, value: string) =>
      page().$eval(
        selector,
        (e, v) => {
          (e as HTMLInputElement).value = v;
          e.dispatchEvent(new Event('change', { bubbles: true }));
        },
        value,
      ),
  };
}

export type PageActions = ReturnType<typeof pageActions>;

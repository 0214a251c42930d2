// The browser test page's entry. browser.test.ts bundles it with 'torchlet' left as an import,
// which the page's import map points at a copy of dist/, and reads window.__result.
import * as tl from 'torchlet';
import { runCoreChecks } from './core-checks.js';

async function main(): Promise<object> {
  // The test server answers unknown paths with index.html, as a misconfigured SPA host does.
  let htmlError = '';
  try {
    await tl.init({ wasm: './no-such.wasm' });
  } catch (e) {
    htmlError = (e as Error).message;
  }
  await tl.init();
  return { htmlError, ...(await runCoreChecks(tl)) };
}

const report = (value: object): void => {
  (window as unknown as { __result: object }).__result = value;
};
main().then(report, (e: unknown) => report({ error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }));

// Debian's Chromium driven by playwright-core (never a downloaded browser), with the flags this
// sandbox needs: no sandbox as root, no GPU, and no background network traffic (the network is closed).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** The browser binary: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A headless Chromium with a fresh profile; `close()` removes the profile. `extraArgs`: more
 * flags (the WebGPU test adds `--enable-unsafe-webgpu`, which gives a page served from 127.0.0.1
 * a WebGPU adapter, SwiftShader's on a machine without a GPU). `allowGpu` leaves out
 * `--disable-gpu`, for the WebGPU bench on a machine with a GPU.
 */
export async function launchChromium(
  extraArgs: readonly string[] = [],
  options: { allowGpu?: boolean } = {},
): Promise<{
  context: BrowserContext;
  close(): Promise<void>;
}> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `browser tests: expected Chromium at ${CHROMIUM}, got no file; install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'torchlet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [...ARGS.filter((a) => !(options.allowGpu && a === '--disable-gpu')), ...extraArgs],
    headless: true,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

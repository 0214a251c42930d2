// Types of rollup-plugins.mjs, for the TypeScript scripts that use it.
import type { Plugin } from 'rollup';

export function assetUrls(options?: { sourceDirs?: Record<string, string> }): Plugin;
export function swapModules(map: Record<string, string>): Plugin;
export function copyTypes(dir: string): Plugin;
export function alias(map: Record<string, string>): Plugin;
export function transpileTs(): Plugin;

// The layer registry: type name -> class, the allow-list of model files and architectures.
// Built-in layers are found by their `static spec` in the layer files; `register(Class)` adds a
// user's layer, so files naming it load (data only: the file names the type and its arguments,
// the registered class builds it; no code is ever read from a file).

import * as activation from './activation.js';
import * as container from './container.js';
import * as conv from './conv.js';
import { TorchletError } from './errors.js';
import * as linear from './linear.js';
import { type ArgSpec, type LayerClass, type LayerSpec, Module } from './module.js';
import * as pool from './pool.js';
import * as upsample from './upsample.js';
import * as view from './view.js';

const registry = new Map<string, LayerClass>();

function isLayerClass(x: unknown): x is LayerClass {
  return typeof x === 'function' && x.prototype instanceof Module && Object.hasOwn(x, 'spec');
}

function checkSpec(spec: unknown, where: string): asserts spec is LayerSpec {
  const bad = (m: string): TorchletError =>
    new TorchletError('BAD_ARGUMENT', `${where}: expected a static spec ${m}`);
  if (typeof spec !== 'object' || spec === null)
    throw bad(`{ type, args, build }, got ${String(spec)}`);
  const s = spec as Partial<LayerSpec>;
  if (typeof s.type !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(s.type))
    throw bad(`with a type name of letters and digits, got ${JSON.stringify(s.type)}`);
  if (!Array.isArray(s.args)) throw bad(`with args as an array, got ${JSON.stringify(s.args)}`);
  for (const a of s.args as ArgSpec[]) {
    const kindOk =
      a.kind === 'int' ||
      a.kind === 'ints' ||
      a.kind === 'fraction' ||
      (Array.isArray(a.kind) && a.kind.every((v) => typeof v === 'string'));
    if (typeof a.name !== 'string' || !kindOk)
      throw bad(
        `with args { name, kind: 'int' | 'ints' | 'fraction' | string[] }, got ${JSON.stringify(a)}`,
      );
  }
  if (typeof s.build !== 'function')
    throw bad(`with a build(args, children, rng) function, got ${typeof s.build}`);
}

/**
 * Makes a layer class loadable from model files and architectures under its `spec.type`.
 * @throws TorchletError `BAD_ARGUMENT` for a class without a valid `static spec`, or a type name
 *   another class holds.
 * @example
 * class Scale extends Module { static readonly spec = { type: 'Scale', args: [...], build: … }; … }
 * register(Scale);
 */
export function register<M extends Module>(cls: LayerClass<M>): void {
  const given: unknown = cls;
  if (typeof given !== 'function' || !(given.prototype instanceof Module)) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `register: expected a Module subclass, got ${given === null ? 'null' : typeof given}`,
    );
  }
  const layer = cls as unknown as LayerClass;
  if (!Object.hasOwn(given, 'spec')) {
    const from = (Object.getPrototypeOf(given) as { name?: string }).name;
    throw new TorchletError(
      'BAD_ARGUMENT',
      `register(${given.name}): expected a static spec of its own, got none (it inherits ${from}'s); declare static readonly spec = { type: '${given.name}', … }`,
    );
  }
  checkSpec(layer.spec, `register(${given.name})`);
  const held = registry.get(layer.spec.type);
  if (held !== undefined && held !== layer) {
    throw new TorchletError(
      'BAD_ARGUMENT',
      `register: expected a free type name, got ${JSON.stringify(layer.spec.type)}, held by another class`,
    );
  }
  registry.set(layer.spec.type, layer);
}

/** The registered class of a type name, or undefined. */
export function layerClass(type: string): LayerClass | undefined {
  return registry.get(type);
}

/** Every registered type name (built-in first, then user layers in registration order). */
export function registeredTypes(): string[] {
  return [...registry.keys()];
}

for (const family of [linear, conv, pool, activation, view, upsample, container]) {
  for (const x of Object.values(family)) if (isLayerClass(x)) register(x);
}

/** The built-in module types (the allow-list before any `register`). */
export const MODULE_TYPES: readonly string[] = Object.freeze(registeredTypes());

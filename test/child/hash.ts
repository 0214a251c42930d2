// SHA-256 of a module's parameter values (names, shapes and float32 bytes, in order).
import { createHash } from 'node:crypto';
import type { Module } from '../../ts/index.js';

/** Hex SHA-256 of every parameter's name, shape and float32 bytes. */
export function weightHash(net: Module): string {
  const h = createHash('sha256');
  for (const p of net.parameters()) {
    h.update(`${p.name}[${p.value.shape.join(',')}]`);
    const d = p.value.toArray();
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

// A one-file static server for the demo and the browser tests: GET and HEAD of files under one
// folder, on 127.0.0.1 only, with the MIME types WebAssembly and module workers need and the
// cross-origin isolation headers SharedArrayBuffer needs (data-parallel training in a page).
// `tsx scripts/serve.ts <folder> [port]` prints the URL; tests call `serve()` with port 0.
import { createReadStream, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.gz': 'application/gzip',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** The headers that make a page cross-origin isolated (`crossOriginIsolated`). */
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

/** Options for `serve`. */
export interface ServeOptions {
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** Answer unknown paths with this file and status 200, as single-page-app hosts do (tests use it). */
  fallback?: string;
  /**
   * Send the cross-origin isolation headers (COOP same-origin, COEP require-corp), which browsers
   * require for SharedArrayBuffer and so for data-parallel training's workers (default true).
   */
  isolated?: boolean;
}

/** A running server: its URL and how to stop it. */
export interface Served {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serves the files under `root`; resolves once listening. */
export function serve(root: string, options: ServeOptions = {}): Promise<Served> {
  const base = resolve(root);
  const server = createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad path');
      return;
    }
    let file = join(base, path.endsWith('/') ? `${path}index.html` : path);
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let size = statSize(file);
    if (size === null && options.fallback !== undefined) {
      file = join(base, options.fallback);
      size = statSize(file);
    }
    if (size === null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
      ...(options.isolated === false ? {} : ISOLATION),
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolveListen({
        url: `http://127.0.0.1:${port}/`,
        server,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

function statSize(file: string): number | null {
  try {
    const s = statSync(file);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [root = '.', port = '8080'] = process.argv.slice(2);
  const { url } = await serve(root, { port: Number(port) });
  console.log(`serving ${resolve(root)} at ${url} (Ctrl-C stops)`);
}

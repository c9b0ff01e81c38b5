// Serves a folder of static files (the built web page) over HTTP on this
// machine: `npm run demo` builds the page and runs this. Options: --port N
// (default 8080; 0 picks a free one), --host H (default 127.0.0.1; 0.0.0.0
// shares the page on the network).
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { webOutDir } from './build-web.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  // WebAssembly.compileStreaming refuses any other type.
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** Starts serving `dir` (GET and HEAD only, nothing outside it) and resolves once it listens. */
export function serveStatic(dir: string, port = 0, host = '127.0.0.1'): Promise<StaticServer> {
  const base = resolve(dir);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const file = normalize(join(base, path.endsWith('/') ? path + 'index.html' : path));
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile() || (file !== base && !file.startsWith(base + sep))) throw new Error('not served');
      size = st.size;
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size, 'Cache-Control': 'no-cache' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const address = server.address();
      const p = typeof address === 'object' && address ? address.port : port;
      ok({ url: `http://${host.includes(':') ? `[${host}]` : host}:${p}/`, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, dir: { type: 'string', default: webOutDir } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`spikevae demo: --port must be a whole number from 0 to 65535, got '${values.port}'`);
    process.exit(2);
  }
  try {
    statSync(join(values.dir, 'index.html'));
  } catch {
    console.error(`spikevae demo: ${values.dir} holds no built page; run 'npm run build:web' first`);
    process.exit(1);
  }
  serveStatic(values.dir, port, values.host).then(
    (s) => console.log(`spikevae demo: open ${s.url} (serving ${values.dir}; Ctrl-C stops)`),
    (e: NodeJS.ErrnoException) => {
      console.error(`spikevae demo: cannot listen on ${values.host}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pass --port N (0 picks a free one)' : e.message}`);
      process.exit(1);
    },
  );
}

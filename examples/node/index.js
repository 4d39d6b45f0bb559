// index.js — the Node example function: a custom runtime on Node's `http`
// module only. Listens on 0.0.0.0:$FC_SERVER_PORT (default 9000).
//
// POST /invoke (event function): answers 'hello, ' + event ('hello, world'
// for an empty event). Test events: sleep:<ms>, fail (x-fc-status 404 +
// JSON error), log:<text> (to stdout and stderr), crash (process.exit(3)),
// env:<NAME>. POST /initialize: 200. Any other request (HTTP trigger): a
// JSON echo of method, path, query, some headers and the body length;
// .../status/<code> answers that status, /cookies sets two cookies.
'use strict';
const http = require('http');

const port = Number(process.env.FC_SERVER_PORT || process.env.FC_CUSTOM_LISTEN_PORT || 9000);
const ECHO_HEADERS = ['x-fc-base-path', 'content-type', 'x-forwarded-for', 'x-fc-client-ip'];

function kindOf(req) {
  const cp = req.headers['x-fc-control-path'];
  if (cp) return cp;
  if (req.method === 'POST' && (req.url === '/invoke' || req.url === '/initialize')) return req.url;
  if (req.method === 'GET' && (req.url === '/pre-stop' || req.url === '/pre-freeze')) return req.url;
  return '/http-invoke';
}

function invoke(event, res, done) {
  if (event.startsWith('sleep:')) {
    setTimeout(() => done(200, 'hello, ' + event), Number(event.slice(6)) || 0);
    return;
  }
  if (event === 'crash' || event === 'exit') process.exit(3);
  if (event === 'fail') {
    res.setHeader('x-fc-status', '404');
    res.setHeader('Content-Type', 'application/json');
    done(404, JSON.stringify({ errorMessage: 'requested failure' }), true);
    return;
  }
  if (event.startsWith('log:')) {
    console.log(event.slice(4));
    console.error(event.slice(4));
  }
  if (event.startsWith('env:')) {
    done(200, process.env[event.slice(4)] || '');
    return;
  }
  done(200, 'hello, ' + (event === '' ? 'world' : event));
}

function echo(req, body, res) {
  const url = new URL(req.url, 'http://localhost');
  const headers = {};
  for (const h of ECHO_HEADERS) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
  const m = /\/status\/(\d+)$/.exec(url.pathname);
  const status = m && Number(m[1]) >= 200 && Number(m[1]) <= 599 ? Number(m[1]) : 200;
  if (url.pathname === '/cookies') res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({
    method: req.method,
    path: url.pathname,
    query: url.search.slice(1),
    headers,
    bodyLength: body.length,
  }));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const id = req.headers['x-fc-request-id'] || '';
    const kind = kindOf(req);
    if (kind === '/initialize') {
      console.log(`FC Initialize Start RequestId: ${id}`);
      console.log(`FC Initialize End RequestId: ${id}`);
      res.end();
      return;
    }
    if (kind !== '/invoke' && kind !== '/http-invoke') {
      res.end(); // pre-stop, pre-freeze
      return;
    }
    console.log(`FC Invoke Start RequestId: ${id}`);
    if (kind === '/http-invoke') {
      echo(req, body, res);
      console.log(`FC Invoke End RequestId: ${id}`);
      return;
    }
    invoke(body.toString(), res, (status, text, failed) => {
      res.statusCode = status;
      res.end(text);
      console.log(`FC Invoke End RequestId: ${id}` +
        (failed ? ', Error: Unhandled function error' : ''));
    });
  });
});

server.listen(port, '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));

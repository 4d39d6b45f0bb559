// bench/workerd/worker.js — the C backend's HTTP-trigger echo
// (examples/hello-c/hello.c, on_http) as a Cloudflare Worker, for workerd as a
// peer reference in bench/sync.sh. Same JSON, byte for byte: method, path,
// query (without "?"), the headers x-fc-base-path, content-type,
// x-forwarded-for and x-fc-client-ip when present, in that order, and the
// request body's length. Strings are escaped as hello.c does (\" \\ and
// \u00XX for bytes below 0x20), not as JSON.stringify does. Not mirrored
// (unused by the benchmark): /status/<code>, /cookies, and the raw request
// target (workerd hands over a normalized URL).
const NAMES = ['x-fc-base-path', 'content-type', 'x-forwarded-for', 'x-fc-client-ip'];

function str(s) {
  return '"' + s.replace(/["\\\u0000-\u001f]/g, (c) =>
    c === '"' || c === '\\' ? '\\' + c : '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) + '"';
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    let len = 0;
    if (request.body !== null) len = (await request.arrayBuffer()).byteLength;
    let h = '';
    for (const n of NAMES) {
      const v = request.headers.get(n);
      if (v !== null) h += (h ? ',' : '') + str(n) + ':' + str(v);
    }
    const body = '{"method":' + str(request.method) + ',"path":' + str(url.pathname) +
      ',"query":' + str(url.search.slice(1)) + ',"headers":{' + h + '},"bodyLength":' + len + '}';
    return new Response(body, { headers: { 'content-type': 'application/json' } });
  },
};

// app.js — an Express 4 app run unchanged as a custom runtime (install with
// `npm install --omit=dev` in this directory; node_modules is not in git).
// POST /invoke answers 'hello, <event>'; every other request gets a JSON echo.
'use strict';
const express = require('express');

const app = express();
app.use(express.raw({ type: () => true, limit: '32mb' })); // body as a Buffer, any type

function log(req, what) {
  console.log(`FC Invoke ${what} RequestId: ${req.get('x-fc-request-id') || ''}`);
}

app.post('/invoke', (req, res) => {
  log(req, 'Start');
  const event = Buffer.isBuffer(req.body) ? req.body.toString() : '';
  res.send('hello, ' + (event === '' ? 'world' : event));
  log(req, 'End');
});

app.post('/initialize', (req, res) => res.end());

app.all('*', (req, res) => {
  log(req, 'Start');
  res.json({
    method: req.method,
    path: req.path,
    query: req.originalUrl.includes('?') ? req.originalUrl.split('?').slice(1).join('?') : '',
    headers: { 'x-fc-base-path': req.get('x-fc-base-path'), 'content-type': req.get('content-type') },
    bodyLength: Buffer.isBuffer(req.body) ? req.body.length : 0,
  });
  log(req, 'End');
});

const port = Number(process.env.FC_SERVER_PORT || process.env.FC_CUSTOM_LISTEN_PORT || 9000);
const server = app.listen(port, '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));

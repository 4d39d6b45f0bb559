#!/usr/bin/env node
/* flow.js — drives fcd with the official Node.js SDK for FC 2.0,
 * @alicloud/fc2 2.6.6, used unchanged (CONTRACT.md §8.1). Run by
 * tests/e2e/test_sdk.py; also by hand:
 *
 *   (cd tests/e2e/sdk && npm install --no-audit --no-fund)
 *   FC_ENDPOINT=http://127.0.0.1:8000 FC_ACCESS_KEY_ID=... FC_ACCESS_KEY_SECRET=... \
 *   CODE_ZIP=/tmp/node.zip node tests/e2e/sdk/flow.js
 *
 * Environment:
 *   FC_ENDPOINT           fcd's base URL (http://127.0.0.1:PORT)
 *   FC_ACCESS_KEY_ID      a key fcd knows (--access-key ID:SECRET)
 *   FC_ACCESS_KEY_SECRET  its secret
 *   FC_ACCOUNT_ID         sent as x-fc-account-id (default 1234567890123456)
 *   CODE_ZIP              (mode "flow") path of a zip of examples/node
 *   FC_SERVICE, FC_FUNCTION, FC_TRIGGER   names (defaults sdk-svc, sdk-fn, sdk-http)
 *   FC_EXISTING_SERVICE, FC_EXISTING_FUNCTION  (mode "errors") a function fcd
 *                         has from its configuration (default "default"/"c")
 *   FLOW_MODE             "flow" (default): the full life cycle of a service;
 *                         "errors": the FC errors the SDK must surface
 *   FLOW_TIMEOUT_MS       the SDK's per-request timeout (default 30000)
 *   FLOW_WAIT_MS          bound on each poll for an async result (default 20000)
 *
 * Output: one JSON line per step, {"step": ..., "ok": true, ...}. The first
 * failed step prints {"step": ..., "ok": false, "error": ..., "code": ...,
 * "status": ...} and the script exits 1 (2 for a setup problem). Statuses
 * come from Node's own http client (diagnostics_channel), since the SDK
 * returns only headers and data. */
'use strict';

const assert = require('assert');
const dc = require('diagnostics_channel');
const fs = require('fs');
const http = require('http');

let FC;
try {
  FC = require('@alicloud/fc2');
} catch (e) {
  console.log(JSON.stringify({ step: 'setup', ok: false,
    error: '@alicloud/fc2 is not installed: run `npm install` in tests/e2e/sdk (make deps)' }));
  process.exit(2);
}

const env = process.env;
const ENDPOINT = env.FC_ENDPOINT;
const AK = env.FC_ACCESS_KEY_ID;
const SECRET = env.FC_ACCESS_KEY_SECRET;
const ACCOUNT = env.FC_ACCOUNT_ID || '1234567890123456';
const SVC = env.FC_SERVICE || 'sdk-svc';
const FN = env.FC_FUNCTION || 'sdk-fn';
const TRIGGER = env.FC_TRIGGER || 'sdk-http';
const TIMEOUT_MS = Number(env.FLOW_TIMEOUT_MS || 30000);
const WAIT_MS = Number(env.FLOW_WAIT_MS || 20000);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// The status of the last response Node's http client received.
let lastStatus = null;
dc.subscribe('http.client.response.finish', (m) => { lastStatus = m.response.statusCode; });

function client(ak = AK, secret = SECRET) {
  return new FC(ACCOUNT, { accessKeyID: ak, accessKeySecret: secret, region: 'cn-local',
    endpoint: ENDPOINT, timeout: TIMEOUT_MS });
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Runs one step: fn returns extra fields for the step's line (or nothing).
async function step(name, fn) {
  lastStatus = null;
  let extra;
  try {
    extra = await fn();
  } catch (e) {
    emit({ step: name, ok: false, error: String(e && e.stack || e), code: e && e.code,
      name: e && e.name, status: lastStatus });
    process.exit(1);
  }
  emit(Object.assign({ step: name, ok: true }, extra || {}));
}

// The FC error a call must fail with: {code, status, message}.
async function expectError(promise, code, status) {
  lastStatus = null;
  let err = null;
  try {
    const r = await promise;
    assert.fail(`expected ${code} (${status}), got success: ${JSON.stringify(r && r.data)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  const m = /failed with (\d+)\. requestid: ([^,]*), message: /.exec(err.message);
  assert.ok(m, `not an FC error: ${err.stack}`);
  const got = { code: err.code, status: Number(m[1]), requestId: m[2], message: err.message };
  if (code !== undefined) {
    assert.strictEqual(err.code, code, err.message);
    assert.strictEqual(err.name, `FC${code}Error`, err.message);
  }
  if (status !== undefined) assert.strictEqual(got.status, status, err.message);
  assert.strictEqual(lastStatus, got.status);
  assert.match(got.requestId, UUID_RE, err.message);
  return got;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Polls the async record of request id rid (CONTRACT.md §5.6, through the
// SDK's generic signed GET) until it reaches a final state or WAIT_MS pass.
async function waitTask(c, svc, fn, rid) {
  const deadline = Date.now() + WAIT_MS;
  let last = null;
  for (;;) {
    try {
      const path = `/services/${svc}/functions/${fn}/stateful-async-invocations/${rid}`;
      last = (await c.get(path)).data;
      if (['Succeeded', 'Failed', 'Stopped', 'Expired'].includes(last.status)) return last;
    } catch (e) {
      if (e.code !== 'StatefulAsyncInvocationNotFound') throw e;
    }
    if (Date.now() > deadline)
      assert.fail(`task ${rid} not final after ${WAIT_MS} ms: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

// A plain Node http request (no SDK, no signature): {status, headers, body}.
function plain(method, path, body) {
  const url = new URL(ENDPOINT);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path,
      headers: body ? { 'content-type': 'application/json' } : {}, timeout: TIMEOUT_MS }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

function isoTime(s) {
  assert.ok(typeof s === 'string' && !Number.isNaN(Date.parse(s)), `not a time: ${s}`);
}

async function flow() {
  assert.ok(env.CODE_ZIP, 'CODE_ZIP is not set');
  const zipFile = fs.readFileSync(env.CODE_ZIP).toString('base64');
  const c = client();
  const proxyBase = `/2016-08-15/proxy/${SVC}/${FN}`;

  await step('auth_is_on', async () => {
    const r = await plain('GET', '/2016-08-15/services');
    assert.strictEqual(r.status, 403, r.body);
    return { code: JSON.parse(r.body).ErrorCode };
  });

  await step('createService', async () => {
    const { data } = await c.createService(SVC, { description: 'fcd e2e via @alicloud/fc2' });
    assert.strictEqual(data.serviceName, SVC);
    assert.strictEqual(data.description, 'fcd e2e via @alicloud/fc2');
    assert.ok(data.serviceId, JSON.stringify(data));
    isoTime(data.createdTime);
    isoTime(data.lastModifiedTime);
    return { status: lastStatus, serviceId: data.serviceId };
  });

  await step('createFunction', async () => {
    const { headers, data } = await c.createFunction(SVC, {
      functionName: FN, runtime: 'custom', handler: 'index.handler', code: { zipFile },
      caPort: 9000, timeout: 10, memorySize: 256,
      environmentVariables: { GREETING: 'hello-from-sdk' },
    });
    assert.strictEqual(data.functionName, FN);
    assert.strictEqual(data.runtime, 'custom');
    assert.strictEqual(data.handler, 'index.handler');
    assert.strictEqual(data.caPort, 9000);
    assert.strictEqual(data.timeout, 10);
    assert.strictEqual(data.memorySize, 256);
    assert.deepStrictEqual(data.environmentVariables, { GREETING: 'hello-from-sdk' });
    assert.ok(data.functionId, JSON.stringify(data));
    assert.ok(data.codeSize > 0, JSON.stringify(data));
    assert.ok(data.codeChecksum, JSON.stringify(data));
    isoTime(data.createdTime);
    assert.ok(headers.etag, `no ETag: ${JSON.stringify(headers)}`);
    assert.ok(!('code' in data) || !data.code || !data.code.zipFile, 'the zip is echoed back');
    return { status: lastStatus, codeSize: data.codeSize, codeChecksum: data.codeChecksum };
  });

  await step('createTrigger', async () => {
    const { data } = await c.createTrigger(SVC, FN, {
      triggerName: TRIGGER, triggerType: 'http',
      triggerConfig: { authType: 'anonymous', methods: ['GET', 'POST'] },
    });
    assert.strictEqual(data.triggerName, TRIGGER);
    assert.strictEqual(data.triggerType, 'http');
    assert.strictEqual(typeof data.triggerConfig, 'object', JSON.stringify(data));
    assert.strictEqual(data.triggerConfig.authType, 'anonymous');
    assert.deepStrictEqual([...data.triggerConfig.methods].sort(), ['GET', 'POST']);
    isoTime(data.createdTime);
    return { status: lastStatus };
  });

  await step('invokeFunction_sync_tail', async () => {
    const { headers, data } = await c.invokeFunction(SVC, FN, 'log:sdk-tail-marker',
      { 'x-fc-log-type': 'Tail' });
    assert.strictEqual(lastStatus, 200);
    assert.strictEqual(data, 'hello, log:sdk-tail-marker');
    const rid = headers['x-fc-request-id'];
    assert.match(rid, UUID_RE);
    assert.ok(!headers['x-fc-error-type'], JSON.stringify(headers));
    assert.ok(headers['x-fc-log-result'], `no x-fc-log-result: ${JSON.stringify(headers)}`);
    const log = Buffer.from(headers['x-fc-log-result'], 'base64').toString();
    assert.ok(log.includes(`FC Invoke Start RequestId: ${rid}`), log);
    assert.ok(log.includes(`FC Invoke End RequestId: ${rid}`), log);
    assert.ok(log.includes('sdk-tail-marker'), log);
    assert.match(log, new RegExp('Duration: [\\d.]+ ms, Billed Duration: \\d+ ms, ' +
      'Memory Size: 256 MB, Max Memory Used: [\\d.]+ MB'));
    return { requestId: rid, logBytes: log.length };
  });

  await step('invokeFunction_env', async () => {
    const { data } = await c.invokeFunction(SVC, FN, 'env:GREETING');
    assert.strictEqual(data, 'hello-from-sdk');
    return {};
  });

  await step('invokeFunction_function_error', async () => {
    // A function failure is a 200 with X-Fc-Error-Type (CONTRACT.md §2.3).
    const { headers, data } = await c.invokeFunction(SVC, FN, 'fail');
    assert.strictEqual(lastStatus, 200);
    assert.strictEqual(headers['x-fc-error-type'], 'UnhandledInvocationError');
    assert.deepStrictEqual(data, { errorMessage: 'requested failure' });
    return {};
  });

  await step('invokeFunction_async', async () => {
    const { headers, data } = await c.invokeFunction(SVC, FN, 'async-event',
      { 'x-fc-invocation-type': 'Async' });
    assert.strictEqual(lastStatus, 202);
    assert.strictEqual(data, '');
    const rid = headers['x-fc-request-id'];
    assert.match(rid, UUID_RE);
    const task = await waitTask(c, SVC, FN, rid);
    assert.strictEqual(task.status, 'Succeeded', JSON.stringify(task));
    assert.strictEqual(task.returnPayload, 'hello, async-event', JSON.stringify(task));
    return { requestId: rid };
  });

  await step('invokeFunction_async_task', async () => {
    const id = `sdk_task_${Date.now()}`;
    const { headers } = await c.invokeFunction(SVC, FN, 'task-event', {
      'x-fc-invocation-type': 'Async', 'x-fc-stateful-async-invocation-id': id });
    assert.strictEqual(lastStatus, 202);
    assert.strictEqual(headers['x-fc-stateful-async-invocation-id'], id);
    const task = await waitTask(c, SVC, FN, id);
    assert.strictEqual(task.status, 'Succeeded', JSON.stringify(task));
    assert.strictEqual(task.invocationId, id);
    assert.strictEqual(task.returnPayload, 'hello, task-event');
    const list = (await c.get(`/services/${SVC}/functions/${FN}/stateful-async-invocations`,
      { invocationIdPrefix: 'sdk_task_' })).data;
    assert.deepStrictEqual(list.invocations.map((t) => t.invocationId), [id]);
    return { taskId: id };
  });

  await step('listServices', async () => {
    const { data } = await c.listServices({ prefix: 'sdk-' });
    assert.ok(Array.isArray(data.services), JSON.stringify(data));
    const names = data.services.map((s) => s.serviceName);
    assert.ok(names.includes(SVC), JSON.stringify(names));
    assert.ok(names.every((n) => n.startsWith('sdk-')), JSON.stringify(names));
    return { services: names };
  });

  await step('listFunctions', async () => {
    const { data } = await c.listFunctions(SVC);
    assert.deepStrictEqual(data.functions.map((f) => f.functionName), [FN]);
    return {};
  });

  await step('listTriggers', async () => {
    const { data } = await c.listTriggers(SVC, FN);
    assert.deepStrictEqual(data.triggers.map((t) => t.triggerName), [TRIGGER]);
    assert.strictEqual(typeof data.triggers[0].triggerConfig, 'object');
    return {};
  });

  await step('getService', async () => {
    const { data } = await c.getService(SVC);
    assert.strictEqual(data.serviceName, SVC);
    assert.strictEqual(data.description, 'fcd e2e via @alicloud/fc2');
    return {};
  });

  await step('getFunction', async () => {
    const { data } = await c.getFunction(SVC, FN);
    assert.strictEqual(data.functionName, FN);
    assert.strictEqual(data.runtime, 'custom');
    assert.strictEqual(data.timeout, 10);
    assert.strictEqual(data.caPort, 9000);
    return {};
  });

  await step('getTrigger', async () => {
    const { data } = await c.getTrigger(SVC, FN, TRIGGER);
    assert.strictEqual(data.triggerName, TRIGGER);
    assert.strictEqual(data.triggerConfig.authType, 'anonymous');
    return {};
  });

  await step('updateFunction', async () => {
    const { headers, data } = await c.updateFunction(SVC, FN, {
      environmentVariables: { GREETING: 'changed-by-sdk' }, timeout: 20 });
    assert.strictEqual(data.timeout, 20);
    assert.deepStrictEqual(data.environmentVariables, { GREETING: 'changed-by-sdk' });
    // PUT changes only what it names (FC semantics).
    assert.strictEqual(data.runtime, 'custom');
    assert.strictEqual(data.memorySize, 256);
    assert.strictEqual(data.caPort, 9000);
    assert.ok(headers.etag);
    return {};
  });

  await step('invoke_after_update', async () => {
    const { data } = await c.invokeFunction(SVC, FN, 'env:GREETING');
    assert.strictEqual(data, 'changed-by-sdk');
    const got = (await c.getFunction(SVC, FN)).data;
    assert.strictEqual(got.timeout, 20);
    return {};
  });

  await step('updateService', async () => {
    const { data } = await c.updateService(SVC, { description: 'updated by sdk' });
    assert.strictEqual(data.description, 'updated by sdk');
    const got = (await c.getService(SVC)).data;
    assert.strictEqual(got.description, 'updated by sdk');
    return {};
  });

  await step('putFunctionAsyncConfig', async () => {
    const { data } = await c.putFunctionAsyncConfig(SVC, FN, null,
      { maxAsyncRetryAttempts: 1, maxAsyncEventAgeInSeconds: 300 });
    assert.strictEqual(data.maxAsyncRetryAttempts, 1);
    assert.strictEqual(data.maxAsyncEventAgeInSeconds, 300);
    assert.strictEqual(data.service, SVC);
    assert.strictEqual(data.function, FN);
    return {};
  });

  await step('getFunctionAsyncConfig', async () => {
    const { data } = await c.getFunctionAsyncConfig(SVC, FN, null);
    assert.strictEqual(data.maxAsyncRetryAttempts, 1);
    assert.strictEqual(data.maxAsyncEventAgeInSeconds, 300);
    return {};
  });

  await step('listFunctionAsyncConfigs', async () => {
    const { data } = await c.listFunctionAsyncConfigs(SVC, FN);
    assert.strictEqual(data.configs.length, 1, JSON.stringify(data));
    assert.strictEqual(data.configs[0].maxAsyncRetryAttempts, 1);
    return {};
  });

  await step('deleteFunctionAsyncConfig', async () => {
    await c.deleteFunctionAsyncConfig(SVC, FN, null);
    assert.ok(lastStatus === 204 || lastStatus === 200, String(lastStatus));
    const e = await expectError(c.getFunctionAsyncConfig(SVC, FN, null),
      'AsyncConfigNotExists', 404);
    return { after: e.code };
  });

  await step('http_trigger_sdk_get', async () => {
    const { data } = await c.get(`/proxy/${SVC}/${FN}/echo/path`, { q: 'x' });
    assert.strictEqual(lastStatus, 200);
    assert.strictEqual(data.method, 'GET');
    assert.strictEqual(data.path, `${proxyBase}/echo/path`);
    assert.strictEqual(data.query, 'q=x');
    assert.strictEqual(data.headers['x-fc-base-path'].replace(/\/$/, ''), proxyBase);
    return {};
  });

  await step('http_trigger_sdk_post', async () => {
    const { data } = await c.post(`/proxy/${SVC}/${FN}/items`, 'twelve bytes', {}, { id: '7' });
    assert.strictEqual(data.method, 'POST');
    assert.strictEqual(data.path, `${proxyBase}/items`);
    assert.strictEqual(data.query, 'id=7');
    assert.strictEqual(data.bodyLength, 12);
    return {};
  });

  await step('http_trigger_plain_http', async () => {
    const r = await plain('GET', `${proxyBase}/plain?a=1`);
    assert.strictEqual(r.status, 200, r.body);
    const doc = JSON.parse(r.body);
    assert.strictEqual(doc.path, `${proxyBase}/plain`);
    assert.strictEqual(doc.query, 'a=1');
    const put = await plain('PUT', `${proxyBase}/plain`, '{}');
    assert.strictEqual(put.status, 403, put.body); // not in methods
    return {};
  });

  await step('updateTrigger_function_auth', async () => {
    const { data } = await c.updateTrigger(SVC, FN, TRIGGER, {
      triggerConfig: { authType: 'function', methods: ['GET', 'POST'] } });
    assert.strictEqual(data.triggerConfig.authType, 'function');
    // The SDK signs the query of /proxy/ paths (sorted lines, repeated keys).
    const got = (await c.get(`/proxy/${SVC}/${FN}/signed`, { q: 'x y', a: ['2', '1'] })).data;
    assert.strictEqual(lastStatus, 200);
    assert.strictEqual(got.path, `${proxyBase}/signed`);
    const posted = (await c.post(`/proxy/${SVC}/${FN}/signed`, 'abc', {}, { id: '7' })).data;
    assert.strictEqual(posted.bodyLength, 3);
    const r = await plain('GET', `${proxyBase}/signed?q=x`);
    assert.strictEqual(r.status, 403, r.body);
    await expectError(client(AK, 'not-the-secret').get(`/proxy/${SVC}/${FN}/signed`, { q: 'x' }),
      'SignatureNotMatch', 403);
    return { unsigned: JSON.parse(r.body).ErrorCode };
  });

  await step('deleteService_not_empty', async () => {
    const e = await expectError(c.deleteService(SVC));
    assert.ok(e.status === 409 || e.status === 400 || e.status === 412, e.message);
    await c.getService(SVC); // still there
    return { code: e.code, status: e.status };
  });

  await step('deleteFunction_with_trigger', async () => {
    const e = await expectError(c.deleteFunction(SVC, FN), 'FunctionNotEmpty');
    await c.getFunction(SVC, FN); // still there
    return { code: e.code, status: e.status };
  });

  await step('deleteTrigger', async () => {
    await c.deleteTrigger(SVC, FN, TRIGGER);
    assert.strictEqual(lastStatus, 204);
    await expectError(c.getTrigger(SVC, FN, TRIGGER), 'TriggerNotFound', 404);
    const r = await plain('GET', `${proxyBase}/gone`);
    assert.strictEqual(r.status, 404, r.body);
    return {};
  });

  await step('deleteFunction', async () => {
    await c.deleteFunction(SVC, FN);
    assert.strictEqual(lastStatus, 204);
    await expectError(c.getFunction(SVC, FN), 'FunctionNotFound', 404);
    await expectError(c.invokeFunction(SVC, FN, 'x'), 'FunctionNotFound', 404);
    return {};
  });

  await step('deleteService', async () => {
    await c.deleteService(SVC);
    assert.strictEqual(lastStatus, 204);
    const e = await expectError(c.getService(SVC), 'ServiceNotFound', 404);
    const names = (await c.listServices()).data.services.map((s) => s.serviceName);
    assert.ok(!names.includes(SVC), JSON.stringify(names));
    return { after: e.code };
  });
}

async function errors() {
  const svc = env.FC_EXISTING_SERVICE || 'default';
  const fn = env.FC_EXISTING_FUNCTION || 'c';

  await step('signed_invoke_ok', async () => {
    const { data } = await client().invokeFunction(svc, fn, 'sdk');
    assert.strictEqual(data, 'hello, sdk');
    return {};
  });

  await step('wrong_secret_invoke', async () => {
    const e = await expectError(client(AK, 'not-the-secret').invokeFunction(svc, fn, 'x'),
      'SignatureNotMatch', 403);
    return { message: e.message };
  });

  await step('unknown_key_invoke', async () => {
    await expectError(client('AKIDunknown', SECRET).invokeFunction(svc, fn, 'x'),
      'InvalidAccessKeyID', 403);
    return {};
  });

  await step('invoke_missing_function', async () => {
    await expectError(client().invokeFunction(svc, 'no-such-fn', 'x'), 'FunctionNotFound', 404);
    return {};
  });

  await step('wrong_secret_api', async () => {
    const e = await expectError(client(AK, SECRET + 'x').listServices(), 'SignatureNotMatch', 403);
    return { message: e.message };
  });

  await step('unknown_key_api', async () => {
    const e = await expectError(client('AKIDunknown', SECRET).getService(svc),
      'InvalidAccessKeyID', 403);
    assert.ok(e.message.includes('AKIDunknown'), e.message);
    return { message: e.message };
  });

  await step('getFunction_missing', async () => {
    const c = client();
    await c.createService(SVC, {});
    const e = await expectError(c.getFunction(SVC, 'no-such-fn'), 'FunctionNotFound', 404);
    await expectError(c.getFunction('no-such-svc', 'no-such-fn'), 'ServiceNotFound', 404);
    await c.deleteService(SVC);
    return { message: e.message };
  });
}

const MODES = { flow, errors };

(async () => {
  if (!ENDPOINT || !AK || !SECRET) {
    emit({ step: 'setup', ok: false,
      error: 'FC_ENDPOINT, FC_ACCESS_KEY_ID and FC_ACCESS_KEY_SECRET are required' });
    process.exit(2);
  }
  const mode = env.FLOW_MODE || 'flow';
  if (!MODES[mode]) {
    emit({ step: 'setup', ok: false, error: `unknown FLOW_MODE ${mode}` });
    process.exit(2);
  }
  await MODES[mode]();
  emit({ step: 'done', ok: true, mode });
})().catch((e) => {
  emit({ step: 'unexpected', ok: false, error: String(e && e.stack || e) });
  process.exit(1);
});

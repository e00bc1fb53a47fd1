'use strict';
// The local S3-compatible server the tests use: s3rver (npm) behind a small
// front that checks every request's AWS Signature Version 4, which s3rver
// itself does not (its V4 check is a stub that accepts any signature).
//
//   node --openssl-legacy-provider ci/s3/server.js DATADIR [--bucket NAME]...
//        [--tls CERT.pem KEY.pem]
//
// With --tls the front speaks HTTPS (node's https, the certificate and key
// given, e.g. a self-signed one the TLS test makes with openssl) and still
// listens on 127.0.0.1 only.
// (s3rver makes its ListObjectsV2 continuation tokens with DES, which
// OpenSSL 3 keeps in its legacy provider.)
// Both listen on 127.0.0.1 at ports the kernel picks; the front's port is
// printed on stdout as one line, "port N", once both are listening. The
// front accepts the header form of SigV4 (Authorization:
// AWS4-HMAC-SHA256 ...) with the credentials in SF_S3_ACCESS_KEY and
// SF_S3_SECRET_KEY (defaults below), checks x-amz-content-sha256 against
// the body unless it is UNSIGNED-PAYLOAD, and refuses anything else with
// S3's own error XML (InvalidAccessKeyId, SignatureDoesNotMatch,
// AccessDenied, XAmzContentSHA256Mismatch, RequestTimeTooSkewed). A request
// that passes is forwarded to s3rver with its Authorization removed.
//
// Faults for the retry tests: when SF_S3_FAULTS names a file holding
// "N STATUS" (e.g. "2 503"), the next N requests are answered with STATUS
// (503 SlowDown, 500 InternalError, 429 SlowDown, 403 AccessDenied, which
// is not retried) or, for STATUS 0, have their connection dropped; the
// file is rewritten with the count left. "N STATUS TEXT" takes only
// requests whose URL holds TEXT (e.g. "partNumber=3&").
// When "<SF_S3_FAULTS>.delay" holds a number of milliseconds, every request
// waits that long first (to kill a client in the middle of an upload); a
// request whose client has gone by then is dropped, not passed on.
// When SF_S3_LOG names a file, each request appends "METHOD URL STATUS
// INFLIGHT", INFLIGHT the number of requests the front held when this one
// arrived, itself included (the tests of push --jobs read it).
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const S3rver = require('s3rver');

const ACCESS_KEY = process.env.SF_S3_ACCESS_KEY || 'snapfleet-test';
const SECRET_KEY = process.env.SF_S3_SECRET_KEY || 'snapfleet-test-secret';
const MAX_SKEW_MS = 15 * 60 * 1000;

function xmlError(res, status, code, message) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code +
    '</Code><Message>' + message + '</Message><RequestId>0</RequestId></Error>';
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~.
function uriEncode(s, keepSlash) {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function canonicalQuery(raw) {
  if (!raw) return '';
  const pairs = raw.split('&').filter(p => p.length > 0).map(p => {
    const i = p.indexOf('=');
    const k = decodeURIComponent((i < 0 ? p : p.slice(0, i)).replace(/\+/g, '%20'));
    const v = i < 0 ? '' : decodeURIComponent(p.slice(i + 1).replace(/\+/g, '%20'));
    return [uriEncode(k, false), uriEncode(v, false)];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => k + '=' + v).join('&');
}

function hmac(key, data) { return crypto.createHmac('sha256', key).update(data).digest(); }
function sha256hex(data) { return crypto.createHash('sha256').update(data).digest('hex'); }

// Returns null when the request's signature holds, else [status, code, message].
function verify(req, body) {
  const auth = req.headers['authorization'];
  if (!auth) return [403, 'AccessDenied', 'Anonymous access is not allowed by this server'];
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed'];
  const [, keyId, day, region, signedHeaders, signature] = m;
  if (keyId !== ACCESS_KEY) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== day)
    return [403, 'AccessDenied', 'x-amz-date is missing or does not match the credential scope'];
  const when = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8),
    +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(Date.now() - when) > MAX_SKEW_MS)
    return [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'];
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash) return [400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256'];
  if (payloadHash !== 'UNSIGNED-PAYLOAD') {
    if (!/^[0-9a-f]{64}$/.test(payloadHash)) return [400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256'];
    if (sha256hex(body) !== payloadHash)
      return [400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."];
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') || !names.includes('x-amz-content-sha256'))
    return [403, 'AccessDenied', 'host, x-amz-date and x-amz-content-sha256 must be signed'];
  const missing = names.filter(n => req.headers[n] === undefined);
  if (missing.length > 0) return [403, 'AccessDenied', 'signed header ' + missing[0] + ' is missing'];
  const headerLines = names.map(n => {
    const v = req.headers[n];
    return n + ':' + String(Array.isArray(v) ? v.join(',') : v).trim().replace(/\s+/g, ' ');
  });
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const path = uriEncode(decodeURIComponent(rawPath), true);
  const canonical = [req.method, path, canonicalQuery(q < 0 ? '' : req.url.slice(q + 1)),
    headerLines.join('\n') + '\n', signedHeaders, payloadHash].join('\n');
  const scope = day + '/' + region + '/s3/aws4_request';
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + SECRET_KEY, day), region), 's3'), 'aws4_request');
  const want = hmac(key, toSign).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want), Buffer.from(signature)))
    return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  return null;
}

// Takes one fault from the faults file, if any: returns the status or null.
function takeFault(url) {
  const file = process.env.SF_S3_FAULTS;
  if (!file) return null;
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { return null; }
  const m = /^(\d+) (\d+)(?: (\S+))?/.exec(text);
  if (!m || +m[1] <= 0) return null;
  if (m[3] !== undefined && !url.includes(m[3])) return null;
  fs.writeFileSync(file, (+m[1] - 1) + ' ' + m[2] + (m[3] !== undefined ? ' ' + m[3] : '') + '\n');
  return +m[2];
}

const FAULT_CODES = {
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  403: ['AccessDenied', 'Access Denied'],
};

function readDelay() {
  const file = process.env.SF_S3_FAULTS;
  if (!file) return 0;
  try { return parseInt(fs.readFileSync(file + '.delay', 'utf8'), 10) || 0; } catch (e) { return 0; }
}

async function main() {
  const args = process.argv.slice(2);
  const dir = args[0];
  if (!dir) { console.error('usage: node server.js DATADIR [--bucket NAME]...'); process.exit(2); }
  const buckets = [];
  let tls = null;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '--bucket' && i + 1 < args.length) buckets.push({ name: args[++i] });
    else if (args[i] === '--tls' && i + 2 < args.length) {
      tls = { cert: fs.readFileSync(args[i + 1]), key: fs.readFileSync(args[i + 2]) };
      i += 2;
    } else { console.error('server.js: unknown argument ' + args[i]); process.exit(2); }
  }
  const backend = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir,
    serviceEndpoint: 'localhost', configureBuckets: buckets });
  const { port: backendPort } = await backend.run();

  const handler = (req, res) => {
    const chunks = [];
    let gone = false;
    res.on('close', () => { if (!res.writableFinished) gone = true; });
    req.on('data', c => chunks.push(c));
    req.on('end', async () => {
      const delay = readDelay();
      if (delay > 0) await new Promise(done => setTimeout(done, delay));
      // A client that went away while its request waited (a push killed in
      // the middle of an upload) is not acted for. s3rver writes a part file
      // in place, so a dead client's stale copy of a part landing while the
      // resumed push completes the upload would be read half-written; S3
      // itself replaces a part atomically, which makes such a copy harmless.
      if (gone || req.socket.destroyed) return;
      const body = Buffer.concat(chunks);
      const fault = takeFault(req.url);
      if (fault === 0) { req.socket.destroy(); return; }
      if (fault !== null) {
        const [code, message] = FAULT_CODES[fault] || ['SlowDown', 'Please reduce your request rate.'];
        return xmlError(res, fault, code, message);
      }
      const bad = verify(req, body);
      if (bad) return xmlError(res, bad[0], bad[1], bad[2]);
      const headers = Object.assign({}, req.headers);
      delete headers['authorization'];
      headers['content-length'] = String(body.length);
      delete headers['transfer-encoding'];
      delete headers['expect'];
      const up = http.request({ host: '127.0.0.1', port: backendPort, method: req.method,
        path: req.url, headers }, upRes => {
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', e => xmlError(res, 502, 'InternalError', 'backend: ' + e.message));
      up.end(body);
    });
  };
  const front = tls ? https.createServer(tls, handler) : http.createServer(handler);
  let inflight = 0;
  front.on('request', (req, res) => {
    const at = ++inflight;
    let over = false;
    const done = () => { if (!over) { over = true; inflight--; } };
    res.on('close', done);
    res.on('finish', () => {
      done();
      if (process.env.SF_S3_LOG)
        fs.appendFileSync(process.env.SF_S3_LOG, req.method + ' ' + req.url + ' ' + res.statusCode + ' ' + at + '\n');
    });
  });
  front.listen(0, '127.0.0.1', () => {
    process.stdout.write('port ' + front.address().port + '\n');
  });
  const stop = () => { front.close(); backend.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(e => { console.error('s3 server: ' + e.message); process.exit(1); });

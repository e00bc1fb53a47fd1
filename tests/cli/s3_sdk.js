'use strict';
// Interoperability with the official AWS SDK for JavaScript
// (@aws-sdk/client-s3, from ci/s3/node_modules), against the local server:
//
//   node s3_sdk.js read ENDPOINT BUCKET PREFIX NAME LOCALDIR
//       the SDK lists what snapfleet pushed, reads the manifest (it must be
//       LOCALDIR's byte for byte) and every blob the objects index names
//       (each must hash to its name); prints "sdk read N blobs".
//   node s3_sdk.js upload ENDPOINT BUCKET FROM TO NAME
//       the SDK uploads backup NAME again under prefix TO, from the bytes
//       under FROM: blobs, documents, the manifest last; prints "sdk
//       uploaded N objects". snapfleet then pulls it from TO.
//
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as the SDK reads them.
const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const { S3Client, ListObjectsV2Command, GetObjectCommand, PutObjectCommand } =
  require(path.join(__dirname, '../../ci/s3/node_modules/@aws-sdk/client-s3'));

const [, , mode, endpoint, bucket, a, b, c] = process.argv;
const client = new S3Client({
  endpoint, region: 'us-east-1', forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
});

async function get(key) {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body.transformToByteArray());
}

async function list(prefix) {
  const keys = [];
  let token;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix,
      ContinuationToken: token, MaxKeys: 3 }));
    for (const o of r.Contents || []) keys.push(o.Key);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

function blobsOf(index) {
  const names = new Set();
  for (const art of index.artifacts) for (const f of art.files) names.add(f.sha256);
  return [...names];
}

async function read(prefix, name, localDir) {
  const base = prefix + '/backups/' + name + '/';
  const keys = await list(base);
  if (!keys.includes(base + 'fleet-backup-manifest.json')) throw new Error('no manifest listed under ' + base);
  const manifest = await get(base + 'fleet-backup-manifest.json');
  if (!manifest.equals(fs.readFileSync(path.join(localDir, 'fleet-backup-manifest.json'))))
    throw new Error('the manifest the SDK read differs from the local one');
  const index = JSON.parse((await get(base + 'snapfleet-objects.json')).toString('utf8'));
  const blobs = blobsOf(index);
  for (const sha of blobs) {
    const bytes = await get(prefix + '/blobs/sha256-' + sha);
    const got = crypto.createHash('sha256').update(bytes).digest('hex');
    if (got !== sha) throw new Error('blob ' + sha + ' hashes to ' + got);
  }
  console.log('sdk read ' + blobs.length + ' blobs');
}

async function upload(from, to, name) {
  const base = from + '/backups/' + name + '/';
  const index = JSON.parse((await get(base + 'snapfleet-objects.json')).toString('utf8'));
  let n = 0;
  const put = async (key, body) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    n++;
  };
  for (const sha of blobsOf(index)) await put(to + '/blobs/sha256-' + sha, await get(from + '/blobs/sha256-' + sha));
  const docs = ['snapfleet-objects.json', ...index.documents];
  for (const d of docs) await put(to + '/backups/' + name + '/' + d, await get(base + d));
  await put(to + '/backups/' + name + '/fleet-backup-manifest.json', await get(base + 'fleet-backup-manifest.json'));
  console.log('sdk uploaded ' + n + ' objects');
}

(mode === 'read' ? read(a, b, c) : mode === 'upload' ? upload(a, b, c) : Promise.reject(new Error('mode?')))
  .catch(e => { console.error('s3_sdk: ' + (e.Code || e.name) + ': ' + e.message); process.exit(1); });

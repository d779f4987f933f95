#!/usr/bin/env node
// Stand-in for the national government-service platform IdP (国家政务服务平台统一身份认证),
// built on the certified OpenID Provider `oidc-provider@9`. Test peer only: in-memory state,
// ephemeral signing key, one confidential client, one or more fixed citizen accounts.
//
// Usage:
//   node tests/peers/national_idp.mjs [PORT] [CONFIG_JSON | @config.json]
//   PORT 0 (the default) picks a free port. Once listening it prints exactly one line to stdout:
//     READY http://127.0.0.1:<port>
//   Everything else (warnings, errors) goes to stderr. SIGTERM / SIGINT stop it.
//
// Configuration (JSON argument wins over environment, environment over defaults):
//   {
//     "host": "127.0.0.1",                      IDP_HOST (loopback only unless IDP_ALLOW_NON_LOOPBACK=1)
//     "port": 0,                                IDP_PORT
//     "client": {
//       "client_id": "ywt-rp",                  IDP_CLIENT_ID
//       "client_secret": "...",                 IDP_CLIENT_SECRET
//       "redirect_uris": ["http://127.0.0.1:8000/oidc/callback"],   IDP_REDIRECT_URIS (space or comma separated)
//       "token_endpoint_auth_method": "client_secret_basic"         IDP_TOKEN_AUTH_METHOD
//     },
//     "accounts": [{ "username": "citizen", "password": "...", "sub": "...", "name": "...",
//                    "id_number": "360426199101010071" }]
//       (single account from IDP_USERNAME, IDP_PASSWORD, IDP_SUB, IDP_NAME, IDP_ID_NUMBER)
//   }
//
// Claims (scope -> claims):
//   openid    -> sub
//   profile   -> name
//   id_number -> id_number (GB 11643 citizen ID number, 18 chars), id_number_verified (always true:
//                the platform has checked it against the population register)
// They are served by the userinfo endpoint (and in the ID token only when requested with the
// `claims` parameter), as the certified provider does by default.
//
// Behaviour that tests rely on:
//   * PKCE (S256) is required for every client; revocation and introspection are enabled.
//   * Refresh tokens are issued on every authorization_code grant of a client allowed the
//     refresh_token grant, without the offline_access scope.
//   * Login is a plain HTML form, driveable headless with plain HTTP and a cookie jar:
//       GET  <authorization URL>             -> 303 /interaction/<uid>   (sets _interaction cookies)
//       GET  /interaction/<uid>              -> 200 HTML: <form method="post" action="/interaction/<uid>/login">
//                                               with inputs username, password and hidden csrf
//       POST /interaction/<uid>/login        -> 303 /auth/<uid> (resume) -> 303 /interaction/<uid2> (consent)
//       GET  /interaction/<uid2> (consent)   -> 303 /auth/<uid2>  (consent is granted automatically:
//                                               the platform is first-party to the citizen)
//       GET  /auth/<uid2>                    -> 303 <redirect_uri>?code=...&state=...&iss=...
//     Wrong credentials or csrf give 401 with the form again.
import { createServer } from 'node:http';
import { createPrivateKey, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import process from 'node:process';

import Provider from 'oidc-provider';

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  client: {
    client_id: 'ywt-rp',
    client_secret: 'ywt-rp-secret-for-tests-only-0123456789',
    redirect_uris: ['http://127.0.0.1:8000/oidc/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  accounts: [
    {
      username: 'citizen',
      password: 'correct horse battery staple',
      sub: 'gjzwfw-0001',
      name: '张三',
      id_number: '360426199101010071',
    },
  ],
};

function fail(message) {
  process.stderr.write(`national_idp: ${message}\n`);
  process.exit(2);
}

function loadConfig(argv, env) {
  const config = structuredClone(DEFAULTS);
  if (env.IDP_HOST) config.host = env.IDP_HOST;
  if (env.IDP_PORT) config.port = Number(env.IDP_PORT);
  if (env.IDP_CLIENT_ID) config.client.client_id = env.IDP_CLIENT_ID;
  if (env.IDP_CLIENT_SECRET) config.client.client_secret = env.IDP_CLIENT_SECRET;
  if (env.IDP_REDIRECT_URIS) config.client.redirect_uris = env.IDP_REDIRECT_URIS.split(/[\s,]+/).filter(Boolean);
  if (env.IDP_TOKEN_AUTH_METHOD) config.client.token_endpoint_auth_method = env.IDP_TOKEN_AUTH_METHOD;
  const account = { ...config.accounts[0] };
  for (const [key, name] of [['username', 'IDP_USERNAME'], ['password', 'IDP_PASSWORD'], ['sub', 'IDP_SUB'],
    ['name', 'IDP_NAME'], ['id_number', 'IDP_ID_NUMBER']]) {
    if (env[name]) account[key] = env[name];
  }
  config.accounts = [account];

  const [portArg, jsonArg] = argv;
  if (portArg !== undefined && portArg !== '') config.port = Number(portArg);
  if (jsonArg) {
    let text = jsonArg;
    if (jsonArg.startsWith('@')) text = readFileSync(jsonArg.slice(1), 'utf8');
    let extra;
    try {
      extra = JSON.parse(text);
    } catch (err) {
      fail(`config argument is not JSON: ${err.message}`);
    }
    if (extra.host) config.host = extra.host;
    if (extra.port !== undefined) config.port = Number(extra.port);
    if (extra.client) config.client = { ...config.client, ...extra.client };
    if (extra.accounts) config.accounts = extra.accounts;
  }

  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) fail(`bad port ${config.port}`);
  const loopback = config.host === 'localhost' || config.host === '::1' || config.host.startsWith('127.');
  if (!loopback && env.IDP_ALLOW_NON_LOOPBACK !== '1') fail(`refusing to listen on non-loopback host ${config.host}`);
  if (!config.client.client_id || !config.client.client_secret) fail('client_id and client_secret are required');
  if (!Array.isArray(config.client.redirect_uris) || config.client.redirect_uris.length === 0) {
    fail('at least one redirect URI is required');
  }
  for (const acc of config.accounts) {
    for (const key of ['username', 'password', 'sub', 'name', 'id_number']) {
      if (typeof acc[key] !== 'string' || acc[key] === '') fail(`account field ${key} is required`);
    }
  }
  return config;
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

function sameSecret(a, b) {
  const x = Buffer.from(String(a), 'utf8');
  const y = Buffer.from(String(b), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readForm(req, limit = 64 * 1024) {
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new Error(`unsupported content type ${type}`);
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginPage(uid, csrf, clientId, error) {
  const err = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>国家政务服务平台 统一身份认证 (test stand-in)</title></head>
<body>
<h1>统一身份认证</h1>
<p>Client: ${escapeHtml(clientId)}</p>
${err}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
  <label>用户名 <input type="text" name="username" required></label>
  <label>密码 <input type="password" name="password" required></label>
  <button type="submit">登录</button>
</form>
</body></html>
`;
}

const config = loadConfig(process.argv.slice(2), process.env);
const accountsBySub = new Map(config.accounts.map((a) => [a.sub, a]));
const accountsByUsername = new Map(config.accounts.map((a) => [a.username, a]));
const csrfByUid = new Map();

// The key leaves generateKeyPairSync as PEM and is exported as a JWK from a KeyObject of its own:
// on Node 20, exporting the generated KeyObject itself as JWK can deadlock when a garbage
// collection during the export finalises the key-generation job, which takes the same key's
// mutex (seen here: about one start in fifteen hung before `READY`, main thread in
// ~KeyGenJob -> uv_mutex_lock under ExportJWKRsaKey).
const { privateKey: privatePem } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const privateKey = createPrivateKey(privatePem);
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: `idp-rs256-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

const providerConfig = {
  clients: [{
    client_id: config.client.client_id,
    client_secret: config.client.client_secret,
    redirect_uris: config.client.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: config.client.token_endpoint_auth_method,
  }],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    id_number: ['id_number', 'id_number_verified'],
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    claimsParameter: { enabled: true },
  },
  responseTypes: ['code'],
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(_ctx, id) {
    const account = accountsBySub.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: account.sub,
          name: account.name,
          id_number: account.id_number,
          id_number_verified: true,
        };
      },
    };
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Grant: 3600,
    Session: 3600,
    RefreshToken: 3600,
  },
};

async function handleInteraction(provider, req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean); // ['interaction', uid, ('login')?]
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session, grantId } = details;
  if (parts[1] !== uid) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('interaction mismatch');
    return;
  }

  if (req.method === 'GET' && parts.length === 2) {
    if (prompt.name === 'login') {
      const csrf = randomBytes(16).toString('base64url');
      csrfByUid.set(uid, csrf);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(uid, csrf, params.client_id));
      return;
    }
    if (prompt.name === 'consent') {
      // First-party platform: grant what the client asked for without a consent screen.
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      if (missing.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      const savedId = await grant.save();
      const result = grantId ? {} : { consent: { grantId: savedId } };
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
      return;
    }
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`unsupported prompt ${prompt.name}`);
    return;
  }

  if (req.method === 'POST' && parts.length === 3 && parts[2] === 'login') {
    const form = await readForm(req);
    const expectedCsrf = csrfByUid.get(uid);
    const account = accountsByUsername.get(form.get('username') || '');
    const csrfOk = expectedCsrf !== undefined && sameSecret(form.get('csrf') || '', expectedCsrf);
    if (!csrfOk || !account || !sameSecret(form.get('password') || '', account.password)) {
      const csrf = randomBytes(16).toString('base64url');
      csrfByUid.set(uid, csrf);
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(uid, csrf, params.client_id, csrfOk ? '用户名或密码错误 (bad credentials)' : 'csrf check failed'));
      return;
    }
    csrfByUid.delete(uid);
    await provider.interactionFinished(req, res, {
      login: { accountId: account.sub, amr: ['pwd'], acr: 'urn:gjzwfw:loa:password' },
    }, { mergeWithLastSubmission: false });
    return;
  }

  res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('method not allowed');
}

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, config.host, resolve);
});
const { port } = server.address();
const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
const issuer = `http://${hostForUrl}:${port}`;

const provider = new Provider(issuer, providerConfig);
for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'revocation.error',
  'introspection.error']) {
  provider.on(event, (_ctx, err) => process.stderr.write(`national_idp: ${event}: ${err?.message ?? err}\n`));
}
const callback = provider.callback();

server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/interaction/')) {
    handleInteraction(provider, req, res, url).catch((err) => {
      process.stderr.write(`national_idp: interaction error: ${err?.stack ?? err}\n`);
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`interaction error: ${err?.message ?? err}`);
    });
    return;
  }
  callback(req, res);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`READY ${issuer}\n`);

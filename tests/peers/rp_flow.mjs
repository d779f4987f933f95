#!/usr/bin/env node
// A full OpenID Connect relying-party flow driven by the certified RP library `openid-client@6`,
// against any provider whose login is an HTML form. Used to judge our own provider (and, in the
// self-test, the national_idp.mjs stand-in) with an implementation we did not write.
//
// Usage:
//   node tests/peers/rp_flow.mjs <ISSUER_URL> [OPTIONS_JSON | @options.json]
//
// Options (JSON argument wins over environment):
//   client_id        RP_CLIENT_ID        (required)
//   client_secret    RP_CLIENT_SECRET    (required)
//   redirect_uri     RP_REDIRECT_URI     (required; never fetched: the flow stops at it)
//   scope            RP_SCOPE            default "openid profile id_number"
//   auth_method      RP_AUTH_METHOD      client_secret_basic (default) | client_secret_post | none (public client:
//                                       no secret, PKCE only)
//   username         RP_USERNAME         value typed into the username field
//   password         RP_PASSWORD         value typed into the password field
//   username_field   RP_USERNAME_FIELD   default "username"
//   password_field   RP_PASSWORD_FIELD   default "password"
//   extra_fields     RP_EXTRA_FIELDS     JSON object of further field name -> value to set in forms
//   max_forms        RP_MAX_FORMS        forms the flow may submit (default 3: login, consent, ...)
//   max_steps        RP_MAX_STEPS        HTTP requests the browser part may make (default 25)
//   non_repudiation  RP_NON_REPUDIATION  "1" (default): also verify ID token JWS signatures
//
// Steps: discovery (allowInsecureRequests for http:, loopback only) -> buildAuthorizationUrl with
// PKCE S256, state and nonce -> a small cookie-jar "browser" follows redirects and submits the first
// <form> of each HTML page (all its inputs, hidden ones such as csrf tokens included, with the
// username/password fields filled) until a redirect reaches redirect_uri -> authorizationCodeGrant
// (the library checks state, iss, PKCE, nonce and the ID token) -> fetchUserInfo (subject checked)
// -> refreshTokenGrant -> tokenRevocation of the access token (userinfo must then fail) and of the
// refresh token (refresh must then fail).
// Prints one JSON object on stdout; on any failure prints {"ok": false, "step": ..., "error": ...}
// on stdout, details on stderr, and exits 1 (2 for bad usage).
import { readFileSync } from 'node:fs';
import process from 'node:process';

import * as client from 'openid-client';

let currentStep = 'usage';

function usage(message) {
  process.stderr.write(`rp_flow: ${message}\nusage: node rp_flow.mjs <ISSUER_URL> [OPTIONS_JSON | @file]\n`);
  process.exit(2);
}

function loadOptions(argv, env) {
  const [issuerArg, jsonArg] = argv;
  if (!issuerArg) usage('issuer URL missing');
  let issuer;
  try {
    issuer = new URL(issuerArg);
  } catch {
    usage(`not a URL: ${issuerArg}`);
  }
  const opts = {
    client_id: env.RP_CLIENT_ID,
    client_secret: env.RP_CLIENT_SECRET,
    redirect_uri: env.RP_REDIRECT_URI,
    scope: env.RP_SCOPE || 'openid profile id_number',
    auth_method: env.RP_AUTH_METHOD || 'client_secret_basic',
    username: env.RP_USERNAME,
    password: env.RP_PASSWORD,
    username_field: env.RP_USERNAME_FIELD || 'username',
    password_field: env.RP_PASSWORD_FIELD || 'password',
    extra_fields: env.RP_EXTRA_FIELDS ? JSON.parse(env.RP_EXTRA_FIELDS) : {},
    max_forms: Number(env.RP_MAX_FORMS || 3),
    max_steps: Number(env.RP_MAX_STEPS || 25),
    non_repudiation: (env.RP_NON_REPUDIATION ?? '1') !== '0',
  };
  if (jsonArg) {
    const text = jsonArg.startsWith('@') ? readFileSync(jsonArg.slice(1), 'utf8') : jsonArg;
    Object.assign(opts, JSON.parse(text));
  }
  for (const key of ['client_id', 'client_secret', 'redirect_uri', 'username', 'password']) {
    if (key === 'client_secret' && opts.auth_method === 'none') continue;
    if (!opts[key]) usage(`${key} is required (env RP_${key.toUpperCase()} or JSON option)`);
  }
  if (!['client_secret_basic', 'client_secret_post', 'none'].includes(opts.auth_method)) {
    usage(`unsupported auth_method ${opts.auth_method}`);
  }
  return { issuer, opts };
}

const isLoopback = (url) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  || url.hostname.startsWith('127.');

// ---------------------------------------------------------------------------------------------
// A minimal browser: cookie jar (name, domain-less host match, path prefix), manual redirects,
// first-form extraction.
// ---------------------------------------------------------------------------------------------
class CookieJar {
  #cookies = new Map(); // key host|path|name -> { host, path, name, value }

  store(url, setCookieHeaders) {
    for (const header of setCookieHeaders) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, ...rest] = attr.split('=');
        const key = k.trim().toLowerCase();
        const val = rest.join('=').trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        if (key === 'max-age' && Number(val) <= 0) expired = true;
        if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const id = `${url.host}|${path}|${name}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { host: url.host, path, name, value });
    }
  }

  header(url) {
    const matches = [...this.#cookies.values()].filter((c) => c.host === url.host
      && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
    matches.sort((a, b) => b.path.length - a.path.length);
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

const decodeEntities = (s) => s
  .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
  .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
  .replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')
  .replace(/&amp;/g, '&');

function parseAttributes(tag) {
  const attrs = {};
  const re = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g;
  const body = tag.replace(/^<\s*[a-z]+/i, '').replace(/\/?>$/, '');
  for (const m of body.matchAll(re)) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

function firstForm(html) {
  const m = /<form\b[^>]*>([\s\S]*?)<\/form\s*>/i.exec(html);
  if (!m) return undefined;
  const formTag = /<form\b[^>]*>/i.exec(m[0])[0];
  const formAttrs = parseAttributes(formTag);
  const fields = [];
  for (const tag of m[1].matchAll(/<(input|button|select|textarea)\b[^>]*>/gi)) {
    const kind = tag[1].toLowerCase();
    const attrs = parseAttributes(tag[0]);
    if (!attrs.name || 'disabled' in attrs) continue;
    const type = (attrs.type || (kind === 'button' ? 'submit' : 'text')).toLowerCase();
    if (['submit', 'image', 'reset', 'button', 'file'].includes(type)) continue;
    if ((type === 'checkbox' || type === 'radio') && !('checked' in attrs)) continue;
    fields.push({ name: attrs.name, value: attrs.value ?? (type === 'checkbox' ? 'on' : ''), type });
  }
  return {
    action: formAttrs.action ?? '',
    method: (formAttrs.method || 'get').toUpperCase(),
    fields,
  };
}

async function driveLogin(authorizationUrl, redirectUri, opts, trace) {
  const jar = new CookieJar();
  const target = new URL(redirectUri);
  const reachedCallback = (url) => url.origin === target.origin && url.pathname === target.pathname;
  let request = { url: authorizationUrl, method: 'GET', body: undefined };
  let formsSubmitted = 0;

  for (let step = 0; step < opts.max_steps; step += 1) {
    if (reachedCallback(request.url)) return { callbackUrl: request.url, formsSubmitted };
    const headers = { accept: 'text/html,application/xhtml+xml', 'user-agent': 'ywt-rp-flow/1 (openid-client)' };
    const cookie = jar.header(request.url);
    if (cookie) headers.cookie = cookie;
    if (request.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(request.url, {
      method: request.method, headers, body: request.body, redirect: 'manual',
    });
    jar.store(request.url, res.headers.getSetCookie());
    trace.push(`${request.method} ${request.url.origin}${request.url.pathname} -> ${res.status}`);

    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      if (!location) throw new Error(`redirect ${res.status} without Location from ${request.url}`);
      request = { url: new URL(location, request.url), method: 'GET', body: undefined };
      continue;
    }
    const text = await res.text();
    if (res.status !== 200) {
      throw new Error(`HTTP ${res.status} from ${request.url.pathname}: ${text.slice(0, 300)}`);
    }
    const form = firstForm(text);
    if (!form) throw new Error(`no <form> on ${request.url.pathname}: ${text.slice(0, 300)}`);
    if (formsSubmitted >= opts.max_forms) throw new Error(`more than ${opts.max_forms} forms; last at ${request.url.pathname}`);
    const data = new URLSearchParams();
    const seen = new Set();
    for (const field of form.fields) {
      let { value } = field;
      if (field.name === opts.username_field) value = opts.username;
      else if (field.name === opts.password_field) value = opts.password;
      else if (field.name in opts.extra_fields) value = String(opts.extra_fields[field.name]);
      data.append(field.name, value);
      seen.add(field.name);
    }
    for (const [name, value] of Object.entries(opts.extra_fields)) {
      if (!seen.has(name)) data.append(name, String(value));
    }
    formsSubmitted += 1;
    const action = new URL(form.action || request.url.href, request.url);
    if (form.method === 'POST') {
      request = { url: action, method: 'POST', body: data.toString() };
    } else {
      action.search = data.toString();
      request = { url: action, method: 'GET', body: undefined };
    }
  }
  throw new Error(`redirect_uri not reached within ${opts.max_steps} requests`);
}

async function expectFailure(promise, what) {
  try {
    await promise;
  } catch (err) {
    return { rejected: true, error: err?.error ?? err?.code ?? err?.name, status: err?.status };
  }
  throw new Error(`${what} still worked after revocation`);
}

async function main() {
  const { issuer, opts } = loadOptions(process.argv.slice(2), process.env);
  const trace = [];

  currentStep = 'discovery';
  const execute = [];
  if (issuer.protocol === 'http:') {
    if (!isLoopback(issuer)) throw new Error('plain http is only allowed on loopback');
    execute.push(client.allowInsecureRequests);
  }
  if (opts.non_repudiation) execute.push(client.enableNonRepudiationChecks);
  const clientAuth = {
    client_secret_post: () => client.ClientSecretPost(opts.client_secret),
    client_secret_basic: () => client.ClientSecretBasic(opts.client_secret),
    none: () => client.None(),
  }[opts.auth_method]();
  const config = await client.discovery(issuer, opts.client_id, undefined, clientAuth, { execute });
  const server = config.serverMetadata();

  currentStep = 'authorization_url';
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: opts.redirect_uri,
    scope: opts.scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });

  currentStep = 'login';
  const { callbackUrl, formsSubmitted } = await driveLogin(authorizationUrl, opts.redirect_uri, opts, trace);

  currentStep = 'authorization_code_grant';
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const idTokenClaims = tokens.claims();
  if (!tokens.refresh_token) throw new Error('no refresh_token in the token response');

  currentStep = 'userinfo';
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idTokenClaims.sub);

  currentStep = 'refresh_token_grant';
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedClaims = refreshed.id_token ? refreshed.claims() : undefined;
  if (refreshedClaims && refreshedClaims.sub !== idTokenClaims.sub) throw new Error('refreshed ID token has another sub');
  const currentRefresh = refreshed.refresh_token ?? tokens.refresh_token;
  const userinfoAfterRefresh = await client.fetchUserInfo(config, refreshed.access_token, idTokenClaims.sub);

  currentStep = 'revocation';
  await client.tokenRevocation(config, refreshed.access_token, { token_type_hint: 'access_token' });
  const accessAfter = await expectFailure(
    client.fetchUserInfo(config, refreshed.access_token, idTokenClaims.sub), 'revoked access token',
  );
  await client.tokenRevocation(config, currentRefresh, { token_type_hint: 'refresh_token' });
  const refreshAfter = await expectFailure(client.refreshTokenGrant(config, currentRefresh), 'revoked refresh token');

  return {
    ok: true,
    issuer: server.issuer,
    client_id: opts.client_id,
    auth_method: opts.auth_method,
    non_repudiation_checks: opts.non_repudiation,
    authorization_request: {
      scope: opts.scope,
      code_challenge_method: 'S256',
      state_sent: true,
      nonce_sent: true,
    },
    browser: { forms_submitted: formsSubmitted, trace },
    callback: {
      has_code: callbackUrl.searchParams.has('code'),
      iss: callbackUrl.searchParams.get('iss'),
    },
    token_response: {
      token_type: tokens.token_type,
      scope: tokens.scope,
      expires_in: tokens.expiresIn(),
      has_refresh_token: true,
    },
    id_token_claims: idTokenClaims,
    userinfo,
    refresh: {
      access_token_changed: refreshed.access_token !== tokens.access_token,
      refresh_token_rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      id_token_sub: refreshedClaims?.sub ?? null,
      userinfo_sub: userinfoAfterRefresh.sub,
    },
    revocation: {
      access_token: accessAfter,
      refresh_token: refreshAfter,
    },
  };
}

try {
  const result = await main();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  const error = {
    message: err?.message ?? String(err),
    name: err?.name,
    code: err?.code,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
  };
  process.stderr.write(`rp_flow: failed at ${currentStep}: ${err?.stack ?? err}\n`);
  if (err?.cause) process.stderr.write(`rp_flow: cause: ${JSON.stringify(err.cause)?.slice(0, 2000)}\n`);
  process.stdout.write(`${JSON.stringify({ ok: false, step: currentStep, error })}\n`);
  process.exit(1);
}

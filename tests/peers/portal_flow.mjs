#!/usr/bin/env node
// The portal in a real browser: Playwright (playwright-core) driving Debian's chromium headless
// against a running yiwangtong server. Driven by tests/portal/test_browser.py.
//
// Usage: node tests/peers/portal_flow.mjs <BASE_URL> <ARTEFACT_DIR> <OPTIONS_JSON>
//   options: { chromium, citizen: {username, password, name, id_number, phone},
//              admin: {username, password}, licence: {type, issuer, fields}, recipient,
//              seal: {owner_uscc, owner_name}, grant_client }
//
// Prints one JSON line: {ok, steps: [{name, screenshot, ...facts}], error?}. Each fact is text
// read from the page (headlines, messages), so the Python side judges what a person would see.
// Every step saves a full-page screenshot into ARTEFACT_DIR.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, outDir, optionsJson] = process.argv.slice(2);
const opts = JSON.parse(optionsJson);
fs.mkdirSync(outDir, { recursive: true });

const steps = [];
let browser;

// WCAG 2.1 contrast (SC 1.4.3) of every visible text element against its effective background:
// 4.5:1, or 3:1 for large text (>= 24px, or >= 18.66px bold). Returns the failures.
function contrastFailures() {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') continue;
    const fg = rgb(st.color).slice(0, 3);
    const [l1, l2] = [lum(fg), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)} "${el.textContent.trim().slice(0, 30)}"`);
  }
  return out;
}

async function shot(page, name, facts = {}) {
  const file = path.join(outDir, `${String(steps.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const contrast = await page.evaluate(contrastFailures);
  steps.push({ name, screenshot: file, url: page.url().replace(base, ''), contrast, ...facts });
}

async function text(page, selector) {
  const el = page.locator(selector).first();
  return (await el.count()) ? (await el.innerText()).trim() : null;
}

async function login(page, username, password, next = '/account') {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('用户名').fill(username);
  await page.getByLabel('密码').fill(password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.getByRole('button', { name: '登录 Log in' }).click()]);
}

async function main() {
  browser = await chromium.launch({
    executablePath: opts.chromium,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const desktop = { viewport: { width: 1280, height: 900 }, locale: 'zh-CN', acceptDownloads: true };
  const c = opts.citizen;

  // 1. register (real-name check against the population source, SMS code from the dev outbox)
  const citizenCtx = await browser.newContext(desktop);
  const page = await citizenCtx.newPage();
  page.setDefaultTimeout(15000);
  // keyboard: the first Tab reaches the skip link, Enter moves the focus to the main content
  await page.goto(`${base}/`);
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => document.activeElement.textContent.trim());
  await page.keyboard.press('Enter');
  const afterSkip = await page.evaluate(() => location.hash);
  steps.push({ name: 'keyboard-skip-link', screenshot: null, skip, after_skip: afterSkip, contrast: [] });
  await page.goto(`${base}/register?next=/account`);
  await page.getByLabel('用户名').fill(c.username);
  await page.getByLabel('密码', { exact: false }).first().fill(c.password);
  await page.getByLabel('确认密码').fill(c.password);
  await page.getByLabel('姓名').fill(c.name);
  await page.getByLabel('公民身份号码').fill(c.id_number);
  await page.getByLabel('手机号码').fill(c.phone);
  await shot(page, 'register');
  await page.getByRole('button', { name: /获取验证码/ }).click();
  await page.waitForURL(`${base}/register`);
  const outbox = await citizenCtx.newPage();
  await outbox.goto(`${base}/dev/outbox`);
  const sms = await outbox.locator('tbody tr').first().innerText();
  if (!/\b\d{6}\b/.test(sms)) throw new Error('no code in outbox: ' + sms + ' / page: ' + (await page.locator('main').innerText()).slice(0, 600));
  const code = sms.match(/\b(\d{6})\b/)[1];
  await outbox.close();
  await page.getByLabel('短信验证码').fill(code);
  await shot(page, 'register-confirm', { masked_id: await text(page, 'td.mono') });
  await Promise.all([page.waitForURL(`${base}/account`), page.getByRole('button', { name: /完成注册/ }).click()]);
  await shot(page, 'account-registered', { level: await text(page, '.badge') });

  // 2. verify identity: raise the level through the verification form (telecom 3-element check)
  await page.getByRole('button', { name: '核验手机实名 Verify' }).click();
  await page.waitForLoadState();
  await shot(page, 'account-verified', { message: await text(page, '.notice[role=status]'), level: await text(page, '.badge') });

  // 3. log out, log in again (keyboard only: Tab into fields, Enter submits)
  await page.getByRole('button', { name: '退出登录 Log out' }).click();
  await page.waitForLoadState();
  await page.goto(`${base}/login?next=/account`);
  await page.getByLabel('用户名').focus();
  await page.keyboard.type(c.username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(c.password);
  await Promise.all([page.waitForURL(`${base}/account`), page.keyboard.press('Enter')]);
  await shot(page, 'account', { sessions: await page.locator('text=本设备 this device').count() });

  // 4. the operator issues a licence to that person, then creates, approves and grants a seal
  const opCtx = await browser.newContext(desktop);
  const op = await opCtx.newPage();
  op.setDefaultTimeout(20000);
  await login(op, opts.admin.username, opts.admin.password, '/console');
  await op.goto(`${base}/console/licences?type=${opts.licence.type}`);
  await op.getByLabel('发证机关统一社会信用代码').fill(opts.licence.issuer);
  for (const [key, value] of Object.entries(opts.licence.fields)) {
    const field = op.locator(`#f_${key}`);
    if ((await field.evaluate((e) => e.tagName)) === 'SELECT') await field.selectOption(value);
    else await field.fill(value);
  }
  await op.getByRole('button', { name: '签发 Issue' }).click();
  await op.waitForLoadState();
  await shot(op, 'console-issue', { message: await text(op, '.notice[role=status]'), error: await text(op, '.error') });

  await op.goto(`${base}/console/seals`);
  await op.getByLabel('所属单位统一社会信用代码').fill(opts.seal.owner_uscc);
  await op.getByLabel('所属单位名称').fill(opts.seal.owner_name);
  await op.getByLabel('印章类型').selectOption('contract');
  await op.getByLabel('密码算法').selectOption('sm2');
  await op.getByRole('button', { name: '提交申请 Apply' }).click();
  await op.waitForLoadState();
  const applied = await text(op, '.notice[role=status]');
  const sealId = applied.match(/（(seal-[^）]+)）/)[1];
  const row = () => op.locator('tr', { hasText: sealId });
  await row().getByRole('button', { name: /审批 Approve/ }).click();
  await op.waitForLoadState();
  const approved = await text(op, '.notice[role=status]');
  await row().getByRole('button', { name: /启用 Activate/ }).click();
  await op.waitForLoadState();
  const activated = await text(op, '.notice[role=status]');
  const imageOk = await row().locator('img').evaluate((img) => img.complete && img.naturalWidth > 0);
  await shot(op, 'console-seals', { applied, approved, activated, seal_id: sealId, image_ok: imageOk, row: await row().innerText() });
  await op.goto(`${base}/console/grants`);
  await op.getByLabel('印章', { exact: false }).first().selectOption(sealId);
  await op.getByLabel('应用', { exact: false }).first().selectOption(opts.grant_client);
  await op.getByRole('button', { name: '授权 Grant' }).click();
  await op.waitForLoadState();
  await shot(op, 'console-grants', { message: await text(op, '.notice[role=status]') });
  await op.goto(`${base}/console/audit`);
  await shot(op, 'console-audit', { chain: await text(op, '.verdict .big') });

  // 5. the citizen sees the licence in the wallet, downloads it and shares it
  await page.goto(`${base}/license/wallet`);
  const walletRow = await text(page, 'tbody tr');
  await shot(page, 'wallet', { row: walletRow });
  await page.getByRole('link', { name: /查看/ }).first().click();
  await page.waitForLoadState();
  const qrUrl = await page.getByRole('link', { name: /验真页面/ }).getAttribute('href');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /下载 PDF/ }).click()]);
  const pdfPath = path.join(outDir, 'licence.pdf');
  await download.saveAs(pdfPath);
  await page.getByLabel('接收方名称').fill(opts.recipient);
  await page.getByLabel('用途（可选）').fill('开户核验');
  await page.getByLabel('共享期限').selectOption(String(24 * 60));
  await page.getByRole('button', { name: /生成共享链接/ }).click();
  await page.waitForLoadState();
  const link = await page.getByLabel('共享链接').inputValue();
  await shot(page, 'share-created', { message: await text(page, '.notice[role=status]') });

  // 6. the third party opens the share link (another browser, no cookies of the holder)
  const thirdCtx = await browser.newContext(desktop);
  const third = await thirdCtx.newPage();
  await third.goto(link);
  await shot(third, 'share-third-party', { verdict: await text(third, '.verdict .big'), notice: await text(third, '.notice') });

  // 7. the verify page: the sealed PDF is genuine, a tampered copy is not
  const pdf = fs.readFileSync(pdfPath);
  const tampered = Buffer.from(pdf);
  const at = pdf.indexOf('stream') + 40; // a byte inside the first (signed) content stream
  tampered[at] ^= 0x01;
  const tamperedPath = path.join(outDir, 'licence-tampered.pdf');
  fs.writeFileSync(tamperedPath, tampered);
  const verdicts = {};
  for (const [name, file] of [['genuine', pdfPath], ['tampered', tamperedPath]]) {
    await third.goto(`${base}/verify`);
    await third.getByLabel(/签章 PDF 文件/).setInputFiles(file);
    await third.getByRole('button', { name: '验真 Verify' }).click();
    await third.waitForLoadState();
    verdicts[name] = await text(third, '.verdict .big');
    await shot(third, `verify-${name}`, { verdict: verdicts[name] });
  }

  // 8. the QR landing page on a phone-sized screen
  const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' });
  const phone = await phoneCtx.newPage();
  await phone.goto(qrUrl);
  const box = await phone.locator('.verdict').boundingBox();
  const scrollWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
  await shot(phone, 'qr-landing-phone', { verdict: await text(phone, '.verdict .big'), verdict_top: box ? box.y : null, verdict_width: box ? box.width : null, scroll_width: scrollWidth });

  // 9. the holder withdraws the share: the third party's link stops working at once
  await page.goto(`${base}/license/wallet`);
  await page.getByRole('button', { name: new RegExp(`撤回 Revoke：${opts.recipient}`) }).click();
  await page.waitForLoadState();
  const withdrawn = await text(page, '.notice[role=status]');
  await third.goto(link);
  await shot(third, 'share-withdrawn', { withdrawn, verdict: await text(third, '.verdict .big'), detail: await text(third, '.verdict p') });

  // 10. the operator revokes the licence: the phone's QR page says so on reload
  await op.goto(`${base}/console/licences`);
  const licRow = op.locator('tr', { hasText: opts.licence.fields.certificate_no });
  await licRow.getByLabel(/理由/).fill('测试撤销 revoked in the browser test');
  await licRow.getByRole('button', { name: /撤销 Revoke/ }).click();
  await op.waitForLoadState();
  const revokedMsg = await text(op, '.notice[role=status]');
  await phone.reload();
  await shot(phone, 'qr-landing-revoked', { revoked_message: revokedMsg, verdict: await text(phone, '.verdict .big'), summary: await text(phone, '.verdict p') });

  return { ok: true, qr_url: qrUrl.replace(base, ''), share_link: link.replace(base, '') };
}

try {
  const result = await main();
  console.log(JSON.stringify({ ...result, steps }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack || err), steps }));
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
}

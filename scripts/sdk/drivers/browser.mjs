// Loads one test page in headless Chromium (Debian's, driven by playwright-core) on the site's
// origin — piigate as a first-party proxy, or the recorder itself when run direct — lets the
// vendor SDK identify the test person and track, then leaves the page (the SDKs flush with
// sendBeacon on page hide) and closes the browser.
//
//     node browser.mjs PAGE ORIGIN          # PAGE: mixpanel | posthog | segment | snowplow
//
// Prints {"driver": ..., "calls": n, "sdk_errors": [...]}: calls = vendor requests the
// browser issued; errors = vendor requests that failed or got a 4xx/5xx, and page errors.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(process.env.SDK_NODE_MODULES + '/');
const { chromium } = require('playwright-core');
const P = JSON.parse(readFileSync(new URL('../person.json', import.meta.url)));
const [page, origin] = process.argv.slice(2);
const vendorPath = `/${page}/`;
const errors = [];
let calls = 0;

const profile = mkdtempSync(join(tmpdir(), 'sdk-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const tab = ctx.pages()[0] || await ctx.newPage();
  tab.on('request', (r) => { if (new URL(r.url()).pathname.startsWith(vendorPath)) calls += 1; });
  tab.on('requestfailed', (r) => {
    if (new URL(r.url()).pathname.startsWith(vendorPath)) errors.push(`failed: ${r.method()} ${new URL(r.url()).pathname} ${r.failure()?.errorText}`);
  });
  tab.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith(vendorPath) && r.status() >= 400) {
      errors.push(`status ${r.status()}: ${r.request().method()} ${new URL(r.url()).pathname}`);
    }
  });
  tab.on('pageerror', (e) => errors.push(`page error: ${String(e.message).slice(0, 160)}`));
  // The landing URL carries the person, as links from e-mails and sign-up redirects do: the
  // SDKs copy it into their payloads, and the browser sends it as Referer.
  const url = `${origin}/site/${page}.html?email=${encodeURIComponent(P.email)}&uid=${P.user_id}&utm_source=newsletter`;
  await tab.goto(url, { waitUntil: 'load' });
  await Promise.race([
    tab.evaluate(() => window.sdkDone),
    new Promise((_, rej) => setTimeout(() => rej(new Error('page did not finish')), 20000)),
  ]).catch((e) => errors.push(String(e.message)));
  // Let batching SDKs flush on their own timers (Mixpanel 5 s, PostHog 3 s), then leave.
  await tab.waitForTimeout(6000);
  await tab.goto(`${origin}/site/blank.html`, { waitUntil: 'load' });
  await tab.waitForTimeout(1500);
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify({ driver: `browser:${page}`, calls, sdk_errors: errors }));

// Drives one vendor's official Node SDK for the test person, with only its host changed.
//
//     node server_node.mjs VENDOR BASE_URL     # posthog-node | segment-node
//
// Prints one JSON line: {"driver": ..., "calls": n, "sdk_errors": [...]} (see server_py.py).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(process.env.SDK_NODE_MODULES + '/');
const P = JSON.parse(readFileSync(new URL('../person.json', import.meta.url)));
const enc = encodeURIComponent;
const PAGE_URL = `https://shop.example.com/checkout/confirm?email=${enc(P.email)}&uid=${P.user_id}&utm_source=newsletter`;
const REFERRER = `https://mail.example.net/inbox?to=${enc(P.email)}`;
const ADDRESS = { street: P.street, city: P.city, postalCode: P.postal_code, country: P.country };
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';

const errors = [];
let calls = 0;
const call = async (f) => {
  calls += 1;
  try {
    return await f();
  } catch (e) {
    errors.push(`${e.name}: ${String(e.message).slice(0, 200)}`);
  }
};

async function segmentNode(base) {
  const { Analytics } = require('@segment/analytics-node');
  // `host` is an origin: the SDK resolves its absolute `path` (default /v1/batch) against it,
  // so a proxy mounted under a path prefix needs `path` as well.
  const url = new URL(base);
  const a = new Analytics({
    writeKey: 'seg_write_key_test', host: url.origin, path: `${url.pathname}/v1/batch`, maxRetries: 0,
  });
  a.on('error', (e) => errors.push(`error event: ${String(e.reason || e.code || e).slice(0, 200)}`));
  const context = {
    ip: P.ip, userAgent: UA, locale: 'nb-NO',
    page: { url: PAGE_URL, referrer: REFERRER, path: '/checkout/confirm', title: 'Order confirmed' },
  };
  const traits = {
    name: P.name, firstName: P.first_name, lastName: P.last_name, email: P.email,
    phone: P.phone, address: ADDRESS, birthday: P.birthday, plan: 'pro',
  };
  await call(() => a.identify({ userId: P.user_id, traits, context }));
  await call(() => a.track({
    userId: P.user_id, event: 'Order Completed', context,
    properties: { order_id: 'ord-1043', revenue: 42.5, currency: 'EUR', email: P.email, shipping_address: ADDRESS },
  }));
  await call(() => a.page({
    userId: P.user_id, category: 'Checkout', name: 'Order confirmed', context,
    properties: { url: PAGE_URL, referrer: REFERRER },
  }));
  await call(() => a.closeAndFlush({ timeout: 10000 }));
}

async function posthogNode(base) {
  const { PostHog } = require('posthog-node');
  const ph = new PostHog('phc_test_project_key', { host: base, fetchRetryCount: 0 });
  ph.on('error', (e) => errors.push(`error event: ${String(e && e.message || e).slice(0, 200)}`));
  await call(() => ph.identify({
    distinctId: P.user_id,
    properties: { email: P.email, name: P.name, phone: P.phone, $set: { city: P.city } },
  }));
  await call(() => ph.capture({
    distinctId: P.user_id, event: 'order_completed',
    properties: {
      $current_url: PAGE_URL, $referrer: REFERRER, $ip: P.ip, order_id: 'ord-1043',
      revenue: 42.5, email: P.email,
    },
  }));
  await call(() => ph.alias({ distinctId: P.user_id, alias: 'anon-5d1e0b' }));
  await call(() => ph.shutdown(10000));
}

const drivers = { 'segment-node': segmentNode, 'posthog-node': posthogNode };
const [vendor, base] = process.argv.slice(2);
await drivers[vendor](base.replace(/\/$/, ''));
console.log(JSON.stringify({ driver: `node:${vendor}`, calls, sdk_errors: errors }));

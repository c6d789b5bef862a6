// The shop's staff in a real browser: a seller lists a product on /seller, an admin approves
// it on /admin, the seller receives stock and, once a customer bought and paid, ships their
// part; the admin refunds part of the order; an auditor reads the order's timeline with the
// tamper-evidence status. Every page is checked with axe-core and screenshotted.
//
// Run by tests/web.rs. Environment: BASE, SCREENSHOTS, CHROMIUM, and the staff's credentials
// ADMIN_EMAIL/ADMIN_PASSWORD, SELLER_EMAIL/SELLER_PASSWORD, AUDITOR_EMAIL/AUDITOR_PASSWORD.

import { BASE, env, step, accessible, shot, api, run } from './common.mjs';

/** Signs in on the page's own sign-in form. */
async function signIn(page, who) {
  await page.getByLabel('Email').fill(env(`${who}_EMAIL`));
  await page.getByLabel('Password').fill(env(`${who}_PASSWORD`));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Draws the current view again (as a person would by following a link to it). */
async function redraw(page) {
  await page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
  await page.locator('body:not([data-busy])').waitFor();
}

await run(async (open) => {
  step('the seller lists a product on /seller');
  const seller = await open();
  await seller.goto(`${BASE}/seller`);
  await seller.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await signIn(seller, 'SELLER');
  await seller.getByRole('heading', { level: 1, name: 'Seller dashboard' }).waitFor();
  const form = seller.locator('#new-product');
  await form.getByLabel('SKU').fill('WEB-VASE');
  await form.getByLabel('Name').fill('Celadon vase');
  await form.getByLabel('Description').fill('A tall vase with a soft green glaze.');
  await form.getByLabel('Category (slug)').fill('kitchen');
  await form.getByLabel('Price in EUR').fill('35.00');
  await form.getByRole('button', { name: 'List it' }).click();
  await seller.locator('#seller-products').getByRole('cell', { name: 'WEB-VASE', exact: true }).waitFor();
  await accessible(seller, 'seller');

  step('the admin approves it on /admin');
  const admin = await open();
  await admin.goto(`${BASE}/admin`);
  await signIn(admin, 'ADMIN');
  await admin.getByRole('heading', { level: 1, name: 'Back office' }).waitFor();
  await admin.locator('#chains').filter({ hasText: 'intact' }).waitFor();
  await accessible(admin, 'back office');
  await shot(admin, 'admin');
  await admin.getByRole('button', { name: 'Approve WEB-VASE' }).click();
  await admin.getByRole('status').filter({ hasText: 'WEB-VASE approved' }).waitFor();

  step('the seller receives stock; the product is published');
  await redraw(seller);
  await seller.getByLabel('Units of WEB-VASE received').fill('3');
  await seller.locator('#seller-products form').filter({ has: seller.getByLabel('Units of WEB-VASE received') }).getByRole('button', { name: 'Receive' }).click();
  await seller.getByRole('status').filter({ hasText: 'Stock of WEB-VASE received' }).waitFor();
  await seller.locator('#seller-products tr').filter({ hasText: 'WEB-VASE' }).filter({ hasText: 'published' }).waitFor();

  step('a customer buys it and pays (through the API)');
  const email = `buyer-${Date.now()}@example.org`;
  await api('POST', '/auth/register', { email, display_name: 'Buyer', password: 'a buyer password' });
  const buyer = await api('POST', '/auth/login', { email, password: 'a buyer password' });
  const me = `/customers/${buyer.account_id}`;
  await api('POST', `${me}/addresses`, { name: 'Buyer', line1: '2 Quay', city: 'Bremen', postal_code: '28195', country: 'DE' }, buyer.access_token);
  // The catalog projection may lag the approval by a moment.
  for (let i = 0; ; i++) {
    try {
      await api('POST', `${me}/cart/items`, { sku: 'WEB-VASE', quantity: 1 }, buyer.access_token);
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const placed = await api('POST', `${me}/orders`, {}, buyer.access_token);
  const order = placed.order_id;
  const adminTokens = await api('POST', '/auth/login', { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  await api('POST', `/orders/${order}/payment`, { amount: { amount_minor: 3500, currency: 'EUR' }, payment_reference: 'bank-1', payment_method: 'bank_transfer' }, adminTokens.access_token);

  step('the seller ships their part');
  for (let i = 0; i < 50; i++) {
    await redraw(seller);
    if (await seller.getByLabel(`Carrier`).count()) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await seller.getByLabel('Carrier').fill('DPD');
  await seller.getByLabel('Tracking').fill('DPD-777');
  await accessible(seller, 'seller with a part to ship');
  await shot(seller, 'seller');
  await seller.getByRole('button', { name: 'Ship' }).click();
  await seller.getByRole('status').filter({ hasText: 'Shipped.' }).waitFor();

  step('the admin refunds part of the order to store credit');
  // Following a link within the page: the session (in the page's memory) stays.
  await admin.goto(`${BASE}/admin#/orders/${order}`);
  await admin.getByRole('heading', { level: 1, name: `Order ${order.slice(-8)}` }).waitFor();
  const refund = admin.locator('#refund');
  await refund.getByLabel('Amount in the order’s currency').fill('10.00');
  await refund.getByLabel('Reason').fill('chipped rim');
  await refund.getByLabel('Refund to').selectOption('store_credit');
  await refund.getByRole('button', { name: 'Refund' }).click();
  await admin.getByRole('status').filter({ hasText: 'Refund started' }).waitFor();
  await admin.locator('#payment-state').filter({ hasText: 'partially_refunded' }).waitFor({ timeout: 20000 }).catch(async () => {
    await redraw(admin);
    await admin.locator('#payment-state').filter({ hasText: 'partially_refunded' }).waitFor({ timeout: 20000 });
  });

  step('the admin rebuilds the orders projection and follows its progress');
  await admin.getByRole('link', { name: 'Projections' }).click();
  await admin.locator('#projections').waitFor();
  await accessible(admin, 'projections');
  await admin.getByLabel('Rebuild orders').check();
  await admin.getByRole('button', { name: /^Rebuild the checked/ }).click();
  await admin.getByRole('heading', { name: 'Rebuild of orders: done' }).waitFor({ timeout: 60000 });
  await shot(admin, 'projections');

  step('the admin sets a tax rate and a shipping method');
  await admin.getByRole('link', { name: 'Tax and shipping' }).click();
  const tax = admin.locator('#tax-form');
  await tax.getByLabel('Country (two letters)').fill('DE');
  await tax.getByLabel('Rate in percent').fill('19');
  await tax.getByRole('button', { name: 'Set the rate' }).click();
  await admin.locator('#tax-rates').getByRole('cell', { name: '19.00 %', exact: true }).waitFor();
  const method = admin.locator('#method-form');
  await method.getByLabel('Id (a-z, 0-9, -)').fill('parcel');
  await method.getByLabel('Name').fill('Parcel');
  await method.getByLabel(/^Countries/).fill('DE, AT');
  await method.getByLabel('Flat fee in EUR').fill('4.90');
  await method.getByRole('button', { name: 'Save the method' }).click();
  await admin.locator('#shipping-methods').getByRole('cell', { name: 'Parcel', exact: true }).waitFor();
  await accessible(admin, 'tax and shipping');

  step('the admin reads accounts and roles');
  await admin.getByRole('link', { name: 'Accounts and roles' }).click();
  await admin.locator('#accounts').getByRole('cell', { name: env('SELLER_EMAIL'), exact: true }).waitFor();
  await accessible(admin, 'accounts');

  step('an auditor reads the order timeline');
  const auditor = await open();
  await auditor.goto(`${BASE}/admin#/orders/${order}`);
  await signIn(auditor, 'AUDITOR');
  const timeline = auditor.locator('#timeline');
  await timeline.getByRole('cell', { name: 'OrderPlaced', exact: true }).waitFor();
  await timeline.getByRole('cell', { name: 'FulfilmentShipped', exact: true }).waitFor();
  await timeline.getByRole('cell', { name: 'RefundProcessed', exact: true }).waitFor();
  await auditor.locator('#tamper').filter({ hasText: 'intact' }).waitFor();
  if (await auditor.locator('#refund').count()) throw new Error('an auditor was offered a refund');
  await accessible(auditor, 'order timeline');
  await shot(auditor, 'timeline');
  console.log(`browser: order id ${order}`);
}, 'the staff journey passed');

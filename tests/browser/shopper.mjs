// The shopper's journey in a real browser (Debian's Chromium, driven by playwright-core):
// register, search, open a product, add it to the cart, check out with an address, pay at the
// provider simulator, watch the order become paid, shipped and delivered, and return it.
// Every page is checked with axe-core (no serious or critical violation) and screenshotted.
//
// Run by tests/web.rs, which starts the engine and lists the product. Environment:
//   BASE            the engine's URL
//   ADMIN_EMAIL, ADMIN_PASSWORD   an admin, to ship and deliver through the API
//   PRODUCT_NAME    the product to search for and buy
//   SCREENSHOTS     where the screenshots go
//   CHROMIUM        the browser (default /usr/bin/chromium)

import { BASE, env, step, accessible, shot, api, run } from './common.mjs';

const PRODUCT = env('PRODUCT_NAME');

await run(async (open) => {
  const page = await open();
  const context = page.context();

  step('the storefront');
  await page.goto(`${BASE}/`);
  await page.getByRole('heading', { level: 1, name: 'Products' }).waitFor();
  await accessible(page, 'storefront');
  await shot(page, 'storefront');

  step('register with the keyboard-reachable form');
  await page.getByRole('link', { name: 'Register' }).click();
  const email = `shopper-${Date.now()}@example.org`;
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Name').fill('Grace Shopper');
  await page.getByLabel(/^Password/).fill('a long shopper password');
  await accessible(page, 'register');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  step(`search for ${PRODUCT} with a typo`);
  const word = PRODUCT.split(' ').pop();
  const typo = word.slice(0, 3) + word.slice(2); // "lamp" -> "lammp"
  await page.getByRole('searchbox', { name: 'Search products' }).fill(typo);
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: PRODUCT }).waitFor();
  await accessible(page, 'search');
  await shot(page, 'search');

  step('the product page');
  await page.getByRole('link', { name: PRODUCT }).click();
  await page.getByRole('heading', { level: 1, name: PRODUCT }).waitFor();
  await page.getByRole('table', { name: 'Specifications' }).waitFor();
  await accessible(page, 'product');
  await shot(page, 'product');
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByRole('status').filter({ hasText: 'Added 2' }).waitFor();

  step('the cart');
  await page.getByRole('link', { name: 'Cart' }).click();
  await page.getByRole('heading', { level: 1, name: 'Cart' }).waitFor();
  await page.getByRole('link', { name: PRODUCT }).waitFor();
  await accessible(page, 'cart');
  await shot(page, 'cart');

  step('checkout with a new address and the price preview');
  await page.getByRole('link', { name: 'Checkout' }).click();
  await page.getByRole('heading', { level: 1, name: 'Checkout' }).waitFor();
  await page.getByLabel('Recipient').fill('Grace Shopper');
  await page.getByLabel('Street and number').fill('1 Harbour Street');
  await page.getByLabel('City').fill('Hamburg');
  await page.getByLabel('Postal code').fill('20095');
  await page.getByLabel(/^Country/).fill('DE');
  await page.getByLabel(/^Country/).press('Tab');
  await page.locator('#total-due').waitFor();
  await accessible(page, 'checkout');
  await shot(page, 'checkout');
  await page.getByRole('button', { name: 'Place order' }).click();

  step('the order, paid at the provider simulator');
  await page.locator('#order-status').filter({ hasText: 'placed' }).waitFor();
  const orderId = decodeURIComponent(new URL(page.url()).hash.split('/')[2].split('?')[0]);
  await page.getByRole('button', { name: 'Pay now' }).click();
  const [provider] = await Promise.all([context.waitForEvent('page'), page.locator('#pay-link').click()]);
  await provider.getByRole('button', { name: 'Pay', exact: true }).click();
  await provider.getByRole('heading', { name: /^Payment / }).waitFor();
  await provider.close();
  await page.locator('#order-status').filter({ hasText: 'paid' }).waitFor({ timeout: 20000 });
  await accessible(page, 'order');
  await shot(page, 'order-paid');

  step('shipped and delivered by the shop: the page follows');
  const admin = await api('POST', '/auth/login', { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  await api('POST', `/orders/${orderId}/shipment`, { carrier: 'DHL', tracking_number: 'JD0001' }, admin.access_token);
  await page.locator('#order-status').filter({ hasText: 'shipped' }).waitFor({ timeout: 20000 });
  await api('POST', `/orders/${orderId}/delivery`, undefined, admin.access_token);
  await page.locator('#order-status').filter({ hasText: 'delivered' }).waitFor({ timeout: 20000 });

  step('a return');
  await page.getByLabel('Why').fill('it was too bright');
  await page.getByRole('button', { name: 'Return everything' }).click();
  await page.getByRole('status').filter({ hasText: 'Return requested' }).waitFor();
  await shot(page, 'order-delivered');

  step('a review of the delivered product');
  await page.getByRole('searchbox', { name: 'Search products' }).fill(PRODUCT);
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: PRODUCT }).click();
  await page.getByLabel('Rating').selectOption('4');
  await page.getByLabel('Review', { exact: true }).fill('Lovely light, a little bright.');
  await page.getByRole('button', { name: 'Publish the review' }).click();
  await page.getByText('Lovely light, a little bright.').waitFor();
  await accessible(page, 'product with a review');

  step('order history and the account');
  await page.getByRole('link', { name: 'Orders' }).click();
  await page.getByRole('link', { name: orderId.slice(-8) }).waitFor();
  await accessible(page, 'orders');
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('heading', { level: 2, name: 'Store credit' }).waitFor();
  await accessible(page, 'account');
  await shot(page, 'account');
}, 'the shopper journey passed');

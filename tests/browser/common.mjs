// What both browser journeys share: the environment, the browser, the API, axe-core checks
// and a dump of the pages when a step fails.

import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** An environment variable, or `fallback`; a missing one without fallback fails. */
export function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

export const BASE = env('BASE');
export const SCREENSHOTS = env('SCREENSHOTS', 'target/screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

export const step = (text) => console.log(`browser: ${text}`);

/** Fails on serious or critical accessibility violations of the page as it is now. */
export async function accessible(page, name) {
  // Evaluated through the DevTools protocol: the page's own CSP (script-src 'self') stays on.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`${name}: accessibility violations ${JSON.stringify(bad)}`);
  step(`${name}: axe found no serious or critical violation (${result.length} minor)`);
}

export async function shot(page, name) {
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** Calls the engine's API directly (what the journey does not do through the pages). */
export async function api(method, path, body, token, headers = {}) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Runs `journey(open)` in Debian's Chromium, where `open()` gives a new page in a new context
 * (another person). Page errors and console errors fail the journey; on failure, what each
 * page showed is printed. Exits 1 on failure.
 */
export async function run(journey, done) {
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const failures = [];
  const pages = [];
  const open = async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && failures.push(`console: ${m.text()}`));
    pages.push(page);
    return page;
  };
  try {
    await journey(open);
  } catch (error) {
    failures.push(error.stack || String(error));
    for (const page of browser.contexts().flatMap((c) => c.pages())) {
      const shown = await page.locator('body').innerText().catch(() => '(gone)');
      failures.push(`page ${page.url()}:\n${shown.slice(0, 4000)}`);
    }
  } finally {
    await browser.close();
  }
  if (failures.length) {
    console.error(`browser: FAILED\n${failures.join('\n')}`);
    process.exit(1);
  }
  step(done);
}

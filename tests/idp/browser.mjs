// Drives Debian's Chromium through a real login: opens the app, signs in on the IdP's own
// login page, and prints what the app showed as JSON on stdout.
//
// Usage: node browser.mjs <app url> <user> [--logout <logout path>] [--other-tab]
//                          [--user-field <name>] [--password <password>]
//
//   --user-field the name of the login form's user input: `login` on the test IdP (default),
//                `username` on Django's (django-oauth-toolkit); --password what to type (the
//                test IdP takes any)
//   --other-tab  a second tab shows the app before the logout; after it, the session cookies
//                the browser held before are put back (a copy kept elsewhere, or by a thief)
//                and that tab is reloaded: what the gateway answers a logged-out session.

import { parseArgs } from 'node:util';

import { launchChromium } from './chromium.mjs';

const { values: flags, positionals: [appUrl, user] } = parseArgs({
  allowPositionals: true,
  options: {
    logout: { type: 'string' },
    'other-tab': { type: 'boolean' },
    'user-field': { type: 'string', default: 'login' },
    password: { type: 'string', default: 'any password' },
  },
});
if (!appUrl || !user) {
  console.error('usage: node browser.mjs <app url> <user> [--logout <path>] [--other-tab]');
  process.exit(2);
}

const browser = await launchChromium();

try {
  const page = await (await browser.newContext()).newPage();
  const result = { hops: [] };
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) result.hops.push(frame.url());
  });
  await page.goto(appUrl);
  // The IdP's login form (oidc-provider's dev interactions, or Django's).
  const userInput = `input[name="${flags['user-field']}"]`;
  await page.waitForSelector(userInput, { timeout: 15000 });
  await page.fill(userInput, user);
  await page.fill('input[name="password"]', flags.password);
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(new URL(appUrl).origin + new URL(appUrl).pathname), { timeout: 15000 }),
    page.click('button[type="submit"]'),
  ]);
  result.landed = page.url();
  result.body = await page.textContent('body');
  result.cookies = (await page.context().cookies()).map((c) => ({
    name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, domain: c.domain,
  }));
  const sessionCookies = (await page.context().cookies()).filter((c) => c.name.startsWith('authservice_session'));
  const otherTab = flags['other-tab'] ? await page.context().newPage() : null;
  if (otherTab) {
    await otherTab.goto(appUrl);
    result.other_tab_body = await otherTab.textContent('body');
  }
  if (flags.logout) {
    const origin = new URL(appUrl).origin;
    await page.goto(origin + flags.logout);
    // oidc-provider asks the user to confirm RP-initiated logout.
    const confirm = await page.$('button[name="logout"][value="yes"]');
    if (confirm) {
      await Promise.all([page.waitForNavigation({ timeout: 15000 }), confirm.click()]);
    }
    result.after_logout = page.url();
    result.after_logout_body = await page.textContent('body');
    const response = await page.goto(appUrl);
    result.after_logout_app_url = page.url();
    result.after_logout_status = response ? response.status() : null;
  }
  if (otherTab) {
    await page.context().addCookies(sessionCookies);
    await otherTab.reload();
    result.other_tab_reloaded_url = otherTab.url();
    result.other_tab_reloaded_body = await otherTab.textContent('body');
  }
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}

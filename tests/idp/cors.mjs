// Opens a page of one origin in Chromium and has its script call an API on another origin
// (the page's callApi(url, token): a POST whose JSON body and bearer token make the browser
// send a CORS preflight first). Prints JSON on stdout:
//   fetch    what the page's script saw: {ok: true, status, body} or {ok: false, error}
//   console  the page's console messages: Chromium explains there why it blocked a response
//            (the preflight's status, or a missing Access-Control-Allow-Origin)
//   network  {method, status} of every request to the API URL, the preflight included, with
//            the status the browser received (null: none), read outside the page (by the
//            driver): also the statuses of responses the page was not allowed to read
//
// Usage: node cors.mjs <page url> <api url> [--token <bearer token>]

import { parseArgs } from 'node:util';

import { launchChromium } from './chromium.mjs';

const { values: flags, positionals: [pageUrl, apiUrl] } = parseArgs({
  allowPositionals: true,
  options: { token: { type: 'string' } },
});
if (!pageUrl || !apiUrl) {
  console.error('usage: node cors.mjs <page url> <api url> [--token <bearer token>]');
  process.exit(2);
}

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  const result = { console: [] };
  page.on('console', (message) => result.console.push(message.text()));
  // Through the DevTools protocol: Playwright's own events leave out preflights and the
  // responses CORS blocked. The raw status comes with the response's extra info, which Chromium
  // reports before its CORS checks (and in either order with the request).
  const cdp = await page.context().newCDPSession(page);
  const methods = new Map();
  const statuses = new Map();
  cdp.on('Network.requestWillBeSent', ({ requestId, request }) => {
    if (request.url === apiUrl) methods.set(requestId, request.method);
  });
  cdp.on('Network.responseReceivedExtraInfo', ({ requestId, statusCode }) => {
    statuses.set(requestId, statusCode);
  });
  await cdp.send('Network.enable');
  await page.goto(pageUrl);
  result.fetch = await page.evaluate(([url, token]) => window.callApi(url, token),
    [apiUrl, flags.token ?? null]);
  result.network = [...methods].map(([id, method]) => ({ method, status: statuses.get(id) ?? null }));
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}

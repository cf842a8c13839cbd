// Launches Debian's Chromium for the browser tests (browser.mjs, cors.mjs): headless, a fresh
// profile, and no background networking (this machine has no internet; those connections
// would only fail). CHROMIUM names another binary.

import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A new install set up from the panel in a real browser (Debian's chromium, driven by
// playwright-core), through the ingress path, without the Configuration tab: the overview says
// "Not protected yet" and leads to "Add a destination"; S3 is chosen, the MinIO preset fills the
// empty fields, the bucket on the test S3 server is typed in, Test says it works (the form keeps
// what was typed, the secret too, since the script asks without leaving the page), Save applies it
// at once; then the key is made on the kit page, "Back up now" runs, and the copy is listed on the
// copies page. The key the sheet showed is printed as "kit key: …". Screenshots at desktop and
// phone width go to the artifacts folder as setup-*.png. Any script error or refused resource
// (the page's CSP) fails the run.
//
//   node setup_flow.cjs <overview url> <artifacts dir> <s3 endpoint> <prefix> <key id> <secret>
// env: LIFEBOAT_TEST_NODE_MODULES (where playwright-core is), LIFEBOAT_TEST_CHROMIUM
"use strict";
const path = require("path");
const { chromium } = require(path.join(process.env.LIFEBOAT_TEST_NODE_MODULES, "playwright-core"));

const [url, out, endpoint, prefix, keyId, secret] = process.argv.slice(2);

function fail(why) {
  console.error("browser test failed: " + why);
  process.exit(1);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.LIFEBOAT_TEST_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const errors = [];
  const watch = (page) => {
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text() + " at " + (m.location().url || page.url()));
    });
    page.on("pageerror", (e) => errors.push(String(e)));
  };
  const shot = (page, name) => page.screenshot({ path: path.join(out, `setup-${name}.png`), fullPage: true });
  try {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    const page = await desktop.newPage();
    watch(page);
    await page.goto(url);
    if (!/Not protected yet/.test(await page.locator("main h1").textContent())) fail("a new install should say it is not protected yet");
    await shot(page, "1-not-protected-desktop");
    await page.getByRole("link", { name: "Add a destination" }).click();
    await page.waitForURL(/\/destinations\/new$/);
    if (!page.url().startsWith(url)) fail("the link left the ingress path: " + page.url());
    await shot(page, "2-choose-desktop");
    await page.locator("#kind-s3").click();
    await page.waitForURL(/\/destinations\/new\/s3$/);

    // The preset fills what is empty at once (the script); the endpoint is then typed over.
    await page.selectOption("#f-preset", "minio");
    if (await page.inputValue("#f-endpoint") !== "http://<host>:9000") fail("the MinIO preset did not fill the endpoint");
    if (await page.inputValue("#f-path_style") !== "true") fail("the MinIO preset did not choose path style");
    await page.fill("#f-name", "offsite");
    await page.fill("#f-bucket", "backups");
    await page.fill("#f-prefix", prefix);
    await page.fill("#f-endpoint", endpoint);
    await page.fill("#f-access_key_id", keyId);
    await page.fill("#f-secret_access_key", secret);

    // A wrong bucket first: the cause, in words, and the form keeps everything.
    await page.fill("#f-bucket", "no-such-bucket-here");
    await page.locator("#test-button").click();
    await page.locator('#test-outcome[data-level="bad"]').waitFor({ timeout: 60000 });
    if (!/is not there/.test(await page.locator("#test-outcome").textContent())) fail("a missing bucket is not said as missing");
    if (await page.inputValue("#f-secret_access_key") !== secret) fail("Test lost the secret typed");
    await shot(page, "3-test-failed-desktop");
    await page.fill("#f-bucket", "backups");
    await page.locator("#test-button").click();
    await page.locator('#test-outcome[data-level="ok"]').waitFor({ timeout: 60000 });
    if (!/It works/.test(await page.locator("#test-outcome").textContent())) fail("Test does not say it works");
    if (!page.url().endsWith("/destinations/new/s3")) fail("Test left the page: " + page.url());
    if ((await page.content()).includes(secret)) fail("the secret reached the page's HTML");
    await shot(page, "3-tested-desktop");
    await page.locator("#save-button").click();
    await page.waitForURL(/\/destinations\?notice=dest-saved$/);
    if (!/applied now/.test(await page.locator(".notice").textContent())) fail("Save does not say it is applied");
    if (!/offsite/.test(await page.locator(".cards").textContent())) fail("the destination is not listed after Save");
    if ((await page.content()).includes(secret)) fail("the destinations page shows the secret");
    await shot(page, "4-saved-desktop");

    // The key, as on the first evening.
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await page.getByRole("link", { name: "Make the key" }).click();
    await page.waitForURL(/\/kit$/);
    await page.getByRole("button", { name: "Make the key and show it once" }).click();
    const key = (await page.locator("#private-key").textContent()).trim();
    if (!/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/.test(key)) fail("the sheet shows no private key: " + key);
    await page.getByLabel(/Last group of the private key/).fill(key.slice(-6).toLowerCase());
    await page.getByRole("button", { name: "I have it: keep this key" }).click();
    await page.waitForURL(/notice=key-kept/);

    // Back up now, and the copy is listed.
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await page.getByRole("button", { name: "Back up now" }).click();
    await page.waitForURL(/notice=started/);
    await page.locator('#live-body .done[data-outcome="success"]').waitFor({ timeout: 90000 });
    await page.goto(url + "copies?destination=offsite");
    if ((await page.locator("table tbody tr").count()) < 1) fail("the copies page lists no copy");
    await shot(page, "5-copies-desktop");
    if (!/verified/i.test(await page.locator("table tbody").textContent())) fail("the copy listed is not verified: " + await page.locator("table tbody").textContent());

    // Phone width: the chooser, the form and the destinations, nothing wider than the screen.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "light", isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    watch(p);
    for (const [name, where] of [["choose", "destinations/new"], ["form", "destinations/new/s3"], ["edit", "destinations/offsite/edit"], ["destinations", "destinations"]]) {
      await p.goto(url + where);
      const wide = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 2) fail(`${name} at phone width scrolls sideways by ${wide}px`);
      if ((await p.content()).includes(secret)) fail(`${name} shows the secret`);
      await p.screenshot({ path: path.join(out, `setup-6-${name}-phone.png`), fullPage: true });
    }
    await phone.close();
    if (errors.length) fail("the page reported errors: " + errors.join(" | "));
    console.log("kit key: " + key);
    console.log("setup browser test passed");
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack || String(e)));

// The dashboard's main flow in a real browser (Debian's chromium, driven by playwright-core),
// through the ingress path — the first evening: open the overview, follow it to the emergency-kit
// page, make the key, print its sheet, type its last group back, press "Back up now", watch the
// live progress reach done, find the run and its copies. The key the sheet showed is printed as
// "kit key: …" for the caller to open the copy with. Screenshots at desktop and phone width, light and dark, go
// to the artifacts folder. Any script error or refused resource (the page's CSP) fails the run.
//
// Then "Add a cloud drive": a refused answer says why and is not shown again; a pasted rclone.conf
// section (a local remote in <drive dir>) is checked and its options snippet shown.
//
//   node main_flow.cjs <overview url> <artifacts dir> <drive dir>
// env: LIFEBOAT_TEST_NODE_MODULES (where playwright-core is), LIFEBOAT_TEST_CHROMIUM
"use strict";
const path = require("path");
const { chromium } = require(path.join(process.env.LIFEBOAT_TEST_NODE_MODULES, "playwright-core"));

const [url, out, driveDir] = process.argv.slice(2);

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
  try {
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    const page = await desktop.newPage();
    watch(page);
    await page.goto(url);
    const headline = page.locator("#verdict");
    if (!/Not protected yet/.test(await headline.textContent())) fail("a new install should say it is not protected yet");
    await page.screenshot({ path: path.join(out, "1-overview-new-desktop.png"), fullPage: true });

    // Keyboard: the first Tab reaches the skip link.
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    if (!/Skip to content/.test(focused || "")) fail("the first Tab should reach the skip link, got " + focused);

    // No key yet: the overview sends the person to the kit page, where the key is made and shown once.
    await page.getByRole("link", { name: "Make the key" }).click();
    await page.waitForURL(/\/kit$/);
    await page.getByRole("button", { name: "Make the key and show it once" }).click();
    const key = (await page.locator("#private-key").textContent()).trim();
    if (!/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/.test(key)) fail("the sheet shows no private key: " + key);
    if ((await page.locator("svg.qr").count()) < 1) fail("the sheet has no QR code");
    await page.emulateMedia({ media: "print" });
    const chrome = await page.evaluate(() => getComputedStyle(document.querySelector(".top")).display);
    if (chrome !== "none") fail("the printed sheet still shows the navigation");
    await page.screenshot({ path: path.join(out, "1-kit-sheet-print.png"), fullPage: true });
    await page.emulateMedia({ media: "screen" });
    await page.getByLabel(/Last group of the private key/).fill(key.slice(-6).toLowerCase());
    await page.getByRole("button", { name: "I have it: keep this key" }).click();
    await page.waitForURL(/notice=key-kept/);
    if (!page.url().startsWith(url)) fail("the kit page left the ingress path: " + page.url());
    if (await page.getByText(key).count()) fail("the kept key is shown again");
    await page.screenshot({ path: path.join(out, "1-kit-kept-desktop.png"), fullPage: true });
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await page.waitForFunction(() => /Not protected yet/.test(document.querySelector("#verdict").textContent));

    await page.getByRole("button", { name: "Back up now" }).click();
    await page.waitForURL(/notice=started/);
    if (!page.url().startsWith(url)) fail("the button left the ingress path: " + page.url());
    // Live progress: the "Now" card follows the run until it says it is done.
    const sawRunning = page.locator("#live-body .step, #live-body progress").first()
      .waitFor({ timeout: 30000 }).then(() => true, () => false);
    await page.locator('#live-body .done[data-outcome="success"]').waitFor({ timeout: 90000 });
    const running = await sawRunning;
    await page.screenshot({ path: path.join(out, "2-overview-done-desktop.png"), fullPage: true });
    const runLink = page.locator("#live-body .done a");
    const runHref = await runLink.getAttribute("href");
    if (!runHref || !runHref.startsWith(new URL(url).pathname)) fail("the run link leaves the ingress path: " + runHref);

    // The page reloads itself to show the new state.
    await page.waitForFunction(() => /Your home is protected/.test(document.querySelector("#verdict").textContent), null, { timeout: 20000 });

    // Find the run from the Runs page, then its copies.
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    await page.locator("table tbody tr").first().waitFor();
    await page.locator("table tbody tr a").first().click();
    await page.waitForURL(/\/runs\/\d+$/);
    const runText = await page.locator("main").textContent();
    for (const want of ["Verified everywhere", "offsite", "Timeline", "SHA-256 of the backup"]) {
      if (!runText.includes(want)) fail("the run page lacks " + JSON.stringify(want));
    }
    await page.screenshot({ path: path.join(out, "3-run-desktop.png"), fullPage: true });
    await page.locator("table a", { hasText: "offsite" }).first().click();
    await page.waitForURL(/\/copies\?destination=offsite/);
    if ((await page.locator("table tbody tr").count()) < 1) fail("the copies page lists no copy");
    await page.screenshot({ path: path.join(out, "4-copies-desktop.png"), fullPage: true });
    if (!/Restore: .*device to plug in/.test(await page.locator("table tbody").textContent())) fail("the copies page does not count what a restore needs");

    // Before you restore: the copy's page names what the restore will need, read from the backup.
    await page.locator("table a", { hasText: "Restore…" }).first().click();
    await page.waitForURL(/\/restore$/);
    const ready = await page.locator("#ready-h").locator("..").textContent();
    for (const want of ["Hardware to plug in", "/dev/ttyUSB0", "Sign in again", "Google", "Home Assistant 2026.8.3"]) {
      if (!ready.includes(want)) fail("the Before you restore panel lacks " + JSON.stringify(want));
    }
    await page.locator("#ready-h").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(out, "4-restore-ready-desktop.png"), fullPage: true });
    await page.getByRole("link", { name: "Moving to new hardware" }).first().click();
    await page.waitForURL(/\/moving$/);
    const moving = await page.locator("main").textContent();
    for (const want of ["Plug in first", "/dev/ttyUSB0", "Afterwards, sign in again", "offsite"]) {
      if (!moving.includes(want)) fail("the moving page lacks " + JSON.stringify(want));
    }
    await page.screenshot({ path: path.join(out, "4-moving-desktop.png"), fullPage: true });

    // The kit, printed now, names them in its steps.
    await page.goto(url + "kit");
    await page.getByRole("button", { name: "Open the printable kit" }).click();
    const steps = await page.locator("pre.steps").textContent();
    if (!/ZHA: \/dev\/ttyUSB0/.test(steps) || !/- Google/.test(steps)) fail("the kit's steps do not name the stick and the sign-in: " + steps);
    await page.emulateMedia({ media: "print" });
    await page.screenshot({ path: path.join(out, "4-kit-ready-print.png"), fullPage: true });
    await page.emulateMedia({ media: "screen" });

    // Back up off-site, then update: from the overview's link to the Updates page, one button.
    await page.goto(url);
    await page.getByRole("link", { name: "Updates: back up off-site, then update" }).click();
    await page.waitForURL(/\/updates$/);
    const mosquitto = page.locator("tr", { hasText: "Mosquitto broker Update" });
    const row = await mosquitto.textContent();
    for (const want of ["6.4.0 → 6.5.0", "the add-on alone (core_mosquitto)"]) {
      if (!row.includes(want)) fail("the updates page lacks " + JSON.stringify(want) + " in " + row);
    }
    await page.screenshot({ path: path.join(out, "7-updates-desktop.png"), fullPage: true });
    await mosquitto.getByRole("button", { name: "Back up off-site, then update" }).click();
    await page.waitForURL(/notice=update-started/);
    if (!page.url().startsWith(url)) fail("the update button left the ingress path: " + page.url());
    // Both phases end on the board: the backup's run (#2), then the install, which names it.
    await page.locator('#live-body .done[data-outcome="updated"] a[href$="/runs/2"]').waitFor({ timeout: 90000 });
    await page.screenshot({ path: path.join(out, "7-updated-desktop.png"), fullPage: true });

    // Add a cloud drive, from the destinations page.
    await page.goto(url + "destinations");
    await page.locator("#add-drive").click();
    await page.waitForURL(/\/drives$/);
    if (!/rclone authorize "drive"/.test(await page.locator(".providers").textContent())) fail("the page does not show the authorize command");
    await page.fill("#name", "gdrive");
    await page.fill("#answer", "4/0AeanS0b-a-code-not-the-answer");
    await page.locator("#connect-form button[type=submit]").click();
    await page.waitForSelector("#drive-error");
    if (!/---> and <---End paste/.test(await page.locator("#drive-error").textContent())) fail("a wrong answer should say what to paste");
    if ((await page.inputValue("#answer")) !== "") fail("a refused answer is shown again");
    await page.screenshot({ path: path.join(out, "6-drive-refused-desktop.png"), fullPage: true });
    await page.fill("#section", "[usb]\ntype = local\n");
    await page.fill("#import-folder", driveDir);
    await page.locator("#import-form button[type=submit]").click();
    await page.waitForSelector("#connected");
    const snippet = await page.locator("#connected pre").textContent();
    if (!snippet.includes("type: rclone") || !snippet.includes(`usb:${driveDir}`)) fail("the snippet does not name the remote: " + snippet);
    if (!/usb/.test(await page.locator("#remotes").textContent())) fail("the connected remote is not listed");
    await page.screenshot({ path: path.join(out, "6-drive-connected-desktop.png"), fullPage: true });

    // Phone width, light and dark: nothing wider than the screen.
    for (const scheme of ["light", "dark"]) {
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: scheme, isMobile: true, hasTouch: true });
      const p = await phone.newPage();
      watch(p);
      for (const [name, where] of [["overview", ""], ["runs", "runs"], ["copies", "copies"], ["destinations", "destinations"], ["kit", "kit"], ["updates", "updates"]]) {
        await p.goto(url + where);
        const wide = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (wide > 2) fail(`${name} at phone width scrolls sideways by ${wide}px (${scheme})`);
        await p.screenshot({ path: path.join(out, `5-${name}-phone-${scheme}.png`), fullPage: true });
      }
      const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
      if (scheme === "dark" && bg === "rgb(250, 250, 250)") fail("dark mode kept the light background");
      await phone.close();
    }
    if (errors.length) fail("the page reported errors: " + errors.join(" | "));
    console.log("kit key: " + key);
    console.log(`browser test passed (progress seen while running: ${running})`);
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e && e.stack || String(e)));

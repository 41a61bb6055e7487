// Open notebooks/08_explore.ipynb in JupyterLab, run all cells, wait for the explorer to draw, take a screenshot
// with the explorer's cell at the top. Fails if the sliders do not start at the model's validated thresholds,
// or if a notification covers the page.
// Usage: node explorer_screenshot.mjs URL OUT.png [SCORE]   (run_browser_check.sh starts JupyterLab and calls this;
// SCORE: the model's validated score threshold, as the slider shows it, e.g. 0.772)
import { chromium } from "playwright-core";

const [url, out, expected] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
try {
  await page.goto(url);
  await page.waitForSelector(".jp-Notebook", { timeout: 120000 });
  // the kernel is started and connected (before that, the execution indicator already reads "idle")
  await page.waitForFunction(() => /\(ipykernel\) \| Idle/.test(document.querySelector(".jp-StatusBar-Widget")?.innerText),
                             null, { timeout: 120000 });
  await page.keyboard.press("Control+b");  // close the file browser: room for the explorer
  await page.click(".lm-MenuBar-itemLabel:text-is('Run')");
  await page.click(".lm-Menu-itemLabel:text-is('Run All Cells')");
  await page.waitForSelector(".widget-slider", { timeout: 300000 });
  // the PR curve, the two galleries and the viewer: four pictures inside the explorer's outputs
  await page.waitForFunction(() => document.querySelectorAll(".widget-output img").length >= 4, null,
                             { timeout: 300000 });
  await page.waitForSelector(".jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: 300000 });
  await page.waitForTimeout(2000);
  const cell = page.locator(".jp-CodeCell", { has: page.locator(".widget-slider") }).first();
  await cell.evaluate((el) => el.scrollIntoView({ block: "start" }));
  await page.waitForTimeout(1000);
  const score = await page.locator(".widget-slider .widget-readout").first().innerText();
  const toasts = await page.locator(".Toastify__toast").count();
  await page.screenshot({ path: out, fullPage: false });
  console.log(`screenshot: ${out}; score slider starts at ${score}; notifications on the page: ${toasts}`);
  if (toasts > 0) throw new Error("a notification covers the page");
  if (expected && score.trim() !== expected) throw new Error(`the score slider starts at ${score}, not ${expected}`);
} catch (err) {
  await page.screenshot({ path: `${out}.failed.png` }).catch(() => {});
  console.error(`failed; the page as it was: ${out}.failed.png`);
  throw err;
} finally {
  await browser.close();
}

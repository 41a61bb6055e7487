// Open notebooks/08_explore.ipynb in JupyterLab, run all cells, wait for the widgets, take a screenshot.
// Usage: node explorer_screenshot.mjs URL OUT.png   (run_browser_check.sh starts JupyterLab and calls this)
import { chromium } from "playwright-core";

const [url, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
await page.goto(url);
await page.waitForSelector(".jp-Notebook", { timeout: 120000 });
await page.waitForSelector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-mod-idle", { timeout: 120000 })
  .catch(() => {});
await page.waitForTimeout(3000);  // the kernel connects
await page.click(".lm-MenuBar-itemLabel:text-is('Run')");
await page.click(".lm-Menu-itemLabel:text-is('Run All Cells')");
await page.waitForSelector(".widget-slider", { timeout: 600000 });
await page.waitForTimeout(5000);  // galleries and the viewer draw
const widgets = page.locator(".widget-slider").first();
await widgets.scrollIntoViewIfNeeded();
await page.screenshot({ path: out, fullPage: false });
console.log(`screenshot: ${out}`);
await browser.close();

// Drives `sigil ui` in real headless Chromium (Debian's /usr/bin/chromium) through
// playwright-core: traces list -> trace tree -> LM span -> compile run -> artifacts ->
// live update. Run by crates/sigil-cli/tests/ui_browser.rs, which builds the store,
// starts the server and reads this script's output lines:
//   STEP <name>         progress
//   LIVE-WAIT           the test should now run a compile into the store
//   FAIL <message>      an assertion failed (exit code 1)
// Env: SIGIL_UI_URL, SIGIL_UI_SHOTS (screenshot folder), SIGIL_UI_CHROMIUM.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const url = process.env.SIGIL_UI_URL;
const shots = process.env.SIGIL_UI_SHOTS;
const exe = process.env.SIGIL_UI_CHROMIUM || "/usr/bin/chromium";
if (!url || !shots) {
  console.log("FAIL SIGIL_UI_URL and SIGIL_UI_SHOTS must be set");
  process.exit(1);
}
mkdirSync(shots, { recursive: true });

class Fail extends Error {}
function check(cond, message) {
  if (!cond) throw new Fail(message);
}
function step(name) {
  console.log(`STEP ${name}`);
}

const profile = mkdtempSync(join(tmpdir(), "sigil-ui-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: exe,
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = context.pages()[0] || (await context.newPage());
const dialogs = [];
const pageErrors = [];
const consoleErrors = [];
page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });

const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const text = (sel) => page.locator(sel).first().textContent();

let code = 0;
try {
  // ---- traces list with filters
  step("traces");
  await page.goto(url);
  await page.waitForSelector("#traces-table tbody tr.trace-row");
  const all = await page.locator("tr.trace-row").count();
  check(all === 8, `8 traces (4 program calls, an agent run, 3 compile runs), saw ${all}`);
  await page.selectOption("#filter-compiled", "compiled");
  await page.click("#filter-apply");
  await page.waitForFunction(() => document.querySelectorAll("tr.trace-row").length === 1);
  check((await text("tr.trace-row")).includes("2 + 2") && (await page.locator("tr.trace-row .badge.compiled").count()) === 1, "the compiled call, marked");
  await page.selectOption("#filter-compiled", "");
  await page.selectOption("#filter-status", "error");
  await page.click("#filter-apply");
  await page.waitForFunction(() => document.querySelectorAll("tr.trace-row").length === 1);
  check((await text("tr.trace-row")).includes("geo_qa"), "the failed call is geo_qa's");
  await page.selectOption("#filter-status", "");
  await page.fill("#filter-program", "geo_qa");
  await page.click("#filter-apply");
  await page.waitForFunction(() => document.querySelectorAll("tr.trace-row").length === 4);
  await shot("01-traces");

  // ---- a trace: span tree with timing bars
  step("trace");
  await page.locator("tr.trace-row", { hasText: "capital of France" }).click();
  await page.waitForSelector("#span-tree .span-row");
  const kinds = await page.locator("#span-tree .span-row").evaluateAll((rows) => rows.map((r) => r.dataset.kind));
  check(JSON.stringify(kinds) === JSON.stringify(["module", "format", "lm", "parse"]), `span tree kinds ${kinds}`);
  const bars = await page.locator("#span-tree .bar").evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().width));
  check(bars.length === 4 && bars.every((w) => w > 0), `a visible timing bar per span: ${bars}`);

  // ---- the LM span: prompt, raw completion, parsed fields, tokens, cost
  step("lm span");
  await page.click('#span-tree .span-row[data-kind="lm"]');
  await page.waitForSelector("#lm-completion");
  const completion = await text("#lm-completion");
  check(completion.includes("<script>alert(1)</script> Paris"), `raw completion shown as text: ${completion}`);
  const prompt = await text("#lm-prompt");
  check(prompt.includes("Answer the question briefly.") && prompt.includes("What is the capital of France?"), "rendered prompt shown");
  check((await page.locator("#lm-prompt .message").count()) === 2, "system and user messages");
  const parsed = await text("#parsed-fields");
  check(parsed.includes("answer") && parsed.includes("<script>alert(1)</script> Paris"), `parsed fields: ${parsed}`);
  const detail = await text("#lm-detail");
  check(/tokens in\s*\d+/.test(detail) && /tokens out\s*\d+/.test(detail) && detail.includes("cost"), `tokens and cost: ${detail}`);
  const scripts = await page.evaluate(() => [...document.querySelectorAll("script")].map((s) => s.getAttribute("src")));
  check(JSON.stringify(scripts) === JSON.stringify(["/app.js", "/runs.js"]), `no injected script element: ${scripts}`);
  await page.waitForTimeout(300);
  check(dialogs.length === 0, `no dialog fired: ${dialogs}`);
  await shot("02-trace-lm-span");

  // ---- an agent run: the ReAct span shows its trajectory as steps
  step("trajectory");
  await page.click("#nav-traces");
  await page.waitForSelector("#traces-table tbody tr.trace-row");
  await page.locator("tr.trace-row", { hasText: "time_agent" }).click();
  await page.waitForSelector("#span-tree .span-row");
  await page.locator('#span-tree .span-row[data-kind="module"]', { hasText: "ReAct" }).first().click();
  await page.waitForSelector("#trajectory .trajectory-step");
  const stepsShown = await page.locator("#trajectory .trajectory-step").count();
  check(stepsShown === 2, `two trajectory steps, saw ${stepsShown}`);
  const first = await text("#trajectory .trajectory-step");
  check(first.includes("Look up the time.") && first.includes("clock") && first.includes("Asia/Tokyo") && first.includes("21:00 in Asia/Tokyo"),
    `the first step's thought, tool call and observation: ${first}`);
  const toolRows = await page.locator('#span-tree .span-row[data-kind="tool"]').count();
  check(toolRows === 2, `a TOOL span per call (clock, finish), saw ${toolRows}`);
  await shot("08-react-trajectory");

  // ---- compile runs: random search
  step("compile runs");
  await page.click("#nav-compile");
  await page.waitForSelector("#runs-table tr.run-row");
  check((await page.locator("tr.run-row").count()) === 3, "three compile runs (random search, COPRO, a fine-tune)");
  await page.locator("tr.run-row", { hasText: "BootstrapFewShotWithRandomSearch" }).click();
  await page.waitForSelector("#score-chart");
  const points = await page.locator("#score-chart circle.point").count();
  check(points === 6, `6 trial points, saw ${points}`);
  const bestPath = await page.locator("#best-line").getAttribute("d");
  check(bestPath && bestPath.startsWith("M") && bestPath.includes("V"), `best-so-far line: ${bestPath}`);
  check((await page.locator("#trials-table tr.trial-row").count()) === 6, "6 trials listed");
  check((await text("#best-score")).includes("1.000"), "best score 1.000");
  const spend = await text("#spend");
  check(/\d+ LM calls/.test(spend), `spend: ${spend}`);
  const gridRows = await page.locator("#score-grid tbody tr").count();
  check(gridRows === 10, `10 valset examples in the grid, saw ${gridRows}`);
  const cells = await page.locator("#score-grid td.cell.ok").count();
  check(cells === 60, `every example x trial cell filled, saw ${cells}`);
  const scored = await page.locator("#score-grid td.cell .cell-score").count();
  check(scored === 60, `every cell shows its example's score, saw ${scored}`);
  const passing = await page.locator("#score-grid td.cell.pass").count();
  check(passing > 0 && passing <= 60, `cells coloured by score, ${passing} passing`);
  await page.locator('#trials-table tr.trial-row[data-trial="6"]').click();
  await page.waitForFunction(() => (document.querySelector("#candidate-diff h3") || {}).textContent?.startsWith("Trial 6"));
  const diff = await text("#candidate-diff");
  check(/Demos: 2 \(2 added, 0 removed, 0 kept\)/.test(diff), `demos diffed against zero-shot: ${diff}`);
  check((await page.locator("#candidate-diff .demo-list li.add").count()) === 2, "two added demos listed");
  await shot("03-compile-random-search");

  // A grid cell opens that example's program call inside the whole run's span tree.
  step("grid cell");
  await page.locator("#score-grid td.cell.ok").first().click();
  await page.waitForSelector("#span-tree .span-row.selected");
  check((await page.locator("#span-tree .span-row.selected").getAttribute("data-kind")) === "module", "the selected span is the program call");
  const treeKinds = await page.locator("#span-tree .span-row").evaluateAll((rows) => rows.map((r) => r.dataset.kind));
  check(treeKinds[0] === "compile" && treeKinds.filter((k) => k === "trial").length === 6, `run tree: compile root and 6 trials`);
  check((await text("#span-detail")).includes("what is the code for 100?"), "the call's inputs shown");
  const folded = await page.locator("#span-tree .span-row").count();
  check(folded < 150, `a big run starts folded: ${folded} rows`);
  await page.locator("#span-tree .toggle", { hasText: "▸" }).first().click();
  await page.waitForFunction((n) => document.querySelectorAll("#span-tree .span-row").length > n, folded);
  await shot("03b-run-as-trace");

  // ---- compile runs: COPRO (instructions diffed)
  step("copro");
  await page.click("#nav-compile");
  await page.locator("tr.run-row", { hasText: "Copro" }).click();
  await page.waitForSelector("#trials-table tr.trial-row");
  const n = await page.locator("#trials-table tr.trial-row").count();
  check(n >= 2, `COPRO trials listed: ${n}`);
  let found = false;
  for (let i = 1; i < n && !found; i++) {
    await page.locator("#trials-table tr.trial-row").nth(i).click();
    await page.waitForFunction((k) => (document.querySelector("#candidate-diff h3") || {}).textContent?.startsWith(`Trial ${k}:`), i + 1);
    found = (await page.locator("#candidate-diff ins").count()) > 0 && (await page.locator("#candidate-diff del").count()) > 0;
  }
  check(found, "a COPRO candidate's instruction is shown as a word diff against the baseline");
  await shot("04-compile-copro");

  // ---- compile runs: a fine-tune's loss curve
  step("finetune");
  await page.click("#nav-compile");
  await page.locator("tr.run-row", { hasText: "BootstrapFinetune" }).click();
  await page.waitForSelector("#loss-chart");
  const epochs = await page.locator("#loss-chart circle.loss-point").count();
  check(epochs === 3, `three epochs on the loss curve: ${epochs}`);
  const ys = await page.locator("#loss-chart circle.loss-point").evaluateAll((cs) => cs.map((c) => Number(c.getAttribute("cy"))));
  check(ys[0] < ys[1] && ys[1] < ys[2], `the falling loss is drawn falling: ${ys}`);
  check((await text("#loss-legend")).includes("last loss 0.6000"), "the legend gives the last loss");
  await shot("04b-compile-finetune");

  // ---- artifacts: one shown, two diffed
  step("artifacts");
  await page.click("#nav-artifacts");
  await page.waitForSelector("#artifact-list li");
  check((await page.locator("#artifact-list li").count()) === 2, "two artifacts listed");
  await page.locator("#artifact-list a", { hasText: "copro.sigil.toml" }).click();
  await page.waitForSelector("#artifact-rendered");
  check((await text("#artifact-rendered")).includes("MAGIC"), "copro artifact rendered with its instruction");
  await page.selectOption("#artifact-a", "random_search.sigil.toml");
  await page.selectOption("#artifact-b", "copro.sigil.toml");
  await page.click("#artifact-go");
  await page.waitForSelector("#artifact-diff .line.add");
  check((await page.locator("#artifact-diff .line.add").count()) > 0 && (await page.locator("#artifact-diff .line.del").count()) > 0, "added and removed lines");
  check((await text("#artifact-compare")).length > 0, "structural comparison shown");
  await shot("05-artifact-diff");

  // ---- live: a compile run written by another process appears without a reload
  step("live");
  await page.click("#nav-compile");
  await page.waitForSelector("#runs-table tr.run-row");
  const before = await page.locator("tr.run-row").count();
  const marker = await page.evaluate(() => { window.__noReload = true; return true; });
  console.log("LIVE-WAIT");
  let sawRunning = false;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if ((await page.locator("#runs-table .badge.running").count()) > 0) {
      if (!sawRunning) await shot("06-live-running");
      sawRunning = true;
    }
    const rows = await page.locator("tr.run-row").count();
    const running = await page.locator("#runs-table .badge.running").count();
    if (rows === before + 1 && running === 0 && sawRunning) break;
    await page.waitForTimeout(100);
  }
  check(await page.evaluate(() => window.__noReload === true), "the page was not reloaded");
  check(marker && sawRunning, "the run showed as running while it ran");
  check((await page.locator("tr.run-row").count()) === before + 1, "the finished run is listed");
  await shot("07-live-finished");

  check(dialogs.length === 0, `no dialog fired: ${dialogs}`);
  check(pageErrors.length === 0, `no page errors: ${pageErrors}`);
  check(consoleErrors.length === 0, `no console errors (CSP violations show here): ${consoleErrors}`);
  step("done");
} catch (e) {
  code = 1;
  console.log(`FAIL ${e instanceof Fail ? e.message : e.stack || e}`);
  try { await shot("failure"); } catch (_) { /* the page may be gone */ }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);

/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `b2betl report` in a real browser: the page the binary writes, opened from disk in Chromium.
 * The ridge chart draws one ridge per job and one bump per run, heights on a log scale, the
 * newest day at the bottom; the tooltip tells the hovered run; the screenshot is red exactly
 * where failed runs are, green where succeeded and partial ones are (interrupted and skipped
 * ones are grey), and nothing is drawn outside the chart's frame; the page logs no error and
 * requests nothing but itself.
 */
import assert from 'node:assert/strict';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { spanText } from '../../src/report/run-view.js';
import { startBrowser, type Browser, type WatchedPage } from '../support/browser.js';
import { repoRoot, runCli, scratchProject } from '../support/cli.js';
import { EMPTY_DAY, manyJobs, SEEDED_JOBS, seedReportLedger, type SeededJob, type SeededRun } from '../support/report-ledger.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

/** A project whose ledger holds the seeded month, and the report the binary wrote of it. */
async function reportOf(jobs: readonly SeededJob[]): Promise<{ project: Project; runs: SeededRun[]; file: string; now: Date }> {
  const project = await scratchProject({ 'etl.config.yaml': 'ledger: ./state/ledger.sqlite\n' });
  const now = new Date();
  const runs = seedReportLedger(path.join(project.dir, 'state', 'ledger.sqlite'), { now, jobs });
  const result = await runCli(['report', '--days', '30', '--out', 'out/report.html'], project.dir);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`wrote out/report\\.html: ${runs.length} run\\(s\\) of ${jobs.length} job\\(s\\)`));
  return { project, runs, file: path.join(project.dir, 'out', 'report.html'), now };
}

/** Opens the report and waits until the chart is drawn. */
async function open(browser: Browser, file: string, viewport: { width: number; height: number }): Promise<WatchedPage> {
  const watched = await browser.page(viewport);
  await watched.page.goto(pathToFileURL(file).href);
  await watched.page.waitForSelector('svg.ridge-plot path.bump');
  return watched;
}

/** Saturated colours of the chart: the red of failed bumps and the green of the others. */
function colourAt(png: PNG, x: number, y: number): 'red' | 'green' | undefined {
  const i = (png.width * y + x) * 4;
  const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
  if (r > g + 60 && r > b + 50) return 'red';
  if (g > r + 30 && g > b + 20) return 'green';
  return undefined;
}

describe('b2betl report in Chromium', { timeout: 240_000 }, () => {
  let browser: Browser;
  let month: Awaited<ReturnType<typeof reportOf>>;
  let view: WatchedPage;

  before(async () => {
    browser = await startBrowser();
    month = await reportOf(SEEDED_JOBS);
    view = await open(browser, month.file, { width: 1400, height: 1200 });
  });

  after(async () => {
    await browser?.close();
    await month?.project.cleanup();
  });

  it('the seeded month covers what the chart must show', () => {
    const seconds = month.runs.map((run) => run.duration_ms / 1000);
    assert.ok(Math.min(...seconds) < 1.5 && Math.max(...seconds) > 6500, 'durations from 1 s to 2 h');
    for (const status of ['failed', 'partial', 'skipped', 'interrupted']) assert.ok(month.runs.some((run) => run.status === status), `a ${status} run`);
    const days = new Set(month.runs.map((run) => run.started_at.slice(0, 10)));
    assert.equal(days.size, 29, 'one day of the 30 has no run');
  });

  it('is one file that requests nothing and logs no error', async () => {
    const html = await readFile(month.file, 'utf8');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import|url\((?!#)/i, 'no script, style or font is fetched');
    assert.deepEqual(view.requests, [pathToFileURL(month.file).href]);
    assert.deepEqual(view.errors, []);
  });

  it('draws one ridge per job and one bump per run, each run where its job and day are', async () => {
    const drawn = await view.page.$$eval('svg.ridge-plot g.ridge', (ridges) =>
      ridges.map((ridge) => ({ job: ridge.getAttribute('data-job'), runs: [...ridge.querySelectorAll('path.bump')].map((bump) => bump.getAttribute('data-run')) })),
    );
    assert.deepEqual(drawn.map((ridge) => ridge.job), SEEDED_JOBS.map((job) => job.name).sort());
    for (const ridge of drawn) {
      assert.deepEqual(ridge.runs.sort(), month.runs.filter((run) => run.job === ridge.job).map((run) => run.id).sort(), `the bumps of ${ridge.job}`);
    }
    assert.equal(await view.page.locator('path.bump').count(), month.runs.length);
    for (const status of ['failed', 'skipped', 'interrupted']) {
      assert.equal(await view.page.locator(`path.bump[data-status="${status}"]`).count(), month.runs.filter((run) => run.status === status).length, status);
    }
  });

  it('puts the newest day at the bottom, marks the day without runs, and sizes bumps by log duration', async () => {
    const boxes = await view.page.$$eval('path.bump', (bumps) =>
      bumps.map((bump) => {
        const box = bump.getBoundingClientRect();
        return { id: bump.getAttribute('data-run')!, top: box.top, bottom: box.bottom, height: box.height };
      }),
    );
    const byId = new Map(boxes.map((box) => [box.id, box]));
    const runs = [...month.runs].sort((a, b) => a.started_at.localeCompare(b.started_at));
    // a later day's baseline lies lower
    for (let i = 1; i < runs.length; i++) {
      if (runs[i].started_at.slice(0, 10) === runs[i - 1].started_at.slice(0, 10)) continue;
      assert.ok(byId.get(runs[i].id)!.bottom > byId.get(runs[i - 1].id)!.bottom, `${runs[i].started_at} below ${runs[i - 1].started_at}`);
    }
    // a longer run is a taller bump, and 1 s to 2 h spans a readable range, not 7,200 times
    const bySeconds = [...month.runs].sort((a, b) => a.duration_ms - b.duration_ms);
    for (let i = 1; i < bySeconds.length; i++) assert.ok(byId.get(bySeconds[i].id)!.height >= byId.get(bySeconds[i - 1].id)!.height - 0.5);
    const shortest = byId.get(bySeconds[0].id)!.height;
    const longest = byId.get(bySeconds.at(-1)!.id)!.height;
    assert.ok(shortest >= 5, `a 1 s run still shows (${shortest} px)`);
    assert.ok(longest / shortest < 20, `a 2 h run is not thousands of times taller (${longest} / ${shortest} px)`);
    const logRatio = Math.log(1 + bySeconds.at(-1)!.duration_ms / 1000) / Math.log(1 + bySeconds[Math.floor(bySeconds.length / 2)].duration_ms / 1000);
    const median = byId.get(bySeconds[Math.floor(bySeconds.length / 2)].id)!.height;
    assert.ok(Math.abs(longest / median - logRatio) < logRatio * 0.35, `heights follow log(1 + seconds): ${longest / median} vs ${logRatio}`);
    const emptyDay = new Date(Date.UTC(month.now.getUTCFullYear(), month.now.getUTCMonth(), month.now.getUTCDate() - 29 + EMPTY_DAY)).toISOString().slice(0, 10);
    const labels = await view.page.$$eval('svg.ridge-days .tick text', (texts) => texts.map((text) => ({ title: text.querySelector('title')?.textContent, empty: text.classList.contains('empty-day') })));
    assert.equal(labels.length, 30);
    assert.deepEqual(labels.filter((label) => label.empty).map((label) => label.title), [`${emptyDay}: no runs`]);
    assert.equal(labels.at(-1)!.title, month.now.toISOString().slice(0, 10), 'today is the last row');
  });

  it('tells the hovered run: job, date and time, status, duration and rows', async () => {
    const chosen = month.runs.find((run) => run.job === 'billing_invoices' && run.status === 'failed') ?? month.runs.find((run) => run.status === 'failed')!;
    const point = await view.page.evaluate((id) => {
      const bump = document.querySelector(`path.bump[data-run="${id}"]`)!;
      bump.scrollIntoView({ block: 'center' });
      const box = bump.getBoundingClientRect();
      for (let y = box.bottom - 2; y > box.top; y--) {
        const x = box.left + box.width / 2;
        if (document.elementFromPoint(x, y) === bump) return { x, y };
      }
      return undefined;
    }, chosen.id);
    assert.ok(point, 'the chosen bump shows');
    await view.page.mouse.move(point.x, point.y);
    const tooltip = view.page.locator('#tooltip');
    await tooltip.waitFor({ state: 'visible' });
    const when = `${chosen.started_at.replace('T', ' ').slice(0, 16)} UTC`;
    assert.equal(await tooltip.textContent(), `${chosen.job}\n${when}\nfailed · ${spanText(chosen.duration_ms)} · 0 row(s) loaded`);
    await view.page.mouse.move(1, 1);
    await tooltip.waitFor({ state: 'hidden' });

    // clicked, it opens the run's details
    await view.page.mouse.click(point.x, point.y);
    const dialog = view.page.locator('#run-dialog');
    await dialog.waitFor({ state: 'visible' });
    const text = await dialog.textContent();
    assert.match(text!, new RegExp(chosen.id));
    assert.match(text!, /connect ECONNREFUSED 10\.0\.0\.7:5432[\s\S]*caused by: Error: socket hang up/);
    assert.match(text!, /cursor before/);
    await view.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  it('is red where failed runs are, green where the others are, and draws nothing outside its frame', async () => {
    const { page } = view;
    await page.locator('#ridge').evaluate((chart) => chart.scrollIntoView({ block: 'start' }));
    const layout = await page.evaluate(() => {
      const frame = document.querySelector('svg.ridge-plot rect.frame')!.getBoundingClientRect();
      const chart = document.getElementById('ridge')!.getBoundingClientRect();
      return { frame: { left: frame.left, top: frame.top, right: frame.right, bottom: frame.bottom }, chart: { left: chart.left, top: chart.top, right: chart.right, bottom: chart.bottom }, height: window.innerHeight };
    });
    assert.ok(layout.chart.bottom <= layout.height, 'the whole chart is in the viewport');
    const png = PNG.sync.read(await page.screenshot());
    const red: [number, number][] = [];
    const green: [number, number][] = [];
    let outside = 0;
    for (let y = Math.floor(layout.chart.top); y < Math.ceil(layout.chart.bottom); y++) {
      for (let x = Math.floor(layout.chart.left); x < Math.ceil(layout.chart.right); x++) {
        const colour = colourAt(png, x, y);
        if (!colour) continue;
        const inFrame = x >= layout.frame.left && x < layout.frame.right && y >= layout.frame.top && y < layout.frame.bottom;
        if (!inFrame) outside++;
        else if (x % 2 === 0 && y % 2 === 0) (colour === 'red' ? red : green).push([x, y]);
      }
    }
    assert.equal(outside, 0, 'no coloured pixel outside the frame');
    // what lies under each coloured pixel (or right beside it: edges are blended)
    const statuses = await page.evaluate(
      ({ red, green }) => {
        const near = (x: number, y: number) => {
          const found = new Set<string>();
          for (const [dx, dy] of [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1], [-1, -1], [1, 1], [-1, 1], [1, -1]]) {
            const element = document.elementFromPoint(x + dx + 0.5, y + dy + 0.5);
            found.add(element?.classList.contains('bump') ? element.getAttribute('data-status')! : 'none');
          }
          return [...found];
        };
        return { red: red.map(([x, y]) => near(x, y)), green: green.map(([x, y]) => near(x, y)) };
      },
      { red, green },
    );
    assert.ok(red.length > 200 && green.length > 2000, `enough coloured pixels (${red.length} red, ${green.length} green)`);
    const wrongRed = statuses.red.filter((found) => !found.includes('failed'));
    const wrongGreen = statuses.green.filter((found) => !found.some((status) => status === 'succeeded' || status === 'partial'));
    assert.equal(wrongRed.length, 0, `red pixels off failed runs: ${JSON.stringify(wrongRed.slice(0, 5))}`);
    assert.equal(wrongGreen.length, 0, `green pixels off succeeded or partial runs: ${JSON.stringify(wrongGreen.slice(0, 5))}`);

    // and every failed run that shows is red in its middle, every other one green
    const centres = await page.$$eval('path.bump', (bumps) =>
      bumps.flatMap((bump) => {
        const box = bump.getBoundingClientRect();
        const x = Math.round(box.left + box.width / 2);
        for (let y = Math.round(box.bottom - 3); y > box.top + box.height / 3; y--) {
          if (document.elementFromPoint(x + 0.5, y + 0.5) === bump) return [{ status: bump.getAttribute('data-status')!, x, y }];
        }
        return [];
      }),
    );
    assert.ok(centres.length >= month.runs.length * 0.8, `most bumps show (${centres.length} of ${month.runs.length})`);
    // interrupted and skipped runs are grey: neither red nor green
    const expected = (status: string) => (status === 'failed' ? 'red' : status === 'succeeded' || status === 'partial' ? 'green' : undefined);
    for (const centre of centres) assert.equal(colourAt(png, centre.x, centre.y), expected(centre.status), JSON.stringify(centre));
    assert.ok(centres.some((centre) => expected(centre.status) === undefined), 'grey runs show too');
    assert.ok(centres.filter((centre) => centre.status === 'failed').length >= month.runs.filter((run) => run.status === 'failed').length * 0.7);
  });

  it('after the quick start, draws the example jobs\' real runs, with the details those runs recorded', async () => {
    const project = await scratchProject();
    try {
      await cp(path.join(repoRoot, 'examples'), project.dir, { recursive: true, filter: (source) => !/\.b2betl|\.duckdb|b2betl-report/.test(source) });
      for (let i = 0; i < 2; i++) {
        const ran = await runCli(['run', 'jobs'], project.dir);
        assert.equal(ran.code, 0, ran.stderr);
      }
      const wrote = await runCli(['report'], project.dir);
      assert.equal(wrote.code, 0, wrote.stderr);
      const history = JSON.parse((await runCli(['history', '--json'], project.dir)).stdout) as { id: string; job: string; status: string }[];
      const jobs = [...new Set(history.map((run) => run.job))].sort();
      assert.ok(jobs.length >= 3);
      const watched = await open(browser, path.join(project.dir, 'b2betl-report.html'), { width: 1280, height: 900 });
      assert.deepEqual(await watched.page.$$eval('g.ridge', (ridges) => ridges.map((ridge) => ridge.getAttribute('data-job'))), jobs);
      // every run is drawn, the skipped re-runs too
      const drawn = history;
      assert.ok(drawn.some((run) => run.status === 'skipped'));
      assert.deepEqual((await watched.page.$$eval('path.bump', (bumps) => bumps.map((bump) => bump.getAttribute('data-run')))).sort(), drawn.map((run) => run.id).sort());
      const loaded = history.find((run) => run.job === 'messy_orders' && run.status === 'succeeded')!;
      await watched.page.locator(`#runs tr[data-run="${loaded.id}"]`).click();
      const dialog = watched.page.locator('#run-dialog');
      await dialog.waitFor({ state: 'visible' });
      const text = (await dialog.textContent())!;
      for (const part of ['messy_orders', 'Timeline', 'extract', 'commit', 'Units', 'cursor before', 'streamed through b2betl']) assert.ok(text.includes(part), `${part} in ${text}`);
      assert.deepEqual(watched.errors, []);
      await watched.page.close();
    } finally {
      await project.cleanup();
    }
  });

  it('stays readable at 2 jobs and at 60: columns fill the width or scroll, names never overlap', async () => {
    for (const count of [2, 60]) {
      const jobs = count === 2 ? SEEDED_JOBS.slice(1, 3) : manyJobs(60);
      const small = await reportOf(jobs);
      try {
        const watched = await open(browser, small.file, { width: 1280, height: 900 });
        const geometry = await watched.page.evaluate(() => {
          const scroll = document.querySelector('#ridge .chart-scroll')!;
          const plot = document.querySelector('svg.ridge-plot')!.getBoundingClientRect();
          const names = [...document.querySelectorAll<SVGTextElement>('svg.ridge-plot .ridge-jobs text')].map((text) => {
            const box = text.getBoundingClientRect();
            const slant = Number(text.getAttribute('data-slant') ?? 0);
            // the name's anchor, its height and how far it reaches: text aslant is parallel to its neighbours
            const anchor = text.getStartPositionOfChar(0).matrixTransform(text.getScreenCTM()!);
            return { left: box.left, right: box.right, top: box.top, anchor: anchor.x, slant, height: text.getBBox().height, whole: text.firstChild!.textContent === text.querySelector('title')!.textContent, inside: box.left >= plot.left - 0.5 && box.right <= plot.right + 0.5 && box.top >= plot.top - 0.5 };
          });
          const ridges = [...document.querySelectorAll('g.ridge')].map((ridge) => ridge.getBoundingClientRect().width);
          return {
            page: document.documentElement.scrollWidth,
            viewport: window.innerWidth,
            scrollWidth: scroll.scrollWidth,
            clientWidth: scroll.clientWidth,
            names,
            narrowest: Math.min(...ridges),
            ridges: ridges.length,
            bumps: document.querySelectorAll('path.bump').length,
          };
        });
        assert.equal(geometry.ridges, count);
        assert.equal(geometry.bumps, small.runs.length);
        assert.ok(geometry.page <= geometry.viewport, 'the page itself never scrolls sideways');
        if (count === 2) assert.ok(geometry.scrollWidth <= geometry.clientWidth + 1, 'two jobs fill the width without scrolling');
        else assert.ok(geometry.scrollWidth > geometry.clientWidth, 'sixty jobs scroll inside the chart');
        const sorted = geometry.names.sort((a, b) => a.anchor - b.anchor);
        assert.equal(sorted.length, count);
        for (const name of sorted) assert.ok(name.whole && name.inside, `every name is written whole, inside the chart: ${JSON.stringify(name)}`);
        for (let i = 1; i < sorted.length; i++) {
          const apart = sorted[i].slant ? (sorted[i].anchor - sorted[i - 1].anchor) * Math.sin(sorted[i].slant) >= sorted[i].height : sorted[i].left >= sorted[i - 1].right;
          assert.ok(apart, `job names do not overlap: ${JSON.stringify([sorted[i - 1], sorted[i]])}`);
        }
        assert.equal(sorted.some((name) => name.slant), count === 60, 'long names of narrow columns are written aslant');
        assert.deepEqual(watched.errors, []);
        await watched.page.close();
      } finally {
        await small.project.cleanup();
      }
    }
  });
});

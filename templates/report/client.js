/* The report page: summary, jobs table, the duration ridge chart and the run list, drawn with d3. */
(() => {
  'use strict';
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const runsById = new Map(data.runs.map((run) => [run.id, run]));
  /** A run's colour in the chart: green for succeeded or partial, red for failed, grey for the runs that loaded nothing by design (interrupted, skipped). */
  const tone = (status) => (status === 'succeeded' || status === 'partial' ? 'ok' : status === 'failed' ? 'bad' : 'other');
  const seconds = (run) => (run.duration_ms === null ? null : run.duration_ms / 1000);
  const utc = (iso, length = 16) => (iso ? `${iso.replace('T', ' ').slice(0, length)} UTC` : '');
  const number = d3.format(',');
  const tooltip = d3.select('#tooltip');

  function statusBadge(selection, status) {
    selection.append('span').attr('class', `status ${status}`).text(status);
  }

  function showTooltip(event, lines) {
    tooltip.attr('hidden', null).text(lines.join('\n'));
    const node = tooltip.node();
    const x = Math.min(event.clientX + 14, window.innerWidth - node.offsetWidth - 8);
    const y = event.clientY + 14 + node.offsetHeight > window.innerHeight ? event.clientY - node.offsetHeight - 10 : event.clientY + 14;
    tooltip.style('left', `${x}px`).style('top', `${y}px`);
  }

  function hideTooltip() {
    tooltip.attr('hidden', true);
  }

  /** The tooltip of a run: job, date and time, status, duration and rows. */
  function runLines(run) {
    return [run.job, utc(run.started_at), `${run.status} · ${spanText(run.duration_ms)} · ${number(run.rows_loaded)} row(s) loaded`];
  }

  // --- summary ---------------------------------------------------------------------------

  function drawSummary() {
    const s = data.summary;
    const cards = [
      ['Jobs', number(s.jobs)],
      ['Runs', number(s.runs)],
      ['Success rate', s.success_rate === null ? '–' : `${(s.success_rate * 100).toFixed(1)} %`],
      ['Rows loaded', number(s.rows_loaded)],
      ['p50 duration', s.p50_ms === null ? '–' : spanText(s.p50_ms)],
      ['p95 duration', s.p95_ms === null ? '–' : spanText(s.p95_ms)],
    ];
    const card = d3.select('#summary').selectAll('div.card').data(cards).join('div').attr('class', 'card');
    card.append('div').attr('class', 'label').text((d) => d[0]);
    card.append('div').attr('class', 'value').text((d) => d[1]);
  }

  // --- jobs table ------------------------------------------------------------------------

  function sparkline(cell, durations) {
    const width = 120;
    const height = 24;
    if (durations.length < 2) return cell.append('span').attr('class', 'muted').text(durations.length ? spanText(durations[0]) : '');
    const x = d3.scaleLinear().domain([0, durations.length - 1]).range([2, width - 2]);
    const y = d3.scaleLog().domain(d3.extent(durations, (ms) => Math.max(ms, 1))).range([height - 3, 3]).nice();
    const svg = cell.append('svg').attr('class', 'sparkline').attr('width', width).attr('height', height);
    svg.append('path').attr('d', d3.line((ms, i) => x(i), (ms) => y(Math.max(ms, 1)))(durations));
    svg.append('title').text(`durations of the last ${durations.length} runs, oldest first (log scale)`);
    return svg;
  }

  function drawJobs() {
    if (!data.jobs.length) return d3.select('#jobs').append('p').attr('class', 'empty').text('No runs in this period.');
    const table = d3.select('#jobs').append('div').attr('class', 'table-scroll').append('table');
    table.append('thead').append('tr').selectAll('th')
      .data(['job', 'last status', 'last run', 'last success', 'runs', 'failed', 'rows loaded', 'duration trend'])
      .join('th').attr('class', (d) => (['runs', 'failed', 'rows loaded'].includes(d) ? 'num' : null)).text((d) => d);
    const row = table.append('tbody').selectAll('tr').data(data.jobs).join('tr');
    row.append('td').text((d) => d.job);
    row.append('td').each(function (d) { statusBadge(d3.select(this), d.last_status); });
    row.append('td').text((d) => utc(d.last_started_at));
    row.append('td').text((d) => (d.last_success_at ? utc(d.last_success_at) : 'never in this period'));
    row.append('td').attr('class', 'num').text((d) => number(d.runs));
    row.append('td').attr('class', 'num').text((d) => number(d.failed));
    row.append('td').attr('class', 'num').text((d) => number(d.rows_loaded));
    row.append('td').each(function (d) { sparkline(d3.select(this), d.durations); });
  }

  // --- ridge chart -----------------------------------------------------------------------

  // px between two days' baselines: 26 for a month, closer for long periods (every day keeps its row)
  const ROW = Math.max(8, Math.min(26, Math.floor(1040 / data.days)));
  const PEAK = Math.max(ROW, 26) * 2.4; // the tallest bump
  const LABEL_EVERY = Math.ceil(14 / ROW); // day names shown, so that they never overlap
  const MIN_COLUMN = 84; // px per job, below which the chart scrolls
  const CHAR = 6.4; // px per character of an 11 px job name, a little over the average
  const MAX_NAME = 40; // characters of a job name written; its tooltip has it whole
  const SLANT = Math.PI / 5; // radians of names written aslant

  /** Every day of the period, oldest first (UTC). */
  function periodDays() {
    const days = [];
    for (let t = Date.parse(`${data.from}T00:00:00Z`); t <= Date.parse(`${data.to}T00:00:00Z`); t += 86400000) days.push(new Date(t).toISOString().slice(0, 10));
    return days;
  }

  function drawRidge() {
    const host = d3.select('#ridge');
    host.selectAll('*').remove();
    const plotted = data.runs.filter((run) => run.duration_ms !== null);
    if (!plotted.length) return host.append('p').attr('class', 'empty').text('No finished runs in this period.');
    const jobs = [...new Set(plotted.map((run) => run.job))].sort(d3.ascending);
    const days = periodDays();
    const daysWithRuns = new Set(plotted.map((run) => run.started_at.slice(0, 10)));
    const longest = d3.max(plotted, seconds);

    const dayWidth = 92;
    const available = host.node().clientWidth - dayWidth - 2;
    const column = Math.max(MIN_COLUMN, Math.floor(available / jobs.length));
    // names wider than their column are written aslant, in full
    const nameWidth = (job) => job.length * CHAR;
    const aslant = jobs.some((job) => nameWidth(job) > column - 8);
    const shown = (job) => (job.length > MAX_NAME ? `${job.slice(0, MAX_NAME - 1)}…` : job);
    const names = aslant ? Math.ceil(d3.max(jobs, (job) => nameWidth(shown(job))) * Math.sin(SLANT) + 16) : 24;
    const top = PEAK + names + 20; // room for job names and the first day's bumps
    const bottom = 10;
    const plotWidth = column * jobs.length;
    // the last name aslant reaches past its column
    const width = plotWidth + (aslant ? Math.ceil(Math.max(0, nameWidth(shown(jobs.at(-1))) * Math.cos(SLANT) - column / 2)) : 0);
    const height = top + ROW * (days.length - 1) + bottom;

    const x = d3.scaleBand().domain(jobs).range([0, plotWidth]);
    const y = d3.scalePoint().domain(days).range([top, top + ROW * (days.length - 1)]);
    // log(1 + s): a 1 s run still shows, a 2 h run is not 7,200 times taller
    const h = d3.scaleLog().domain([1, Math.max(2, 1 + longest)]).range([3, PEAK]).clamp(true);
    const half = Math.max(5, Math.min(column * 0.16, 18));
    const area = d3.area().x((p) => p[0]).y0((p) => p[2]).y1((p) => p[1]).curve(d3.curveBasis);

    host.attr('class', 'ridge-wrap');
    const axis = host.append('svg').attr('class', 'ridge-days').attr('width', dayWidth).attr('height', height);
    axis.append('g').attr('transform', `translate(${dayWidth - 8},0)`)
      .call(d3.axisLeft(y).tickSize(0).tickPadding(4).tickValues(days.filter((d, i) => (days.length - 1 - i) % LABEL_EVERY === 0)).tickFormat((d) => (daysWithRuns.has(d) ? d : `${d} ·`)))
      .call((g) => g.select('.domain').remove())
      .call((g) => g.selectAll('.tick text').attr('class', (d) => (daysWithRuns.has(d) ? null : 'empty-day')).append('title').text((d) => (daysWithRuns.has(d) ? d : `${d}: no runs`)));

    const scroll = host.append('div').attr('class', 'chart-scroll');
    const svg = scroll.append('svg').attr('class', 'ridge-plot').attr('width', width).attr('height', height).attr('role', 'img')
      .attr('aria-label', `durations of ${plotted.length} runs of ${jobs.length} jobs over ${days.length} days`);
    const defs = svg.append('defs');
    for (const [id, light, dark] of [['grad-ok', '#9ddcb0', '#2f9e55'], ['grad-bad', '#f29a9e', '#d3333a'], ['grad-other', '#d5d9de', '#8b939c']]) {
      const gradient = defs.append('linearGradient').attr('id', id).attr('x1', 0).attr('y1', 1).attr('x2', 0).attr('y2', 0);
      gradient.append('stop').attr('offset', '0%').attr('stop-color', light);
      gradient.append('stop').attr('offset', '100%').attr('stop-color', dark);
    }
    defs.append('clipPath').attr('id', 'plot-clip').append('rect').attr('x', 0).attr('y', 0).attr('width', width).attr('height', height);
    svg.append('rect').attr('class', 'frame').attr('x', 0.5).attr('y', 0.5).attr('width', width - 1).attr('height', height - 1);

    const labels = svg.append('g').attr('class', 'ridge-jobs').selectAll('text').data(jobs).join('text').text(shown);
    if (aslant) {
      labels.attr('text-anchor', 'start').attr('data-slant', SLANT)
        .attr('transform', (job) => `translate(${x(job) + x.bandwidth() / 2 - 4},${names}) rotate(${(-SLANT * 180) / Math.PI})`);
    } else {
      labels.attr('x', (job) => x(job) + x.bandwidth() / 2).attr('y', 16).attr('text-anchor', 'middle');
    }
    labels.append('title').text((job) => job);
    d3.select('#ridge-hint').attr('hidden', width > available ? null : true).text(`${jobs.length} jobs: scroll the chart sideways to see them all.`);

    const plot = svg.append('g').attr('clip-path', 'url(#plot-clip)');
    const byJob = d3.group(plotted, (run) => run.job);
    const ridge = plot.selectAll('g.ridge').data(jobs).join('g').attr('class', 'ridge').attr('data-job', (job) => job);
    ridge.each(function (job) {
      const g = d3.select(this);
      const x0 = x(job);
      g.selectAll('line.baseline').data(days).join('line').attr('class', 'baseline')
        .attr('x1', x0 + 4).attr('x2', x0 + column - 4).attr('y1', (d) => y(d)).attr('y2', (d) => y(d));
      // oldest day first, so each newer day's bumps lie over the day above
      const runs = [...byJob.get(job)].sort((a, b) => d3.ascending(a.started_at, b.started_at));
      g.selectAll('path.bump').data(runs, (run) => run.id).join('path')
        .attr('class', (run) => `bump ${tone(run.status)}`)
        .attr('data-run', (run) => run.id)
        .attr('data-status', (run) => run.status)
        .attr('fill', (run) => `url(#grad-${tone(run.status)})`)
        .attr('d', (run) => {
          const base = y(run.started_at.slice(0, 10));
          const time = Date.parse(run.started_at);
          const dayFraction = (time - Date.parse(`${run.started_at.slice(0, 10)}T00:00:00Z`)) / 86400000;
          const centre = x0 + half + 4 + dayFraction * (column - 2 * half - 8);
          const peak = h(1 + seconds(run));
          const points = d3.range(-1, 1.0001, 0.125).map((t) => [centre + t * half, base - peak * Math.exp(-((t * 2.2) ** 2)) * (1 - Math.abs(t) ** 6), base]);
          return area(points);
        })
        .on('mouseenter mousemove', (event, run) => showTooltip(event, runLines(run)))
        .on('mouseleave', hideTooltip)
        .on('click', (event, run) => openRun(run.id));
    });
  }

  // --- run list and details --------------------------------------------------------------

  function drawRuns() {
    const host = d3.select('#runs');
    if (!data.runs.length) return host.append('p').attr('class', 'empty').text('No runs in this period.');
    const filters = host.append('div').attr('class', 'filters');
    const jobFilter = filters.append('select').attr('aria-label', 'job');
    jobFilter.selectAll('option').data(['all jobs', ...data.jobs.map((job) => job.job)]).join('option').attr('value', (d, i) => (i ? d : '')).text((d) => d);
    const statusFilter = filters.append('select').attr('aria-label', 'status');
    statusFilter.selectAll('option').data(['all statuses', ...new Set(data.runs.map((run) => run.status))]).join('option').attr('value', (d, i) => (i ? d : '')).text((d) => d);
    const table = host.append('div').attr('class', 'table-scroll').append('table');
    table.append('thead').append('tr').selectAll('th')
      .data(['run', 'job', 'started', 'took', 'status', 'rows loaded', 'error'])
      .join('th').attr('class', (d) => (d === 'rows loaded' ? 'num' : null)).text((d) => d);
    const body = table.append('tbody');
    const render = () => {
      const job = jobFilter.property('value');
      const status = statusFilter.property('value');
      const rows = data.runs.filter((run) => (!job || run.job === job) && (!status || run.status === status));
      const tr = body.selectAll('tr').data(rows, (run) => run.id).join((enter) => {
        const row = enter.append('tr').attr('class', 'run').attr('data-run', (run) => run.id).attr('tabindex', 0);
        row.append('td').append('code').text((run) => run.id);
        row.append('td').text((run) => run.job);
        row.append('td').text((run) => utc(run.started_at));
        row.append('td').attr('class', 'num').text((run) => spanText(run.duration_ms));
        row.append('td').each(function (run) { statusBadge(d3.select(this), run.status); });
        row.append('td').attr('class', 'num').text((run) => number(run.rows_loaded));
        row.append('td').attr('class', 'error').text((run) => (run.error ? run.error.split('\n')[0] : ''));
        return row;
      });
      tr.on('click', (event, run) => openRun(run.id)).on('keydown', (event, run) => event.key === 'Enter' && openRun(run.id));
    };
    jobFilter.on('change', render);
    statusFilter.on('change', render);
    render();
  }

  function cursorText(value) {
    return value === undefined || value === null ? '(none)' : JSON.stringify(value);
  }

  function fields(host, pairs) {
    const dl = host.append('dl').attr('class', 'fields');
    for (const [label, value] of pairs) {
      dl.append('dt').text(label);
      dl.append('dd').text(value === undefined || value === null || value === '' ? '–' : value);
    }
  }

  function table(host, headers, rows, numeric = []) {
    const t = host.append('div').attr('class', 'table-scroll').append('table');
    t.append('thead').append('tr').selectAll('th').data(headers).join('th').attr('class', (d) => (numeric.includes(d) ? 'num' : null)).text((d) => d);
    t.append('tbody').selectAll('tr').data(rows).join('tr').selectAll('td').data((row) => row).join('td')
      .attr('class', (d, i) => (numeric.includes(headers[i]) ? 'num' : null)).text((d) => (d === null || d === undefined ? '' : d));
    return t;
  }

  /** The stages as bars on one time axis, beside their start and duration. */
  function timeline(host, stages) {
    const start = d3.min(stages, (s) => Date.parse(s.started_at));
    const end = d3.max(stages, (s) => Date.parse(s.started_at) + s.ms);
    const width = 260;
    const x = d3.scaleLinear().domain([0, Math.max(1, end - start)]).range([0, width]);
    const t = table(host, ['stage', 'started', 'took', ''], stages.map((s) => [s.stage, s.started_at.replace('T', ' ').slice(0, 23), spanText(s.ms), '']), ['took']);
    t.selectAll('tbody tr').each(function (s, i) {
      const span = stages[i];
      const svg = d3.select(this).select('td:last-child').append('svg').attr('width', width).attr('height', 10);
      svg.append('rect').attr('class', 'bar').attr('x', x(Date.parse(span.started_at) - start)).attr('y', 1).attr('height', 8)
        .attr('width', Math.max(1, x(span.ms) - x(0)));
    });
  }

  function openRun(id) {
    const run = runsById.get(id);
    if (!run) return;
    hideTooltip();
    d3.selectAll('.bump.selected').classed('selected', false);
    d3.selectAll(`.bump[data-run="${CSS.escape(id)}"]`).classed('selected', true);
    const host = d3.select('#run-details');
    host.selectAll('*').remove();
    const details = run.details;
    const title = host.append('h3');
    title.append('span').text(`${run.job} · `);
    statusBadge(title, run.status);
    fields(host, [
      ['run', run.id],
      ['started', utc(run.started_at, 19)],
      ['ended', utc(run.ended_at, 19)],
      ['took', spanText(run.duration_ms)],
      ['source', details && details.source],
      ['destination', [run.destination, run.table_name].filter(Boolean).join(' → ')],
      ['strategy', run.strategy],
      ['engine', details && details.engine],
      ['rows', `${number(run.rows_loaded)} loaded, ${number(run.rows_extracted)} read, ${number(run.rows_rejected)} rejected`],
      ['files', `${number(run.files_processed)} loaded, ${number(run.files_skipped)} skipped, ${number(run.files_failed)} failed${run.bytes ? ` (${bytesText(run.bytes)})` : ''}`],
      ['cursor before', details ? cursorText(details.cursor_before) : null],
      ['cursor after', details ? cursorText(details.cursor_after) : null],
    ]);
    if (!details) host.append('p').attr('class', 'muted').text('This run recorded no plan, timeline or units: an older version of b2betl made it.');
    if (details && details.plan) {
      const plan = details.plan;
      host.append('h4').text('Plan');
      const lines = [`${plan.units} unit(s), ${plan.skipped} skipped${plan.full_refresh ? ', full refresh' : ''}${plan.window ? `, window ${plan.window.since || ''}..${plan.window.until || ''}` : ''}`, ...plan.notes, ...plan.files];
      host.append('pre').append('code').text(lines.join('\n'));
    }
    if (details && details.stages.length) {
      host.append('h4').text('Timeline');
      timeline(host, details.stages);
    }
    if (details && details.units.length) {
      host.append('h4').text(`Units (${details.units.length + (details.units_omitted || 0)})`);
      table(host, ['unit', 'rows', 'bytes', 'took', 'error'], details.units.map((u) => [u.label, u.rows === null ? '' : number(u.rows), bytesText(u.bytes), spanText(u.ms), u.error || '']), ['rows', 'bytes', 'took']);
    }
    if (details && details.rejects.length) {
      host.append('h4').text(`Rejected rows (sample of ${details.rejects.length} of ${details.rejects_total})`);
      table(host, ['where', 'column', 'reason'], details.rejects.map((r) => [`${r.unit}:${r.position}`, r.column || '', r.reason]));
    }
    const errors = run.error ? [run.error] : [];
    for (const cause of (details && details.errors) || []) if (!errors.some((line) => line.includes(cause))) errors.push(cause);
    if (errors.length) {
      host.append('h4').text('Error');
      host.append('pre').attr('class', 'error').text(errors.map((line, i) => (i ? `caused by: ${line}` : line)).join('\n'));
    }
    const dialog = document.getElementById('run-dialog');
    if (!dialog.open) dialog.showModal();
  }

  drawSummary();
  drawJobs();
  drawRidge();
  drawRuns();
  let width = document.getElementById('ridge').clientWidth;
  window.addEventListener('resize', () => {
    const now = document.getElementById('ridge').clientWidth;
    if (now !== width) {
      width = now;
      drawRidge();
    }
  });
})();

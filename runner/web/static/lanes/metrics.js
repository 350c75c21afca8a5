/* The metrics dashboard's charts, drawn with Chart.js (the global `Chart` of its UMD bundle).
 *
 * <script type="application/json" id="metrics-data"> holds the reports of services/metrics.py
 * ({throughput, queue, cycles, sla, incidents}); each <canvas data-chart="NAME"> gets the chart
 * BUILDERS[NAME] makes from them, and data-rendered="true" once drawn (the browser tests wait for it).
 * Durations arrive in seconds and are shown in hours.
 */
(function () {
  'use strict';

  var COLORS = {
    blue: '#2457c5', lightBlue: '#8fb0ee', green: '#2e8540', amber: '#d98e04', orange: '#e8590c',
    red: '#c62828', grey: '#8a94a3', purple: '#6b3fa0'
  };
  var BUCKET_COLORS = {lt1d: COLORS.green, '1to3d': COLORS.amber, '3to7d': COLORS.orange, gt7d: COLORS.red};

  // "refund v2 · NORTH"; the parts a row has none of are left out (a start timer's incident has no version)
  function processLabel(row) {
    var version = row.version === null || row.version === undefined ? '' : ' v' + row.version;
    return [(row.processKey || '(no process)') + version, row.site].filter(Boolean).join(' · ');
  }

  function stepLabel(row) {
    return [processLabel(row), row.name || row.elementId].filter(Boolean).join(' · ');
  }

  function hours(seconds) {
    return seconds === null || seconds === undefined ? null : Math.round(seconds / 36) / 100;
  }

  function dataset(label, values, color, extra) {
    var set = {label: label, data: values, backgroundColor: color, borderColor: color};
    for (var name in extra || {}) { set[name] = extra[name]; }
    return set;
  }

  // options: stacked, horizontal (bars along x), counts (whole numbers on the value axis)
  function bars(labels, datasets, options) {
    options = options || {};
    var config = {
      type: 'bar',
      data: {labels: labels, datasets: datasets},
      options: {
        indexAxis: options.horizontal ? 'y' : 'x',
        scales: {
          x: {stacked: !!options.stacked, beginAtZero: true, ticks: {autoSkip: !options.horizontal}},
          y: {stacked: !!options.stacked, beginAtZero: true, ticks: {autoSkip: false}}
        }
      }
    };
    if (options.counts) { config.options.scales[options.horizontal ? 'x' : 'y'].ticks.precision = 0; }
    return config;
  }

  var BUILDERS = {
    throughput: function (data) {
      var days = data.throughput.days;
      return bars(days.map(function (d) { return d.date; }), [
        dataset('Instances completed', days.map(function (d) { return d.instancesCompleted; }), COLORS.blue),
        dataset('Tasks completed', days.map(function (d) { return d.tasksCompleted; }), COLORS.lightBlue)
      ], {counts: true});
    },
    queue: function (data) {
      var rows = data.queue.rows;
      var labels = data.queue.bucketLabels;
      return bars(rows.map(stepLabel), Object.keys(BUCKET_COLORS).map(function (bucket) {
        return dataset(labels[bucket], rows.map(function (r) { return r.buckets[bucket]; }), BUCKET_COLORS[bucket]);
      }), {stacked: true, horizontal: true, counts: true});
    },
    sla: function (data) {
      var rows = data.sla.rows;
      return bars(rows.map(stepLabel), [
        dataset('Completed on time', rows.map(function (r) { return r.completedWithDue - r.completedLate; }), COLORS.green),
        dataset('Completed late', rows.map(function (r) { return r.completedLate; }), COLORS.orange),
        dataset('Open, overdue now', rows.map(function (r) { return r.openOverdue; }), COLORS.red)
      ], {stacked: true, horizontal: true, counts: true});
    },
    cycles: function (data) {
      var rows = data.cycles.instances;
      return bars(rows.map(processLabel), [
        dataset('Median', rows.map(function (r) { return hours(r.medianSeconds); }), COLORS.blue),
        dataset('90th percentile', rows.map(function (r) { return hours(r.p90Seconds); }), COLORS.purple)
      ]);
    },
    stages: function (data) {
      var rows = data.cycles.stages;
      return bars(rows.map(stepLabel), [
        dataset('Median', rows.map(function (r) { return hours(r.medianSeconds); }), COLORS.blue),
        dataset('90th percentile', rows.map(function (r) { return hours(r.p90Seconds); }), COLORS.purple)
      ], {horizontal: true});
    },
    incidents: function (data) {
      var rows = data.incidents.rows;
      return bars(rows.map(stepLabel), [
        dataset('Jobs finished', rows.map(function (r) { return r.jobsFinished; }), COLORS.grey),
        dataset('Retries scheduled', rows.map(function (r) { return r.retriesScheduled; }), COLORS.amber),
        dataset('Incidents opened', rows.map(function (r) { return r.incidentsOpened; }), COLORS.red)
      ], {counts: true});
    }
  };

  // "Nothing to show" on a chart whose datasets hold no value
  var emptyNote = {
    id: 'lanesEmptyNote',
    afterDraw: function (chart) {
      var empty = chart.data.datasets.every(function (set) {
        return set.data.every(function (value) { return !value; });
      });
      if (!empty) { return; }
      var ctx = chart.ctx;
      var area = chart.chartArea;
      ctx.save();
      ctx.fillStyle = '#5b6573';
      ctx.font = '14px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText('Nothing in this window', (area.left + area.right) / 2, (area.top + area.bottom) / 2);
      ctx.restore();
    }
  };

  function draw() {
    var source = document.getElementById('metrics-data');
    if (!source) { return; }
    var canvases = document.querySelectorAll('canvas[data-chart]');
    if (typeof Chart === 'undefined') {
      canvases.forEach(function (canvas) { canvas.dataset.rendered = 'failed'; });
      return;
    }
    var data = JSON.parse(source.textContent);
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.font.family = 'system-ui, sans-serif';
    canvases.forEach(function (canvas) {
      var config = BUILDERS[canvas.dataset.chart](data);
      config.plugins = [emptyNote];
      new Chart(canvas, config);
      canvas.dataset.rendered = 'true';
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', draw);
  } else {
    draw();
  }
})();

// Clicktrail console: copy buttons and the charts (Chart.js, vendored). No build step.
"use strict";

function readData(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button.copy");
  if (!btn) return;
  const text = btn.dataset.copy;
  const done = () => { btn.textContent = "Copied"; setTimeout(() => { btn.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(btn));
  } else {
    selectText(btn);
  }
});

function selectText(btn) {
  const code = btn.previousElementSibling;
  if (!code) return;
  const range = document.createRange();
  range.selectNodeContents(code);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

// Dashed vertical lines at the conversion-window breakpoints.
const breakpointLines = {
  id: "breakpointLines",
  afterDatasetsDraw(chart, _args, opts) {
    const marks = opts.marks || [];
    const { ctx, chartArea, scales } = chart;
    ctx.save();
    for (const m of marks) {
      const x = scales.x.getPixelForValue(scales.x.getLabels().indexOf(m.day));
      if (!(x >= chartArea.left && x <= chartArea.right)) continue;
      ctx.strokeStyle = "#dc2626";
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#dc2626";
      ctx.font = "11px system-ui";
      ctx.fillText(m.label, x + 4, chartArea.top + 12);
    }
    ctx.restore();
  },
};

const COLORS = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2"];

function line(id, labels, series, extra) {
  const canvas = document.getElementById(id);
  if (!canvas || typeof Chart === "undefined") return null;
  const chart = new Chart(canvas, {
    type: (extra && extra.type) || "line",
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label, data: s.data, borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length] + "55", tension: 0.2, yAxisID: s.axis || "y",
      })),
    },
    options: Object.assign({
      animation: false, responsive: true, interaction: { mode: "index", intersect: false },
      plugins: { breakpointLines: { marks: (extra && extra.marks) || [] } },
      scales: { y: { beginAtZero: true } },
    }, (extra && extra.options) || {}),
    plugins: [breakpointLines],
  });
  canvas.dataset.ready = "1";
  return chart;
}

document.addEventListener("DOMContentLoaded", () => {
  const report = readData("report-data");
  if (report) {
    line("report-chart", report.days, [
      { label: "Clicks", data: report.clicks },
      { label: "Installs", data: report.installs, axis: "y1" },
      { label: "Conversions", data: report.conversions, axis: "y1" },
    ], {
      marks: report.breakpoints,
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "clicks" } },
                           y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
    });
  }
  const m = readData("metrics-data");
  if (m) {
    line("active-chart", m.active.map((d) => d.date), [
      { label: "DAU", data: m.active.map((d) => d.dau) },
      { label: "WAU", data: m.active.map((d) => d.wau) },
      { label: "MAU", data: m.active.map((d) => d.mau) },
    ]);
    const days = [...new Set(m.retention.flatMap((c) => c.points.map((p) => p.day)))].sort((a, b) => a - b);
    const avg = days.map((day) => {
      const pts = m.retention.flatMap((c) => c.points.filter((p) => p.day === day && p.complete));
      return pts.length ? (100 * pts.reduce((s, p) => s + p.rate, 0)) / pts.length : null;
    });
    line("retention-chart", days.map((d) => "day " + d), [{ label: "Retained % (mean of complete cohorts)", data: avg }]);
    const currencies = Object.keys(m.revenue);
    const revDays = [...new Set(currencies.flatMap((c) => Object.keys(m.revenue[c])))].sort();
    line("revenue-chart", revDays, currencies.map((c) => ({ label: c, data: revDays.map((d) => m.revenue[c][d] || 0) })),
      { type: "bar" });
    line("funnel-chart", m.funnel.map((s) => s.step), [{ label: "Users", data: m.funnel.map((s) => s.users) }],
      { type: "bar" });
  }
  const back = document.querySelector("[data-back]");
  if (back) back.addEventListener("click", (ev) => { ev.preventDefault(); history.back(); });
});

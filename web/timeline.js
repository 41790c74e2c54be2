// Drawing: one bar per window along the note's time, its four probabilities stacked in the labels' colours
// (matplotlib's tab10, as distilser.pipeline.plot_timeline draws them), and a table of the windows.
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const pct = p => `${(100 * p).toFixed(0)}%`;
const clock = s => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;

// NoteAnalysis.verdict's words: 'anger 72%', or 'uncertain (neutral 38%)' below the model's confidence floor.
export const verdictText = v => v.uncertain ? `uncertain (${v.emotion} ${pct(v.probability)})` :
  `${v.emotion} ${pct(v.probability)}`;

export class Timeline {
  constructor(root, labels) {
    this.labels = labels;
    root.replaceChildren();
    this.legend = root.appendChild(document.createElement('div'));
    this.legend.className = 'ds-legend';
    labels.forEach((l, k) => {
      const key = this.legend.appendChild(document.createElement('span'));
      key.innerHTML = `<i style="background:${COLORS[k]}"></i>${l}`;
    });
    this.track = root.appendChild(document.createElement('div'));
    this.track.className = 'ds-track';
    this.table = root.appendChild(document.createElement('table'));
    this.table.className = 'ds-windows';
    this.table.innerHTML = `<thead><tr><th>window</th><th>emotion</th>${labels.map(l => `<th>${l}</th>`).join('')}
      <th>model time</th></tr></thead><tbody></tbody>`;
    this.duration = 1;
  }

  // The time axis runs from 0 to `seconds`: bars already drawn are moved to their place on it.
  setDuration(seconds) {
    this.duration = Math.max(seconds, 1e-3);
    for (const bar of this.track.children) this.place(bar);
  }

  place(bar) {
    bar.style.left = `${100 * bar.dataset.start / this.duration}%`;
    bar.style.width = `${100 * (bar.dataset.end - bar.dataset.start) / this.duration}%`;
  }

  add(w) {
    const bar = this.track.appendChild(document.createElement('div'));
    bar.className = 'ds-bar';
    Object.assign(bar.dataset, {start: w.start, end: w.end, ms: w.ms, emotion: w.emotion, uncertain: w.uncertain,
                                probabilities: JSON.stringify(w.probabilities)});
    if (w.uncertain) bar.classList.add('ds-uncertain');
    bar.title = `${clock(w.start)}-${clock(w.end)}: ` +
      this.labels.map((l, k) => `${l} ${pct(w.probabilities[k])}`).join(', ');
    w.probabilities.forEach((p, k) => {
      const part = bar.appendChild(document.createElement('i'));
      Object.assign(part.style, {height: `${100 * p}%`, background: COLORS[k]});
    });
    this.place(bar);
    const row = this.table.tBodies[0].insertRow();
    row.innerHTML = `<td>${clock(w.start)}-${clock(w.end)}</td><td>${verdictText(w)}</td>` +
      w.probabilities.map(p => `<td>${pct(p)}</td>`).join('') + `<td>${w.ms.toFixed(0)} ms</td>`;
  }
}

// The note's line, in the words of NoteAnalysis.summary.
export function noteText(result, labels) {
  if (!result.probabilities) return `${clock(result.duration)} of audio: no speech detected`;
  const speech = result.speech.reduce((s, [a, b]) => s + b - a, 0), n = result.windows.length;
  return `emotion: ${verdictText(result)}, arousal: ${result.arousal.level} ` +
    `(high ${pct(result.arousal.high)}, low ${pct(result.arousal.low)}); ` +
    labels.map((l, k) => `${l} ${pct(result.probabilities[k])}`).join(', ') +
    ` - ${speech.toFixed(1)} s of speech in ${n} window${n === 1 ? '' : 's'}, ${clock(result.duration)} of audio`;
}

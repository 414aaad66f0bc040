// Bundles lib/widget.js (the notebook widget's anywidget ESM, with dagre and the panel's graph
// module) into ../jupyter_mlpipe/static/widget.js, and copies the graph's colours beside it.
const fs = require('fs');
const path = require('path');
const { rspack } = require('@rspack/core');

const out = path.resolve(__dirname, '..', 'jupyter_mlpipe', 'static');
const production = process.argv.includes('--production');
rspack(
  {
    context: __dirname,
    mode: production ? 'production' : 'development',
    devtool: false,
    target: 'web',
    entry: './lib/widget.js',
    output: { path: out, filename: 'widget.js', module: true, library: { type: 'module' } },
    experiments: { outputModule: true }
  },
  (err, stats) => {
    if (err || stats.hasErrors()) {
      console.error(err || stats.toString('errors-only'));
      process.exit(1);
    }
    fs.copyFileSync(path.join(__dirname, 'style', 'graph.css'), path.join(out, 'widget.css'));
    console.log(`wrote ${path.relative(process.cwd(), out)}/widget.js and widget.css`);
  }
);

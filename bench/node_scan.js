// The reference point of bench/scan_bench: what a first Node.js scanner
// does -- JSON.parse the whole plan, then walk it. It checks the same things
// as imagegate's scan in its simplest form: image attributes of gated
// resources (the shipped AWS attribute names) and image IDs anywhere in
// their planned values, then prints how many it found.
'use strict';
const fs = require('fs');
const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const attrs = {
  aws_instance: ['ami'], aws_launch_template: ['image_id'], aws_launch_configuration: ['image_id'],
  aws_spot_instance_request: ['ami'], aws_emr_cluster: ['custom_ami_id'], aws_ami_copy: ['source_ami_id'],
};
const idRe = /ami-(?:[0-9a-f]{17}|[0-9a-f]{8})\b/g;
let images = 0, mentions = 0;
function walk(v) {
  if (typeof v === 'string') { const m = v.match(idRe); if (m) mentions += m.length; }
  else if (Array.isArray(v)) v.forEach(walk);
  else if (v && typeof v === 'object') for (const k in v) walk(v[k]);
}
for (const rc of plan.resource_changes || []) {
  const a = rc.change.actions;
  if (!a.includes('create') && !a.includes('update')) continue;
  const after = rc.change.after || {};
  for (const at of attrs[rc.type] || []) if (typeof after[at] === 'string') images++;
  walk(after);
}
console.log(JSON.stringify({images, mentions}));

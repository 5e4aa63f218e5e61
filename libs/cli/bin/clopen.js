#!/usr/bin/env node
// The built CLI (npm run build); from a checkout without a build use `npm run clopen -- <command>`.
require('../dist/main.js');

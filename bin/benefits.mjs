#!/usr/bin/env node
// The `benefits` command: runs the TypeScript CLI through tsx, like `npm start` runs the service.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);

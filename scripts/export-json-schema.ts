import { writeFile } from 'node:fs/promises';
import { operationJsonSchema } from '../src/contract/json-schema.js';

const target = new URL('../contract/operation.schema.json', import.meta.url);
await writeFile(target, `${JSON.stringify(operationJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);

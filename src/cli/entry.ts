/** The bundle's entry point (scripts/bundle.mjs → dist/secrets.cjs, started by bin/secrets; ADR 0012). */
import { main } from './main.js';

void main();

#!/usr/bin/env node
import { exitWith } from './exit.js';
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => exitWith(code),
  (err: unknown) => {
    console.error(err);
    exitWith(1);
  },
);
